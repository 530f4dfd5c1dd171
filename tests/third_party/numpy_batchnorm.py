#!/usr/bin/python3
"""A third party's BatchNorm: written from fixtures/FORMAT.md and fixtures/PROTOCOL.md alone, in Python with
Debian's python3-numpy, sharing no code with the suite. It plays the implementer who ports BatchNorm and checks it
with `deno task conform --exec "/usr/bin/python3 tests/third_party/numpy_batchnorm.py"`.

Every output is computed in float64 (sums with math.fsum, correctly rounded) and rounded once to the case's dtype.

    numpy_batchnorm.py [--mutant NAME] [--dtypes D,D] [--protocol 1.0|1.1]

--protocol 1.0 plays a program written before batches (one case a line); the default, 1.1, takes `batch` messages
and answers each of their cases on its own line, writing the batch's answers at once.

NAME makes a deliberate mistake, for tests/third_party_test.ts to show that the cases aimed at it fail:
  epsilon-outside   (x - mean) / (sqrt(var) + eps) whatever the config says
  momentum-flipped  momentum read the other way (weight of the old value where it is the new one's, and back)
  no-bessel         the biased batch variance enters the running variance, whatever running_variance says
  default-epsilon   ignores the config's epsilon, always uses its own default 1e-3
  accept-single     trains on one value per channel (variance 0) even when the config says to refuse
"""
import json
import math
import sys

import numpy as np

# --dtypes D,D: declare only these dtypes (the runner's tests use it to get a run in which every case is skipped).
DTYPES = sys.argv[sys.argv.index("--dtypes") + 1].split(",") if "--dtypes" in sys.argv else None
# --protocol 1.0: speak the protocol as it was before batches (tests show that such a program is still served).
VERSION = sys.argv[sys.argv.index("--protocol") + 1] if "--protocol" in sys.argv else "1.1"
if VERSION not in ("1.0", "1.1"):
    sys.exit(f"unknown protocol version {VERSION!r}; known: 1.0, 1.1")
MUTANTS = ("epsilon-outside", "momentum-flipped", "no-bessel", "default-epsilon", "accept-single")
MUTANT = sys.argv[sys.argv.index("--mutant") + 1] if "--mutant" in sys.argv else None
if MUTANT is not None and MUTANT not in MUTANTS:
    sys.exit(f"unknown mutant {MUTANT!r}; known: {', '.join(MUTANTS)}")

# PyTorch's defaults: what a config of null (a fingerprint probe) leaves to the implementation.
DEFAULTS = {
    "axis": 1, "epsilon": 1e-5, "epsilon_floor": 0.0, "epsilon_placement": "inside", "momentum": 0.1,
    "momentum_kind": "new", "running_variance": "bessel", "affine": True, "track_running_stats": True,
    "single_value_training": "error", "zero_variance_invstd": "ieee", "empty_batch": "unchanged",
}
SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class Refusal(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def decode(t):
    data = [SPECIAL[v] if isinstance(v, str) else float(v) for v in t["data"]]
    return np.array(data, dtype=np.float64).reshape(t["shape"])


def round_bfloat16(v):
    """Nearest bfloat16 (8 significant bits, float32's exponent range), ties to even, from float64."""
    out = np.array(v, dtype=np.float64, copy=True)
    finite = np.isfinite(out) & (out != 0)
    m, e = np.frexp(out[finite])  # value = m * 2**e, 0.5 <= |m| < 1
    quantum = np.ldexp(1.0, np.maximum(e, -125) - 8)
    r = np.rint(out[finite] / quantum) * quantum
    r[np.abs(r) > 3.3895313892515355e38] = np.inf * np.sign(r[np.abs(r) > 3.3895313892515355e38])
    out[finite] = r
    return out


def to_dtype(v, dtype):
    v = np.asarray(v, dtype=np.float64)
    if dtype == "float32":
        return v.astype(np.float32).astype(np.float64)
    if dtype == "float16":
        return v.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return round_bfloat16(v)
    return v


def encode(v, dtype):
    v = to_dtype(v, dtype)
    data = ["NaN" if math.isnan(a) else ("Infinity" if a > 0 else "-Infinity") if math.isinf(a) else a
            for a in v.ravel().tolist()]
    return {"dtype": dtype, "shape": list(v.shape), "data": data}


def fsum(a):
    a = np.ravel(a)
    if a.size and not np.all(np.isfinite(a)):
        return float(np.sum(a))  # inf - inf is NaN, as IEEE arithmetic has it
    return math.fsum(a.tolist())


def step(dtype, cfg, s):
    mode, state = s["mode"], s["state"]
    x = decode(s["x"])
    shape = x.shape
    # Format 1.3, rank 1 (FORMAT.md "Rank 1"): axis 0 is the channel axis, each value its own channel: a batch of one.
    x = x.reshape(1, -1) if x.ndim == 1 else x
    axis = 1 if len(shape) == 1 else cfg["axis"] % x.ndim
    # (outer, C, inner): every channel's values in one row of a (C, n) view.
    xc = np.moveaxis(x, axis, 1)
    C = xc.shape[1]
    rows = np.moveaxis(xc, 1, 0).reshape(C, -1)
    n = rows.shape[1]
    eps = max(cfg["epsilon"], cfg["epsilon_floor"])
    if MUTANT == "default-epsilon":
        eps = 1e-3
    outside = cfg["epsilon_placement"] == "outside" or MUTANT == "epsilon-outside"
    gamma = decode(state["gamma"]) if "gamma" in state else np.ones(C)
    beta = decode(state["beta"]) if "beta" in state else np.zeros(C)
    tracked = cfg["track_running_stats"]
    use_batch = mode == "train" or not tracked

    def invstd_of(var):
        out = np.empty(C)
        for c in range(C):
            v = var[c]
            if v == 0 and eps == 0 and cfg["zero_variance_invstd"] == "zero":
                out[c] = 0.0
            else:
                with np.errstate(all="ignore"):
                    out[c] = 1.0 / (np.sqrt(v) + eps) if outside else 1.0 / np.sqrt(v + eps)
        return out

    if use_batch:
        if n == 0:
            kind = cfg.get("empty_batch", "error")
            if kind == "error":
                raise Refusal("empty_batch", "training on an empty batch")
            fill = 0.0 if kind == "zero" else math.nan
            mean, var = np.full(C, fill), np.full(C, fill)
        else:
            if n == 1 and cfg["single_value_training"] == "error" and MUTANT != "accept-single":
                raise Refusal("single_value_per_channel", "Expected more than 1 value per channel when training")
            with np.errstate(all="ignore"):
                mean = np.array([fsum(r) / n for r in rows])
                # The rounded mean's own error, by the corrected two-pass: with |mean|/std = 1e7 (a fixture has it)
                # the plain (x - mean) is 2e5 ULP off in y. x - mean is exact near the mean; the correction is not.
                low = np.array([fsum(r - m) / n if np.isfinite(m) else 0.0 for r, m in zip(rows, mean)])
                var = np.array([fsum(((r - m) - lo) ** 2) / n for r, m, lo in zip(rows, mean, low)])
    else:
        mean, var = decode(state["running_mean"]), decode(state["running_var"])
    invstd = invstd_of(var)
    if not (use_batch and n):
        low = np.zeros(C)
    with np.errstate(all="ignore"):
        dev = (rows - mean[:, None]) - low[:, None]
        xhat = dev * invstd[:, None]
        y_rows = xhat * gamma[:, None] + beta[:, None]
    back = lambda r: np.moveaxis(np.moveaxis(r.reshape((C,) + xc.shape[:1] + xc.shape[2:]), 0, 1), 1, axis).reshape(shape)
    out = {"y": encode(back(y_rows), dtype)}
    answer = {"outputs": out}

    if mode == "train":
        out["batch_mean"], out["batch_var"], out["saved_invstd"] = (encode(v, dtype) for v in (mean, var, invstd))
        if tracked:
            rm = decode(state["running_mean"]) if "running_mean" in state else np.zeros(C)
            rv = decode(state["running_var"]) if "running_var" in state else np.ones(C)
            count = state.get("num_batches_tracked", 0) + 1
            if n == 0 and cfg.get("empty_batch") == "unchanged":
                new_m, new_v = rm, rv
            else:
                kind = cfg["running_variance"] if MUTANT != "no-bessel" else "biased"
                if kind == "bessel" and n == 1 and MUTANT != "accept-single":
                    raise Refusal("single_value_per_channel", "Bessel's n/(n-1) is undefined for one value")
                factor = {"biased": 1.0, "bessel": n / max(n - 1, 1), "bessel-clamped": n / max(n - 1, 1)}[kind]
                m_kind, m = cfg["momentum_kind"], cfg["momentum"]
                if MUTANT == "momentum-flipped":
                    m_kind = {"new": "old", "old": "new"}.get(m_kind, m_kind)
                # Weights of the old and the new (batch) value; the cumulative average counts this batch.
                w_old, w_new = {"new": (1 - m, m) if m is not None else None, "old": (m, 1 - m) if m is not None else None,
                                "cumulative": (1 - 1 / count, 1 / count)}[m_kind]
                with np.errstate(all="ignore"):
                    new_m = w_old * rm + w_new * (mean + low)
                    new_v = w_old * rv + w_new * (var * factor)
            out["running_mean"], out["running_var"] = encode(new_m, dtype), encode(new_v, dtype)
            answer["num_batches_tracked"] = count

    if "dy" in s:
        dy = np.moveaxis(np.moveaxis(decode(s["dy"]).reshape(x.shape), axis, 1), 1, 0).reshape(C, -1)
        with np.errstate(all="ignore"):
            dbeta = np.array([fsum(r) for r in dy])
            dgamma = np.array([fsum(d * h) for d, h in zip(dy, xhat)])
            if not use_batch:
                dx = dy * (gamma * invstd)[:, None]
            elif not outside:
                dx = (gamma * invstd)[:, None] * (dy - (dbeta / n)[:, None] - xhat * (dgamma / n)[:, None])
            else:
                # y = gamma (x - mean) / s + beta, s = sigma + eps, d sigma / d x_i = (x_i - mean) / (n sigma).
                sigma = np.sqrt(var)
                s_ = sigma + eps
                sum_dy_dev = np.array([fsum(d * e) for d, e in zip(dy, dev)])
                # The second term is 0 when sigma = 0, except with eps = 0 too under "ieee" (invstd +Infinity):
                # x̂ = 0·Infinity is NaN there, and so is dx; under "zero" invstd is 0 and so is dx (FORMAT.md).
                second = np.where(sigma == 0, np.where(np.isinf(invstd), math.nan, 0.0), sum_dy_dev / (n * sigma * s_ * s_))
                dx = gamma[:, None] * ((dy - (dbeta / n)[:, None]) * invstd[:, None] - dev * second[:, None])
        out["dx"] = encode(back(dx), dtype)
        if cfg["affine"]:
            out["dgamma"], out["dbeta"] = encode(dgamma, dtype), encode(dbeta, dtype)
    return answer


def answer_case(msg):
    cfg = dict(DEFAULTS, **(msg.get("config") or {}))
    steps = []
    for s in msg["steps"]:
        try:
            steps.append(step(msg["dtype"], cfg, s))
        except Refusal as e:
            steps.append({"error": {"code": e.code, "message": str(e)}})
    return {"type": "result", "id": msg["id"], "steps": steps}


def main():
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "hello":
            reply = {"type": "hello", "protocol": "batchnorm-conformance", "version": VERSION,
                     "name": f"numpy third party{' (mutant: ' + MUTANT + ')' if MUTANT else ''}",
                     "supports": {"errors": True, **({"dtypes": DTYPES} if DTYPES else {})}}
        elif msg["type"] == "case":
            reply = answer_case(msg)
        elif msg["type"] == "batch" and VERSION != "1.0":
            # Each answer as soon as it is computed: the k-th answer of a batch is due k timeouts after it was sent.
            for c in msg["cases"]:
                sys.stdout.write(json.dumps(answer_case(c), allow_nan=False) + "\n")
                sys.stdout.flush()
            continue
        elif msg["type"] == "bye":
            break
        else:
            continue
        sys.stdout.write(json.dumps(reply, allow_nan=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
