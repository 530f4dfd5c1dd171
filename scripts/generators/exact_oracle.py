#!/usr/bin/env python3
"""The exact oracle: annotates fixture files with the exact value of every output (format 1.2).

Format 1.3 cases are annotated the same way: a mixed-precision case's inputs and state are read in their own
dtypes (every value is a binary64 number whatever its dtype) and its exact values stay binary64 (the judge
rounds per output dtype); `center` and `scale` choose beta and gamma separately (absent, `affine` does).

Run by `deno task fixtures` with /usr/bin/python3 after the generators, over every fixture file;
or by hand: `/usr/bin/python3 scripts/generators/exact_oracle.py FILE...` (annotates in place),
`--check FILE...` (exits 1 when a file's annotations are missing or differ from a fresh computation), or
`--selftest` (the rounding on its edge cases and against mpmath at 4000 bits on random surds).

For every step of every case, from the step's recorded inputs and the state the step starts from
(FORMAT.md "Running a case", rule 6: the initial state, then each training step's recorded running
statistics), it computes every output named in the step's `expected` under the case's `config`, and
writes two fields on the step:

- `expected_exact`: each output's exact value rounded once, correctly (to nearest, ties to even), to
  binary64, as a float64 tensor of the output's shape.
- `exact_scale`: each output's error scale per channel (FORMAT.md "What counts as a pass"): the
  magnitude of the terms that form the output, rounded to binary64.

How it is exact. Every input is a binary64 number, so it is a rational (Python `Fraction`). The mean,
the biased variance (n·Σx² − (Σx)²)/n², the running statistics and every sum are rational and
computed exactly; `float(Fraction)` rounds them correctly. The outputs that involve a square root are
written as N/D with N = P + Q·σ and D = R + T·σ, where σ = sqrt(v) for a rational v and P, Q, R, T
are rational (D > 0). A candidate binary64 value comes from mpmath at 200 bits; it is then proved to
be the correctly rounded one by exact sign tests against the two midpoints beside it:
sign(N/D − t) = sign((P − tR) + (Q − tT)·σ), decided by comparing squares of rationals. No part of
this file shares code with the TypeScript reference (src/); it is written from fixtures/FORMAT.md.

Channels whose inputs hold NaN or an infinity are evaluated in IEEE binary64 arithmetic from the
textbook formula (the outputs there are NaN or infinite, or follow from them).
"""

import json
import math
import os
import struct
import sys
from fractions import Fraction

import mpmath

mpmath.mp.prec = 200

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = Fraction(2) ** 1024  # the virtual successor of the largest finite binary64
MAX = sys.float_info.max


# ---------------------------------------------------------------- JSON in and out (the generators' layout)


def num(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v != v:
        return '"NaN"'
    if v == float("inf"):
        return '"Infinity"'
    if v == float("-inf"):
        return '"-Infinity"'
    return repr(float(v))


NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def numeric(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) or (isinstance(v, str) and v in NONFINITE)


def dump(value, indent=0):
    """JSON with objects indented and numeric arrays on one line (as scripts/gen_pytorch.py and scripts/_fixture_io.ts)."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(numeric(v) for v in value):
            return "[" + ", ".join(num(NONFINITE[v]) if isinstance(v, str) else num(v) for v in value) + "]"
        return "[\n" + ",\n".join(pad + dump(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return num(value)
    return json.dumps(value, ensure_ascii=False)


def decode(values):
    return [NONFINITE[v] if isinstance(v, str) else float(v) for v in values]


# ---------------------------------------------------------------- correct rounding


def sign(v):
    return (v > 0) - (v < 0)


def sign_of(p, q, v):
    """sign(p + q·sqrt(v)) for rationals p, q and v >= 0, exactly."""
    sp, sq = sign(p), sign(q) if v != 0 else 0
    if sq == 0:
        return sp
    if sp == 0:
        return sq
    if sp == sq:
        return sp
    # opposite signs: compare p² with q²·v
    return sp * sign(p * p - q * q * v)


def nearest_even(a, b):
    """Of two adjacent binary64 values, the one whose significand is even (infinity counts as even)."""
    if math.isinf(a) or math.isinf(b):
        return a if math.isinf(a) else b
    return a if struct.unpack("<q", struct.pack("<d", a))[0] % 2 == 0 else b


def succ(r):
    return math.nextafter(r, math.inf)


def pred(r):
    return math.nextafter(r, -math.inf)


def as_fraction(r):
    if r == math.inf:
        return TOP
    if r == -math.inf:
        return -TOP
    return Fraction(r)


def round_real(cmp, approx):
    """The binary64 value nearest the real x (ties to even), given cmp(t) = sign(x − t) for rationals t and a guess."""
    r = approx if not math.isnan(approx) else 0.0
    if r == 0.0:
        r = 0.0
    while True:
        if math.isinf(r):
            # x rounds to ±inf when |x| >= 2^1024 − 2^970 (the midpoint between MAX and 2^1024).
            edge = as_fraction(MAX) + (TOP - as_fraction(MAX)) / 2
            if r > 0:
                s = cmp(edge)
                if s >= 0:
                    return math.inf  # a tie at the edge rounds to the even one, 2^1024: infinity
                r = MAX
            else:
                s = cmp(-edge)
                if s <= 0:
                    return -math.inf
                r = -MAX
            continue
        lo = (as_fraction(pred(r)) + as_fraction(r)) / 2
        s = cmp(lo)
        if s < 0:
            r = pred(r)
            continue
        if s == 0:
            return nearest_even(pred(r), r)
        hi = (as_fraction(r) + as_fraction(succ(r))) / 2
        s = cmp(hi)
        if s > 0:
            r = succ(r)
            continue
        if s == 0:
            return nearest_even(r, succ(r))
        if r == 0.0 and cmp(Fraction(0)) < 0:
            return -0.0
        return r


def round_fraction(f):
    """A rational rounded correctly to binary64 (a float passes through: a non-finite IEEE result)."""
    if isinstance(f, float):
        return f
    try:
        return float(f)
    except OverflowError:
        return round_real(lambda t: sign(f - t), math.inf if f > 0 else -math.inf)


def mp(f):
    return mpmath.mpf(f.numerator) / f.denominator


class Surd:
    """(P + Q·σ) / (R + T·σ) with σ = sqrt(v); P, Q, R, T, v rational; the denominator positive."""

    __slots__ = ("p", "q", "r", "t", "v")

    def __init__(self, p, q, r, t, v):
        self.p, self.q, self.r, self.t, self.v = p, q, r, t, v

    def cmp(self, x):
        return sign_of(self.p - x * self.r, self.q - x * self.t, self.v)

    def approx(self):
        s = mpmath.sqrt(mp(self.v))
        return mp(self.p) + mp(self.q) * s, mp(self.r) + mp(self.t) * s

    def round(self):
        n, d = self.approx()
        if n == 0 and self.cmp(Fraction(0)) == 0:
            return 0.0
        guess = float(n / d)
        return round_real(self.cmp, guess)

    def magnitude(self):
        n, d = self.approx()
        return abs(float(n / d))


# ---------------------------------------------------------------- one step


class Unsupported(Exception):
    pass


def layout(shape, axis):
    rank = len(shape)
    a = axis + rank if axis < 0 else axis
    outer = math.prod(shape[:a])
    inner = math.prod(shape[a + 1:])
    return outer, shape[a], inner


def channel_indices(outer, channels, inner, c):
    return [(o * channels + c) * inner + i for o in range(outer) for i in range(inner)]


def finite(*vals):
    return all(math.isfinite(v) for v in vals)


def step_exact(config, state, step, names):
    """Exact outputs (binary64) and scales (per channel) of one step; `names` are the outputs to give."""
    x = step["inputs"]["x"]
    shape = x["shape"]
    xs = decode(x["data"])
    dys = decode(step["inputs"]["dy"]["data"]) if "dy" in step["inputs"] else None
    outer, channels, inner = layout(shape, config["axis"])
    n = outer * inner
    train = step["mode"] == "train"
    track = config["track_running_stats"]
    use_batch = train or not track
    # Format 1.3: beta (center) and gamma (scale) apply separately; absent, both follow affine.
    center = config.get("center", config["affine"])
    scaled = config.get("scale", config["affine"])
    eps_f = max(config["epsilon"], config["epsilon_floor"])
    eps = Fraction(eps_f)
    inside = config["epsilon_placement"] == "inside"
    kind = config["momentum_kind"]
    nbt_after = state["num_batches_tracked"] + 1
    if kind == "new":
        w_f = Fraction(config["momentum"])
        keep = 1 - w_f
    elif kind == "old":
        keep = Fraction(config["momentum"])
        w_f = 1 - keep
    else:
        w_f = Fraction(1, nbt_after)
        keep = 1 - w_f
    rv_kind = config["running_variance"]
    if rv_kind == "biased":
        factor = Fraction(1)
    elif rv_kind == "bessel":
        factor = Fraction(n, n - 1) if n > 1 else None
    else:
        factor = Fraction(n, max(n - 1, 1))
    empty = config.get("empty_batch", "error")
    zero_invstd = config["zero_variance_invstd"] == "zero"

    out = {k: [0.0] * (len(xs) if k in ("y", "dx") else channels) for k in names}
    scale = {k: [0.0] * channels for k in names}
    gamma = decode(state["gamma"]["data"]) if scaled else [1.0] * channels
    beta = decode(state["beta"]["data"]) if center else [0.0] * channels
    rms = decode(state["running_mean"]["data"]) if state.get("running_mean") else None
    rvs = decode(state["running_var"]["data"]) if state.get("running_var") else None

    affine_later = []
    for c in range(channels):
        idx = channel_indices(outer, channels, inner, c)
        xc = [xs[k] for k in idx]
        dyc = [dys[k] for k in idx] if dys is not None else []
        g, b = gamma[c], beta[c]
        rm = rms[c] if rms else 0.0
        rv = rvs[c] if rvs else 1.0
        # Running statistics enter the outputs only when the call normalizes with them (eval, tracked).
        if not finite(*xc, *dyc, *((rm, rv) if not use_batch else ())):
            ieee_channel(config, train, use_batch, n, idx, xc, dyc, g, b, rm, rv, eps_f, w_f, keep, factor, out, c)
            continue
        X = [Fraction(v) for v in xc]
        if finite(g, b):
            G, B = Fraction(g), Fraction(b)
        else:
            # A NaN or infinite gamma or beta touches y and dx only: compute them for gamma 1, beta 0 (exactly), then
            # apply gamma and beta in IEEE arithmetic below; every other output stays exact.
            G, B = Fraction(1), Fraction(0)
            affine_later.append((c, idx, g, b))
        if n == 0:
            if empty in ("nan",):
                mean = var = None
            elif empty == "zero":
                mean = var = Fraction(0)
            else:  # unchanged: no batch statistics
                mean = var = None
        else:
            s1 = sum(X)
            s2 = sum(v * v for v in X)
            mean = s1 / n
            var = (n * s2 - s1 * s1) / (n * n)
        abs_mean = sum(abs(v) for v in X) / n if n else Fraction(0)
        # statistics the call normalizes with
        if use_batch:
            m_use, v_use = mean, var
        else:
            m_use, v_use = Fraction(rm), Fraction(rv)
        # invstd as a Surd: inside 1/sqrt(v+eps), outside 1/(sqrt(v)+eps)
        special = None  # None, "zero" (invstd 0), "inf", "nan"
        if v_use is None:
            special = "nan"
            vv = None
        elif v_use < 0:
            special = "nan"  # the square root of a negative variance
            vv = None
        elif inside:
            vv = v_use + eps
            if vv == 0:
                special = "zero" if zero_invstd and eps == 0 else "inf"
        else:
            vv = v_use
            if vv == 0 and eps == 0:
                special = "zero" if zero_invstd else "inf"

        def invstd_surd(a, bb):
            """a·invstd + bb as a Surd (no special case)."""
            if inside:
                return Surd(a, bb, Fraction(0), Fraction(1), vv)
            return Surd(a + bb * eps, bb, eps, Fraction(1), vv)

        def u_float():
            if special == "zero":
                return 0.0
            if special == "inf":
                return math.inf
            if special == "nan":
                return math.nan
            return float(1 / mpmath.sqrt(mp(vv))) if inside else float(1 / (mpmath.sqrt(mp(vv)) + mp(eps)))

        u = u_float()
        # ------------------------------------------------ batch and running statistics
        if "batch_mean" in names:
            out["batch_mean"][c] = round_fraction(mean) if mean is not None else math.nan
            scale["batch_mean"][c] = float(abs_mean)
        if "batch_var" in names:
            out["batch_var"][c] = round_fraction(var) if var is not None else math.nan
            scale["batch_var"][c] = float(var) if var is not None else 0.0
        if "saved_invstd" in names:
            out["saved_invstd"][c] = u if special else invstd_surd(Fraction(1), Fraction(0)).round()
            scale["saved_invstd"][c] = u if math.isfinite(u) else 0.0
        if "running_mean" in names or "running_var" in names:
            if n == 0 and empty == "unchanged":
                new_rm, new_rv = Fraction(rm), Fraction(rv)
                sm, sv = abs(rm), abs(rv)
            elif mean is None:
                new_rm = new_rv = None
                sm = sv = 0.0
            elif not finite(rm, rv):  # a NaN or infinite running statistic: IEEE arithmetic (the result is not finite)
                if factor is None:
                    raise Unsupported("bessel with one value per channel")
                new_rm = ieee_mul(float(keep), rm) + float(w_f * mean) if not math.isfinite(rm) else keep * Fraction(rm) + w_f * mean
                new_rv = ieee_mul(float(keep), rv) + float(w_f * factor * var) if not math.isfinite(rv) else keep * Fraction(rv) + w_f * factor * var
                sm = sv = 0.0
            else:
                if factor is None:
                    raise Unsupported("bessel with one value per channel")
                new_rm = keep * Fraction(rm) + w_f * mean
                new_rv = keep * Fraction(rv) + w_f * factor * var
                sm = float(abs(keep) * abs(Fraction(rm)) + abs(w_f) * abs_mean)
                sv = float(abs(keep) * abs(Fraction(rv)) + abs(w_f) * factor * var)
            if "running_mean" in names:
                out["running_mean"][c] = round_fraction(new_rm) if new_rm is not None else math.nan
                scale["running_mean"][c] = sm
            if "running_var" in names:
                out["running_var"][c] = round_fraction(new_rv) if new_rv is not None else math.nan
                scale["running_var"][c] = sv
        # ------------------------------------------------ y
        D = [v - m_use for v in X] if m_use is not None else None
        max_d = float(max((abs(d) for d in D), default=0)) if D is not None else 0.0
        abs_m = abs(float(m_use)) if m_use is not None else 0.0
        if "y" in names:
            for j, k in enumerate(idx):
                if special == "zero":
                    out["y"][k] = round_fraction(B)
                elif special:
                    out["y"][k] = ieee_y(xc[j], special, g, b)
                else:
                    out["y"][k] = invstd_surd(G * D[j], B).round()
            # the terms of x·α + β′ with α = γ·invstd, β′ = β − μ·α (every kernel's form): |γ|·invstd·(|x−μ| + |μ|), |β|
            scale["y"][c] = fin(abs(g) * (max_d + abs_m) * u + abs(b))
        # ------------------------------------------------ gradients
        if dys is None:
            continue
        DY = [Fraction(v) for v in dyc]
        sdy = sum(DY)
        sum_abs_dy = sum(abs(v) for v in DY)
        if "dbeta" in names:
            out["dbeta"][c] = round_fraction(sdy)
            scale["dbeta"][c] = float(sum_abs_dy)
        if D is None:  # empty batch without statistics: nothing to differentiate
            for k in ("dgamma",):
                if k in names:
                    out[k][c] = 0.0 if n == 0 else math.nan
            continue
        sdyd = sum(a * d for a, d in zip(DY, D))
        sabs = sum(abs(a * d) for a, d in zip(DY, D))
        if "dgamma" in names:
            if special == "zero":
                out["dgamma"][c] = 0.0
            elif special:
                out["dgamma"][c] = math.nan if n else 0.0
            else:
                out["dgamma"][c] = invstd_surd(sdyd, Fraction(0)).round()
            # Σ dy·(x−μ)·invstd, formed as (Σ dy·x − μ·Σ dy)·invstd by some kernels
            scale["dgamma"][c] = fin((float(sabs) + abs_m * float(sum_abs_dy)) * u)
        if not use_batch and ("dmean" in names or "dvar" in names):
            stat_gradients_channel(out, scale, c, inside, special, g, G, sdy, sdyd, vv, eps, u, float(sabs), abs_m,
                                   float(sum_abs_dy))
        if "dx" in names:
            max_dy = float(max((abs(v) for v in DY), default=0))
            if not use_batch:
                for j, k in enumerate(idx):
                    out["dx"][k] = (
                        0.0 if special == "zero" else ieee_mul(g * dyc[j], u) if special else invstd_surd(G * DY[j], Fraction(0)).round()
                    )
                scale["dx"][c] = fin(abs(g) * u * max_dy)
                continue
            mdy = sdy / n
            if special == "zero":
                for k in idx:
                    out["dx"][k] = 0.0
            elif special:
                for k in idx:
                    out["dx"][k] = math.nan
            elif inside:
                # dx = γ·u·(dy − mean(dy) − (x−μ)·Σdy(x−μ)/(n·(v+ε)))
                coef = sdyd / (n * vv)
                for j, k in enumerate(idx):
                    out["dx"][k] = Surd(G * (DY[j] - mdy - D[j] * coef), Fraction(0), Fraction(0), Fraction(1), vv).round()
            else:
                # y = γ(x−μ)/(σ+ε) + β, dσ/dx_i = (x_i−μ)/(nσ):
                # dx_i = γ[(dy_i − mean dy)/(σ+ε) − (x_i−μ)·Σdy(x−μ)/(nσ(σ+ε)²)]
                # = γ[(dy_i − mdy)(v + εσ) − (x_i−μ)·sdyd/n] / (σ(σ+ε)²), σ(σ+ε)² = 2εv + (v+ε²)σ
                if vv == 0:  # σ = 0: every x_i equals the mean, the second term is 0
                    for j, k in enumerate(idx):
                        out["dx"][k] = Surd(G * (DY[j] - mdy), Fraction(0), eps, Fraction(1), vv).round()
                else:
                    for j, k in enumerate(idx):
                        a = G * (DY[j] - mdy)
                        out["dx"][k] = Surd(a * vv - G * D[j] * sdyd / n, a * eps, 2 * eps * vv, vv + eps * eps, vv).round()
            mean_abs_dy = float(sum_abs_dy / n)
            second = float(sabs / n) * (max_d + abs_m) * u * u if math.isfinite(u) else 0.0
            scale["dx"][c] = fin(abs(g) * u * (max_dy + mean_abs_dy) + abs(g) * u * second if math.isfinite(u) else 0.0)
    for c, idx, g, b in affine_later:
        for k in idx:
            if "y" in out:
                out["y"][k] = ieee_mul(g, out["y"][k]) + b
            if "dx" in out:
                out["dx"][k] = ieee_mul(g, out["dx"][k])
        for k in ("y", "dx"):
            if k in scale:
                scale[k][c] = 0.0
    return out, scale


def stat_gradients_channel(out, scale, c, inside, special, g, G, sdy, sdyd, vv, eps, u, sabs, abs_m, sum_abs_dy):
    """Format 1.3: dmean and dvar of an eval step (the gradients of sum(y·dy) with respect to the running mean m and
    variance v it normalizes with), one channel, each correctly rounded to binary64. Inside the root, with
    q = v + ε: dmean = −γΣdy/√q and dvar = −½γΣdy(x − m)/q^(3/2); outside, with σ = √v: dmean = −γΣdy/(σ + ε) and
    dvar = −γΣdy(x − m)/(2σ(σ + ε)²). A zero invstd (the `zero` rule: y = β whatever the statistics) gives 0; an
    infinite or NaN invstd, a NaN or infinite γ, or σ = 0 outside the root (dvar: a derivative at the root's branch
    point) give the IEEE value of the formula from the rounded factors. Scales (FORMAT.md): dmean |γ|·u·Σ|dy| (the
    terms γ·u·dy); dvar the dgamma scale times |γ|·u²/2 inside, |γ|·u/(2σ) outside (the terms of γ·u²·Σdy(x − m)/2)."""
    zero = Fraction(0)
    sdg = (sabs + abs_m * sum_abs_dy) * u
    if "dmean" in out:
        scale["dmean"][c] = fin(abs(g) * u * sum_abs_dy)
    if "dvar" in out:
        sigma = math.sqrt(float(vv)) if not inside and vv is not None else 0.0
        scale["dvar"][c] = fin(abs(g) * sdg * u * u / 2) if inside else fin(abs(g) * sdg * u / (2 * sigma)) if sigma > 0 else 0.0
    if special == "zero":
        dm = dv = 0.0
    elif special or not math.isfinite(g):
        dm = ieee_mul(ieee_mul(-g, u), round_fraction(sdy))
        dv = math.nan
    elif inside:
        dm = Surd(-G * sdy, zero, zero, Fraction(1), vv).round()
        dv = Surd(-G * sdyd / 2, zero, zero, vv, vv).round()
    else:
        dm = Surd(-G * sdy, zero, eps, Fraction(1), vv).round()
        if vv == 0:
            dv = math.nan if sdyd == 0 else math.copysign(math.inf, -g * float(sdyd))
        else:
            # 2σ(σ + ε)² = 2(v + ε²)·σ + 4εv
            dv = Surd(-G * sdyd, zero, 4 * eps * vv, 2 * (vv + eps * eps), vv).round()
    if "dmean" in out:
        out["dmean"][c] = dm
    if "dvar" in out:
        out["dvar"][c] = dv


def fin(v):
    return v if math.isfinite(v) else 0.0


def ieee_mul(a, b):
    if (a == 0 and math.isinf(b)) or (b == 0 and math.isinf(a)):
        return math.nan
    try:
        return a * b
    except OverflowError:
        return math.inf


def ieee_y(xv, special, g, b):
    if special == "nan":
        return math.nan
    return math.nan  # (x − mean)·∞ with x = mean under variance 0: 0·∞


def ieee_channel(config, train, use_batch, n, idx, xc, dyc, g, b, rm, rv, eps, w, keep, factor, out, c):
    """A channel whose inputs hold NaN or an infinity: the textbook formula in IEEE binary64."""
    inf = math.inf

    def add(vals):
        s = 0.0
        for v in vals:
            s += v
        return s

    def div(a, bb):
        if bb == 0:
            return math.nan if a == 0 or a != a else math.copysign(inf, a)
        return a / bb

    mean = div(add(xc), n) if n else math.nan
    var = div(add((v - mean) ** 2 if math.isfinite(v - mean) else abs(v - mean) for v in xc), n) if n else math.nan
    if math.isinf(mean):
        var = math.nan
    if use_batch:
        m_use, v_use = mean, var
    else:
        m_use, v_use = rm, rv
    inside = config["epsilon_placement"] == "inside"
    if v_use != v_use:
        u = math.nan
    elif v_use == 0 and eps == 0:
        u = 0.0 if config["zero_variance_invstd"] == "zero" else inf
    else:
        u = 1 / math.sqrt(v_use + eps) if inside else 1 / (math.sqrt(v_use) + eps)

    def mul(a, bb):
        if (a == 0 and math.isinf(bb)) or (bb == 0 and math.isinf(a)):
            return math.nan
        return a * bb

    def y_of(v):
        return mul(g, mul(v - m_use, u)) + b

    if "batch_mean" in out:
        out["batch_mean"][c] = mean
    if "batch_var" in out:
        out["batch_var"][c] = var
    if "saved_invstd" in out:
        out["saved_invstd"][c] = u
    if "running_mean" in out:
        out["running_mean"][c] = keep * rm + w * mean
    if "running_var" in out:
        out["running_var"][c] = keep * rv + w * factor * var if factor is not None else math.nan
    if "y" in out:
        for j, k in enumerate(idx):
            out["y"][k] = y_of(xc[j])
    if dyc:
        sdy = add(dyc)
        xhat = [mul(v - m_use, u) for v in xc]
        sdx = add(mul(a, h) for a, h in zip(dyc, xhat))
        if "dbeta" in out:  # the sum of dy, exact when dy is finite
            out["dbeta"][c] = round_fraction(sum(Fraction(v) for v in dyc)) if finite(*dyc) else sdy
        if "dgamma" in out:
            out["dgamma"][c] = sdx
        if not use_batch and ("dmean" in out or "dvar" in out):  # the reference's formula in binary64
            if "dmean" in out:
                out["dmean"][c] = mul(mul(-g, u), sdy) if u != 0 else 0.0
            if "dvar" in out:
                outside = config["epsilon_placement"] == "outside"
                out["dvar"][c] = 0.0 if u == 0 else mul(mul(-0.5 * g, mul(u, u)), sdx) if not outside else div(
                    mul(mul(-g, sdx), u), 2 * math.sqrt(v_use) if v_use == v_use and v_use >= 0 else math.nan)
        if "dx" in out:
            for j, k in enumerate(idx):
                if use_batch:
                    out["dx"][k] = mul(mul(g, u), dyc[j] - sdy / n - mul(xhat[j], sdx / n))
                else:
                    out["dx"][k] = mul(mul(g, u), dyc[j])


# ---------------------------------------------------------------- a file


def annotate(doc):
    """Adds expected_exact and exact_scale to every step with `expected`; returns the number of steps annotated."""
    count = 0
    for case in doc["cases"]:
        config = case["config"]
        init = case["initial_state"]
        state = {
            "gamma": init.get("gamma"),
            "beta": init.get("beta"),
            "running_mean": init.get("running_mean"),
            "running_var": init.get("running_var"),
            "num_batches_tracked": init.get("num_batches_tracked", 0) or 0,
        }
        for step in case["steps"]:
            step.pop("expected_exact", None)
            step.pop("exact_scale", None)
            expected = step.get("expected")
            if expected is None:
                continue
            names = [k for k, v in expected.items() if isinstance(v, dict)]
            # Format 1.3: a training batch split into shards (group statistics across devices) has the exact values of
            # the whole batch, since the shards' combined count, mean and M2 are the union's; the split must cover it.
            shards = step.get("shards")
            if shards is not None and (step["mode"] != "train" or sum(shards) != step["inputs"]["x"]["shape"][0]
                                       or any(not isinstance(s, int) or s < 0 for s in shards)):
                raise ValueError(f"{case['name']}: shards {shards} do not split the training batch of "
                                 f"{step['inputs']['x']['shape'][0]} rows")
            values, scales = step_exact(config, state, step, names)
            step["expected_exact"] = {
                k: {"dtype": "float64", "shape": expected[k]["shape"], "data": values[k]} for k in names
            }
            step["exact_scale"] = {k: scales[k] for k in names}
            count += 1
            if step["mode"] == "train" and config["track_running_stats"]:
                for k in ("running_mean", "running_var"):
                    if isinstance(expected.get(k), dict):
                        state[k] = expected[k]
                nbt = expected.get("num_batches_tracked")
                state["num_batches_tracked"] = nbt if isinstance(nbt, int) else state["num_batches_tracked"] + 1
    return count


def bump_version(doc):
    """Files carrying exact values declare format 1.2 (at least)."""
    major, minor = (int(p) for p in doc["format_version"].split("."))
    if (major, minor) < (1, 2):
        doc["format_version"] = "1.2"


def process(path, check):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    doc = json.loads(text)
    steps = annotate(doc)
    bump_version(doc)
    new = dump(doc) + "\n"
    if check:
        return new == text, steps
    if new != text:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(new)
        os.replace(tmp, path)
    return True, steps


def statistics_gradients_exact(shape, axis, x, dy, gamma, mean, var, eps, placement="inside"):
    """The gradients of sum(y·dy) with respect to the mean and variance an eval step is given (its running
    statistics), per channel, each correctly rounded to binary64 (TF.js's tf.grads of tf.batchNorm computes them):
    inside, dmean = −γΣdy/sqrt(v + ε) and dvar = −½γΣdy(x − m)/(v + ε)^(3/2); outside, with σ = sqrt(v),
    dmean = −γΣdy/(σ + ε) and dvar = −γΣdy(x − m)/(2σ(σ + ε)²). Finite inputs, positive denominators."""
    outer, channels, inner = layout(shape, axis)
    zero = Fraction(0)
    out = {"dmean": [], "dvar": []}
    for c in range(channels):
        idx = channel_indices(outer, channels, inner, c)
        g, m, v, e = (Fraction(t) for t in (gamma[c], mean[c], var[c], eps))
        sdy = sum((Fraction(dy[i]) for i in idx), zero)
        sdyd = sum((Fraction(dy[i]) * (Fraction(x[i]) - m) for i in idx), zero)
        if placement == "inside":
            q = v + e
            out["dmean"].append(Surd(-g * sdy, zero, zero, Fraction(1), q).round())
            out["dvar"].append(Surd(-g * sdyd / 2, zero, zero, q, q).round())
        else:
            # 2σ(σ + ε)² = 2(v + ε²)·σ + 4εv
            out["dmean"].append(Surd(-g * sdy, zero, e, Fraction(1), v).round())
            out["dvar"].append(Surd(-g * sdyd, zero, 4 * e * v, 2 * (v + e * e), v).round())
    return out


def selftest():
    """The rounding machinery on its edge cases, and against mpmath at 4000 bits on random surds; returns failures."""
    bad = []

    def expect(what, got, want):
        if not (got == want and math.copysign(1, got) == math.copysign(1, want)):
            bad.append(f"{what}: got {got!r}, want {want!r}")

    one = Fraction(1)
    expect("tie at 1 + 2^-53 rounds to even 1", round_fraction(one + Fraction(1, 2**53)), 1.0)
    expect("above the tie rounds up", round_fraction(one + Fraction(1, 2**53) + Fraction(1, 2**200)), 1 + 2**-52)
    expect("tie at 1 + 3·2^-53 rounds to even 1 + 2^-51", round_fraction(one + Fraction(3, 2**53)), 1 + 2**-51)
    expect("the overflow midpoint rounds to infinity", round_fraction(TOP - Fraction(2**970)), math.inf)
    expect("just below it, the largest finite", round_fraction(TOP - Fraction(2**970) - 1), MAX)
    expect("negative overflow", round_fraction(-TOP), -math.inf)
    expect("half the smallest subnormal ties to 0", round_fraction(Fraction(1, 2**1075)), 0.0)
    expect("0.75 of it rounds up", round_fraction(Fraction(3, 2**1076)), 2**-1074)
    expect("a negative tie to zero keeps its sign", round_fraction(-Fraction(1, 2**1075)), -0.0)
    expect("1/sqrt(1/4) = 2 exactly", Surd(one, Fraction(0), Fraction(0), one, Fraction(1, 4)).round(), 2.0)
    expect("(0 + 0·σ)/σ is 0", Surd(Fraction(0), Fraction(0), Fraction(0), one, Fraction(2)).round(), 0.0)
    # sqrt(v)/1 with v a square of a midpoint: the surd is the midpoint itself, a tie
    mid = one + Fraction(1, 2**53)
    expect("sqrt of a squared midpoint ties to even", Surd(Fraction(0), one, one, Fraction(0), mid * mid).round(), 1.0)
    rng = __import__("random").Random(20261130)
    with mpmath.workprec(4000):
        for i in range(3000):
            def rat():
                return Fraction(rng.randint(-(2**60), 2**60), 2 ** rng.randint(0, 80)) if rng.random() < 0.9 else Fraction(0)
            v = abs(rat()) + Fraction(1, 2 ** rng.randint(0, 60))
            p, q = rat(), rat()
            r, t = (abs(rat()) + Fraction(1, 7), Fraction(0)) if rng.random() < 0.5 else (Fraction(0), one)
            s = Surd(p, q, r, t, v)
            sig = mpmath.sqrt(mp(v))
            want = float((mp(p) + mp(q) * sig) / (mp(r) + mp(t) * sig))
            got = s.round()
            if got != want:
                bad.append(f"random surd {i}: got {got!r}, mpmath at 4000 bits {want!r}")
    return bad


def main(argv):
    if argv == ["--selftest"]:
        bad = selftest()
        for b in bad:
            print(b, file=sys.stderr)
        print(f"selftest: {len(bad)} failures")
        return 1 if bad else 0
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if not paths:
        print("usage: exact_oracle.py [--check] FIXTURE.json...", file=sys.stderr)
        return 2
    bad = 0
    for path in paths:
        try:
            ok, steps = process(path, check)
        except (KeyError, ValueError, TypeError, Unsupported) as e:
            print(f"{path}: cannot compute exact values: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        if not ok:
            print(f"{path}: exact annotations missing or stale", file=sys.stderr)
            bad += 1
        else:
            print(f"{path}: {steps} steps {'checked' if check else 'annotated'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
