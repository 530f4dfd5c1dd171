#!/usr/bin/python3
"""Hard cases for the reference's arithmetic, with exact expectations.

Writes tests/testdata/exact_hard_cases.json (byte for byte the same on every run):
ill-conditioned BatchNorm inputs (large |mean|/std, cancelling dgamma and y,
a mean that cancels to ~0, eps = 0 with two values per channel, constant
channels, 100 values per channel) in float64/float32/float16/bfloat16, and the
exact value of every output under the case's convention, evaluated with
mpmath at 600 bits from the formulas written out below -- independently of
the TypeScript reference, which tests/exact_reference_test.ts holds to
0.5 ULP (plus a hair) of these values.

Run: /usr/bin/python3 tests/testdata/exact_hard_cases.py   (Debian's python3-mpmath)

Each exact value v is stored as [hi, lo, ulp, scale]: hi = v rounded to binary64,
lo = (v - hi) rounded to binary64, ulp = the gap between consecutive values of
the case's dtype in the binade of v (the smallest subnormal for 0), so that
|actual - v| / ulp = |(actual - hi) - lo| / ulp to well within 1e-15 ULP;
scale = the sum of the magnitudes of the terms that form v (e.g. for y,
|gamma·xhat| + |beta| + |gamma·mean·invStd|: the mean enters every deviation),
the size of the rounding an output that cancels must incur.
"""

import json
import math
import os
import random
from fractions import Fraction

import mpmath
from mpmath import mp, mpf

mp.prec = 600

# precision (bits incl. the implicit one), minimum normal exponent, maximum exponent
FORMATS = {
    "float64": (53, -1022, 1023),
    "float32": (24, -126, 127),
    "float16": (11, -14, 15),
    "bfloat16": (8, -126, 127),
}


def round_to(v, dtype):
    """Round an exact value (Fraction or mpf) to the nearest value of dtype, ties to even."""
    p, emin, emax = FORMATS[dtype]
    v = Fraction(v) if not isinstance(v, mpf) else Fraction(*mpmath.mpf(v).man_exp_fraction())
    if v == 0:
        return 0.0
    sign = -1 if v < 0 else 1
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, emin)
    q = Fraction(2) ** (e - p + 1)
    n = a / q
    f = math.floor(n)
    r = n - f
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and f % 2 == 1):
        f += 1
    out = f * q
    if out >= Fraction(2) ** (emax + 1):
        return sign * math.inf
    return sign * float(out)


def ulp_of(v, dtype):
    p, emin, emax = FORMATS[dtype]
    a = abs(v)
    if a == 0:
        return 2.0 ** (emin - p + 1)
    e = int(mpmath.floor(mpmath.log(a, 2)))
    # guard against log rounding at exact powers of two
    while mpf(2) ** e > a:
        e -= 1
    while mpf(2) ** (e + 1) <= a:
        e += 1
    e = min(max(e, emin), emax)
    return 2.0 ** (e - p + 1)


def exact_entry(v, scale, dtype):
    hi = round_to(v, "float64")
    lo = round_to(v - mpf(hi), "float64")
    return [hi, lo, ulp_of(v, dtype), round_to(scale, "float64")]


def _mpf_fraction(self):
    man, exp = self.man_exp  # man is the magnitude: the sign is separate in mpmath
    man = -man if self < 0 else man
    return (man * 2**exp, 1) if exp >= 0 else (man, 2 ** (-exp))


mpmath.mpf.man_exp_fraction = _mpf_fraction

PYTORCH = dict(axis=1, epsilon=1e-5, epsilonFloor=0, epsilonPlacement="inside", momentum=0.1, momentumKind="new",
               runningVariance="bessel", affine=True, trackRunningStats=True, singleValueTraining="error",
               zeroVarianceInvStd="zero", emptyBatch="unchanged")
F32_EPS = round_to(Fraction(1e-5), "float32")
F32_MOM = round_to(Fraction(0.9), "float32")
CONVENTIONS = {
    "pytorch": PYTORCH,
    "onnx": {**PYTORCH, "epsilon": F32_EPS, "momentum": F32_MOM, "momentumKind": "old", "runningVariance": "biased",
             "zeroVarianceInvStd": "ieee", "singleValueTraining": "allow", "emptyBatch": "nan"},
    "outside": {**PYTORCH, "epsilonPlacement": "outside", "epsilon": 1e-3},
    "cumulative": {**PYTORCH, "momentum": None, "momentumKind": "cumulative", "runningVariance": "bessel-clamped"},
    "eps0": {**PYTORCH, "epsilon": 0.0},
    "plain": {**PYTORCH, "affine": False},
}


def exact_outputs(case):
    """Every output of the case, exact, from the formulas (no reference code)."""
    conv = CONVENTIONS[case["convention"]]
    N, C, inner = case["shape"][0], case["shape"][1], math.prod(case["shape"][2:])
    x, dy = [mpf(v) for v in case["x"]], [mpf(v) for v in case["dy"]]
    gamma = [mpf(v) for v in case["gamma"]] if conv["affine"] else [mpf(1)] * C
    beta = [mpf(v) for v in case["beta"]] if conv["affine"] else [mpf(0)] * C
    rm, rv = [mpf(v) for v in case["runningMean"]], [mpf(v) for v in case["runningVar"]]
    eps = mpf(max(conv["epsilon"], conv["epsilonFloor"]))
    idx = [[(o * C + c) * inner + i for o in range(N) for i in range(inner)] for c in range(C)]
    n = N * inner

    def inv_std(var):
        if var == 0 and eps == 0 and conv["zeroVarianceInvStd"] == "zero":
            return mpf(0)
        return 1 / mpmath.sqrt(var + eps) if conv["epsilonPlacement"] == "inside" else 1 / (mpmath.sqrt(var) + eps)

    size = len(x)
    out = {k: [None] * size for k in ("y", "inference_y", "dx_train", "dx_eval")}
    vec = {k: [None] * C for k in ("batchMean", "batchVar", "invStd", "runningMean", "runningVar", "dgamma_train",
                                   "dbeta_train", "dgamma_eval", "dbeta_eval")}
    scale = {k: [None] * len(v) for k, v in {**out, **vec}.items()}
    tracked = case["numBatchesTracked"] + 1
    m = conv["momentum"]
    for c in range(C):
        ks = idx[c]
        mean = mpmath.fsum(x[k] for k in ks) / n
        var = mpmath.fsum((x[k] - mean) ** 2 for k in ks) / n
        inv = inv_std(var)
        vec["batchMean"][c], vec["batchVar"][c], vec["invStd"][c] = mean, var, inv
        scale["batchMean"][c] = mpmath.fsum(abs(x[k]) for k in ks) / n
        scale["batchVar"][c], scale["invStd"][c] = var, inv
        for k in ks:
            out["y"][k] = gamma[c] * (x[k] - mean) * inv + beta[c]
            scale["y"][k] = abs(gamma[c] * (x[k] - mean) * inv) + abs(beta[c]) + abs(gamma[c] * mean * inv)
        corr = {"biased": mpf(1), "bessel": mpf(n) / (n - 1), "bessel-clamped": mpf(n) / max(n - 1, 1)}
        bvar = var * corr[conv["runningVariance"]]
        if conv["momentumKind"] == "new":
            keep, new = 1 - mpf(m), mpf(m)
        elif conv["momentumKind"] == "old":
            keep, new = mpf(m), 1 - mpf(m)
        else:
            keep, new = 1 - mpf(1) / tracked, mpf(1) / tracked
        vec["runningMean"][c] = keep * rm[c] + new * mean
        vec["runningVar"][c] = keep * rv[c] + new * bvar
        scale["runningMean"][c] = abs(keep * rm[c]) + abs(new * mean)
        scale["runningVar"][c] = abs(keep * rv[c]) + abs(new * bvar)
        # inference with the running statistics
        inv_r = inv_std(rv[c])
        for k in ks:
            out["inference_y"][k] = gamma[c] * (x[k] - rm[c]) * inv_r + beta[c]
            scale["inference_y"][k] = abs(gamma[c] * (x[k] - rm[c]) * inv_r) + abs(beta[c]) + abs(gamma[c] * rm[c] * inv_r)
        # backward, train: the batch statistics depend on x
        sdy = mpmath.fsum(dy[k] for k in ks)
        sdyd = mpmath.fsum(dy[k] * (x[k] - mean) for k in ks)
        vec["dbeta_train"][c] = sdy
        vec["dgamma_train"][c] = sdyd * inv
        scale["dbeta_train"][c] = scale["dbeta_eval"][c] = mpmath.fsum(abs(dy[k]) for k in ks)
        scale["dgamma_train"][c] = (mpmath.fsum(abs(dy[k] * (x[k] - mean)) for k in ks) + abs(mean) * scale["dbeta_train"][c]) * inv
        scale["dgamma_eval"][c] = mpmath.fsum(abs(dy[k] * (x[k] - rm[c])) for k in ks) * inv_r
        if conv["epsilonPlacement"] == "inside":
            a, b = sdy / n, sdyd * inv / n
            for k in ks:
                out["dx_train"][k] = gamma[c] * inv * (dy[k] - a - (x[k] - mean) * inv * b)
                scale["dx_train"][k] = abs(gamma[c] * inv) * (abs(dy[k]) + abs(a) + (abs(x[k] - mean) + abs(mean)) * abs(inv * b))
        else:
            a, sigma = sdy / n, mpmath.sqrt(var)
            s = sigma + eps
            second = 0 if sigma == 0 else sdyd / (n * sigma * s * s)
            for k in ks:
                out["dx_train"][k] = gamma[c] * ((dy[k] - a) / s - (x[k] - mean) * second)
                scale["dx_train"][k] = abs(gamma[c]) * ((abs(dy[k]) + abs(a)) / s + (abs(x[k] - mean) + abs(mean)) * abs(second))
        # backward, eval with the running statistics
        vec["dbeta_eval"][c] = sdy
        vec["dgamma_eval"][c] = mpmath.fsum(dy[k] * (x[k] - rm[c]) for k in ks) * inv_r
        for k in ks:
            out["dx_eval"][k] = dy[k] * gamma[c] * inv_r
            scale["dx_eval"][k] = abs(out["dx_eval"][k])
    if not conv["affine"]:
        for k in ("dgamma_train", "dbeta_train", "dgamma_eval", "dbeta_eval"):
            vec[k] = None
    dtype = case["dtype"]
    res = {}
    for k, v in {**out, **vec}.items():
        res[k] = None if v is None else [exact_entry(e, sc, dtype) for e, sc in zip(v, scale[k])]
    return res


def make_cases():
    rnd = random.Random(20261130)
    gauss = lambda: rnd.gauss(0, 1)
    cases = []

    def add(name, dtype, shape, convention, xf, dyf=gauss, gf=lambda c: 1 + 0.5 * gauss(), bf=lambda c: gauss(),
            rmf=lambda c: gauss(), rvf=lambda c: 1 + abs(gauss()), tracked=2, post=None):
        size, C = math.prod(shape), shape[1]
        inner = math.prod(shape[2:])
        case = {
            "name": f"{name} {dtype} {convention}",
            "dtype": dtype,
            "shape": shape,
            "convention": convention,
            "x": [xf(k, (k // inner) % C) for k in range(size)],
            "dy": [dyf() for _ in range(size)],
            "gamma": [gf(c) for c in range(C)],
            "beta": [bf(c) for c in range(C)],
            "runningMean": [rmf(c) for c in range(C)],
            "runningVar": [rvf(c) for c in range(C)],
            "numBatchesTracked": tracked,
        }
        if post:
            post(case)
        for key in ("x", "dy", "gamma", "beta", "runningMean", "runningVar"):
            case[key] = [round_to(Fraction(v), dtype) for v in case[key]]
        cases.append(case)

    def cancel_dgamma(case):
        # dy made nearly orthogonal to x - mean per channel, so dgamma cancels to a tiny share of sum |dy·xhat|
        C, inner = case["shape"][1], math.prod(case["shape"][2:])
        for c in range(C):
            ks = [k for k in range(len(case["x"])) if (k // inner) % C == c]
            xs = [Fraction(round_to(Fraction(case["x"][k]), case["dtype"])) for k in ks]
            mean = sum(xs) / len(xs)
            d = [v - mean for v in xs]
            dd = sum(v * v for v in d)
            if dd == 0:
                continue
            g = [Fraction(case["dy"][k]) for k in ks]
            proj = sum(a * b for a, b in zip(g, d)) / dd
            for j, k in enumerate(ks):
                case["dy"][k] = float(g[j] - proj * d[j])

    def cancel_y(case):
        # beta = -gamma·xhat of the channel's first element: y cancels to ~0 there (and in inference to ~gamma·rm·...)
        C, inner = case["shape"][1], math.prod(case["shape"][2:])
        for c in range(C):
            ks = [k for k in range(len(case["x"])) if (k // inner) % C == c]
            xs = [mpf(round_to(Fraction(case["x"][k]), case["dtype"])) for k in ks]
            mean = mpmath.fsum(xs) / len(xs)
            var = mpmath.fsum((v - mean) ** 2 for v in xs) / len(xs)
            g = mpf(round_to(Fraction(case["gamma"][c]), case["dtype"]))
            case["beta"][c] = float(-g * (xs[0] - mean) / mpmath.sqrt(var + mpf(1e-5)))

    for dtype in ("float64", "float32", "float16", "bfloat16"):
        big = {"float64": 1e8, "float32": 3e3, "float16": 200.0, "bfloat16": 100.0}[dtype]
        for conv in ("pytorch", "onnx", "outside", "cumulative", "eps0", "plain"):
            add("large |mean|/std", dtype, [3, 2, 5], conv, lambda k, c: big * (1 + c) + gauss())
            add("cancelling dgamma", dtype, [4, 2, 25], conv, lambda k, c: 3 * gauss() + 10 * c, post=cancel_dgamma)
        for conv in ("pytorch", "onnx", "outside"):
            add("cancelling y", dtype, [2, 3, 4], conv, lambda k, c: gauss() + c, post=cancel_y)
            add("mean cancels to ~0", dtype, [2, 2, 4], conv,
                lambda k, c: (1 if k % 2 else -1) * (1.5 + (k // 2) % 3) + (1e-9 if k == 3 else 0))
            add("100 per channel", dtype, [4, 3, 5, 5], conv, lambda k, c: 2 * gauss() + c * 0.5)
            add("constant channel", dtype, [3, 2, 2], conv, lambda k, c: 0.75 if c == 0 else gauss())
        for conv in ("eps0", "onnx"):
            add("two values per channel", dtype, [2, 3], conv, lambda k, c: gauss() * (1 + c))
        add("large mean 3d", dtype, [2, 2, 3, 3, 3], "pytorch", lambda k, c: big * 10 + 1e-3 * big * gauss())
    return cases


def main():
    cases = make_cases()
    for case in cases:
        case["exact"] = exact_outputs(case)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exact_hard_cases.json")
    text = json.dumps({"generator": "tests/testdata/exact_hard_cases.py", "mpmath": mpmath.__version__,
                       "precisionBits": mp.prec, "conventions": CONVENTIONS, "cases": cases}, separators=(",", ":"))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)
    print(f"{len(cases)} cases -> {path}")


if __name__ == "__main__":
    main()
