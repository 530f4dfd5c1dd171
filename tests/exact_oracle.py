#!/usr/bin/python3
"""A second exact evaluator, in Python with Debian's mpmath, written from
fixtures/FORMAT.md and the definitional formulas (not from src/conformance/exact.ts):
every quantity at 6000 bits (sums of binary64 values, their squares and products
are exact at that width), then one rounding into each dtype.

stdin: one JSON object per line, {"request": ..., "answers": {dtype: {output: [values]}}};
stdout: one JSON object, {"steps": n, "values": m, "mismatches": [...]}.
Non-finite numbers travel as the strings "NaN", "Infinity", "-Infinity".
"""
import json
import math
import sys

import mpmath
from mpmath import mpf

mpmath.mp.prec = 6000

FORMATS = {  # precision, smallest normal exponent, largest finite value
    "float64": (53, -1022, 1.7976931348623157e308),
    "float32": (24, -126, 3.4028234663852886e38),
    "float16": (11, -14, 65504.0),
    "bfloat16": (8, -126, 3.3895313892515355e38),
}


def num(v):
    if isinstance(v, str):
        return mpf({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[v])
    return mpf(v)  # exact: a binary64 value


def rounded(v, dtype):
    """The value of dtype nearest to v (ties to even), as a float."""
    if mpmath.isnan(v):
        return float("nan")
    if mpmath.isinf(v):
        return float(v)
    if v == 0:
        return 0.0
    p, emin, maxf = FORMATS[dtype]
    a = abs(v)
    _, e = mpmath.frexp(a)  # a = m·2^e, 1/2 <= m < 1
    q = max(e - 1, emin) - p + 1
    scaled = mpmath.ldexp(a, -q)
    fl = int(mpmath.floor(scaled))
    rem = scaled - fl
    # A rational with a denominator that is not a power of two (a mean over 7 values, the cumulative average's 1/k)
    # is not exact at any binary width, so an exact tie shows up as 0.5 plus or minus noise at the working precision.
    # Within 2^-(prec-64) of a midpoint the value is taken as that midpoint: every quantity here is a rational of at
    # most a few hundred bits or a square root of one, which cannot come closer to a midpoint without being on it.
    if abs(rem - 0.5) <= mpmath.ldexp(1, 64 - mpmath.mp.prec):
        rem = mpf(0.5)
    if rem > 0.5 or (rem == 0.5 and fl % 2 == 1):
        fl += 1
    if fl.bit_length() + q - 1 > 1023:
        r = math.inf
    else:
        r = math.ldexp(fl, q)
        if r > maxf:
            r = math.inf
    return -r if v < 0 else r


def evaluate(req):
    c = req["convention"]
    x = req["x"]
    shape = x["shape"]
    rank = len(shape)
    axis = c["axis"] + rank if c["axis"] < 0 else c["axis"]
    C = shape[axis]
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1:])
    n = outer * inner
    mode = req["mode"]
    tracked = c["trackRunningStats"]
    use_batch = mode == "train" or not tracked
    st = req["state"]
    if use_batch and n == 0 and c["emptyBatch"] == "error":
        return {"error": "empty_batch"}
    if use_batch and n == 1 and c["singleValueTraining"] == "error":
        return {"error": "single_value_per_channel"}
    if tracked and st.get("running_var") and any(num(v) < 0 for v in st["running_var"]):
        return {"error": "negative_variance"}
    if mode == "train" and tracked and c["runningVariance"] == "bessel" and n == 1:
        return {"error": "single_value_per_channel"}
    eps = max(num(c["epsilon"]), num(c["epsilonFloor"]))
    xs_all = [num(v) for v in x["data"]]
    dy = req.get("dy")
    dys_all = [num(v) for v in dy["data"]] if dy else None
    size = len(xs_all)
    out = {"y": [None] * size}
    if dy:
        out["dx"] = [None] * size
    per = {}

    def put(name, ch, v):
        per.setdefault(name, [None] * C)[ch] = v

    for ch in range(C):
        idx = [(o * C + ch) * inner + i for o in range(outer) for i in range(inner)]
        xs = [xs_all[k] for k in idx]
        # Format 1.3: scale (gamma) and center (beta) apart, each defaulting to affine.
        g = num(st["gamma"][ch]) if c.get("scale", c["affine"]) else mpf(1)
        b = num(st["beta"][ch]) if c.get("center", c["affine"]) else mpf(0)
        rm = num(st["running_mean"][ch]) if st.get("running_mean") else mpf(0)
        rv = num(st["running_var"][ch]) if st.get("running_var") else mpf(1)
        if use_batch:
            if n == 0:
                mean = var = mpf(0) if c["emptyBatch"] == "zero" else mpf("nan")
            else:
                mean = mpmath.fsum(xs) / n if all(mpmath.isfinite(v) for v in xs) else sum(xs, mpf(0)) / n
                if mpmath.isfinite(mean):
                    var = sum(((v - mean) ** 2 for v in xs), mpf(0)) / n
                else:
                    var = mpf("nan")
        else:
            mean, var = rm, rv
        devs = [v - mean for v in xs]
        # inverse standard deviation
        if mpmath.isnan(var):
            s = mpf("nan")
        elif mpmath.isinf(var):
            s = mpf(0)
        elif var == 0 and eps == 0:
            s = mpf(0) if c["zeroVarianceInvStd"] == "zero" else mpf("inf")
        elif c["epsilonPlacement"] == "inside":
            s = 1 / mpmath.sqrt(var + eps)
        else:
            s = 1 / (mpmath.sqrt(var) + eps)
        for j, k in enumerate(idx):
            out["y"][k] = g * devs[j] * s + b
        if mode == "train":
            put("batch_mean", ch, mean)
            put("batch_var", ch, var)
            put("saved_invstd", ch, s)
            if tracked:
                nbt = st["num_batches_tracked"] + 1
                if n == 0 and c["emptyBatch"] == "unchanged":
                    nm, nv = rm, rv
                else:
                    kind = c["momentumKind"]
                    w = num(c["momentum"]) if kind == "new" else 1 - num(c["momentum"]) if kind == "old" else mpf(1) / nbt
                    rvk = c["runningVariance"]
                    corr = mpf(1) if rvk == "biased" else mpf(0) if n == 0 else mpf(n) / (n - 1) if rvk == "bessel" else mpf(n) / max(n - 1, 1)
                    nm = (1 - w) * rm + w * mean
                    nv = (1 - w) * rv + w * (var * corr)
                put("running_mean", ch, nm)
                put("running_var", ch, nv)
        if dy:
            dys = [dys_all[k] for k in idx]
            dbeta = sum(dys, mpf(0))
            P = sum((dys[j] * devs[j] for j in range(len(idx))), mpf(0))
            if mpmath.isfinite(s):
                dgamma = P * s
            else:
                dgamma = sum((dys[j] * devs[j] * s for j in range(len(idx))), mpf(0))
            if c.get("scale", c["affine"]):
                put("dgamma", ch, dgamma)
            if c.get("center", c["affine"]):
                put("dbeta", ch, dbeta)
            if req.get("statGradients") and not use_batch:
                # Format 1.3: the gradients with respect to the running mean and variance the step normalizes with.
                if s == 0:
                    dmean = dvar = mpf(0)
                elif c["epsilonPlacement"] == "inside":
                    dmean, dvar = -g * s * dbeta, -g * s * s * s * P / 2
                else:
                    sigma = mpmath.sqrt(var)
                    dmean = -g * s * dbeta
                    dvar = -g * P * s * s / (2 * sigma) if sigma != 0 else mpf("nan") if P == 0 else -mpmath.sign(g) * mpmath.sign(P) * mpf("inf")
                put("dmean", ch, dmean)
                put("dvar", ch, dvar)
            for j, k in enumerate(idx):
                if not use_batch:
                    d = g * s * dys[j]
                elif c["epsilonPlacement"] == "inside":
                    d = g * s * (dys[j] - dbeta / n - devs[j] * s * dgamma / n)
                else:
                    sigma = mpmath.sqrt(var) if not mpmath.isnan(var) else var
                    # sigma = 0: the second term is 0, except where s is +inf (var = eps = 0 under "ieee"): there
                    # x̂ = 0·inf is NaN, and so is dx, as inside the root (fixtures/FORMAT.md).
                    second = (mpf("nan") if mpmath.isinf(s) else mpf(0)) if sigma == 0 else P / n / sigma * (s * s)
                    d = g * ((dys[j] - dbeta / n) * s - devs[j] * second)
                out["dx"][k] = d
    out.update(per)
    return {"outputs": out}


def same(a, b):
    if isinstance(b, str):
        b = float(b.replace("Infinity", "inf"))
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b


def main():
    steps = values = 0
    mismatches = []
    for line in sys.stdin:
        item = json.loads(line)
        req = item["request"]
        got = evaluate(req)
        steps += 1
        for dtype, answer in item["answers"].items():
            if "error" in got or "error" in answer:
                if got.get("error") != answer.get("error"):
                    mismatches.append({"case": item["label"], "dtype": dtype, "python": got.get("error"), "ts": answer.get("error")})
                continue
            for name, vals in answer["outputs"].items():
                mine = got["outputs"].get(name)
                if mine is None:
                    mismatches.append({"case": item["label"], "output": name, "why": "python has no such output"})
                    continue
                for k, v in enumerate(vals):
                    values += 1
                    r = rounded(mine[k], dtype)
                    if not same(r, v):
                        mismatches.append({"case": item["label"], "dtype": dtype, "output": name, "index": k, "python": repr(r), "ts": v})
    json.dump({"steps": steps, "values": values, "mismatches": mismatches[:50], "count": len(mismatches)}, sys.stdout)


main()
