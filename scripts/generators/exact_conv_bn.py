#!/usr/bin/env python3
"""Exact values of an unfused Conv → BatchNormalization graph (inference), for tests/pypi_onnx_engines_test.ts.

    /usr/bin/python3 scripts/generators/exact_conv_bn.py < case.json

Reads one JSON object {"x": [N, Cin, H, W] nested lists, "w": [Cout, Cin, kH, kW], "b": [Cout], "gamma", "beta",
"mean", "var": [Cout], "epsilon": float, optionally "pads": [top, left] (zero padding on each side, symmetric; default
0)} whose numbers are float32 values, and prints {"y": nested lists} with each element the binary64 value nearest to the
exact result of
    z = Σ_ci Σ_i Σ_j w[co, ci, i, j] · xp[n, ci, h + i, w + j] + b[co]   (stride 1, xp = x zero-padded; exact: rational)
    y = gamma[co] · (z − mean[co]) / sqrt(var[co] + eps) + beta[co]
with eps the float32 value of the ONNX attribute. Independent of the suite's reference and of every engine: the sums
and products are exact fractions; the square root and the final division are evaluated with mpmath at 400 bits and
rounded once to binary64 (the float32 distances measured from it are exact to far below one ULP).
Self-contained; needs mpmath (Debian python3-mpmath).
"""

import json
import struct
import sys
from fractions import Fraction

import mpmath

mpmath.mp.prec = 400


def mp(fr):
    """A dyadic Fraction (every sum and product of floats is one) as an mpf: exact while it fits the precision."""
    return mpmath.mpf(fr.numerator) / fr.denominator


def f32(v):
    return struct.unpack("f", struct.pack("f", v))[0]


def exact_y(case):
    """The exact y of the unfused graph (nested lists [N, Cout, Hout, Wout]), each rounded once to binary64."""
    x, w, b = case["x"], case["w"], case["b"]
    g, beta, mean, var = case["gamma"], case["beta"], case["mean"], case["var"]
    eps = Fraction(f32(case["epsilon"]))
    cout, cin, kh, kw = len(w), len(w[0]), len(w[0][0]), len(w[0][0][0])
    ph, pw = case.get("pads", [0, 0])
    y = []
    for xn in x:
        yn = []
        for co in range(cout):
            inv = mpmath.mpf(1) / mpmath.sqrt(mp(Fraction(var[co]) + eps))
            plane = []
            hin, win = len(xn[0]), len(xn[0][0])
            for h in range(hin + 2 * ph - kh + 1):
                row = []
                for wi in range(win + 2 * pw - kw + 1):
                    z = sum(Fraction(w[co][ci][i][j]) * Fraction(xn[ci][h + i - ph][wi + j - pw])
                            for ci in range(cin) for i in range(kh) for j in range(kw)
                            if 0 <= h + i - ph < hin and 0 <= wi + j - pw < win) + Fraction(b[co])
                    centred = mp(z - Fraction(mean[co]))
                    row.append(float(mpmath.mpf(g[co]) * centred * inv + mpmath.mpf(beta[co])))
                plane.append(row)
            yn.append(plane)
        y.append(yn)
    return y


def main():
    print(json.dumps({"y": exact_y(json.loads(sys.stdin.read()))}))


if __name__ == "__main__":
    main()
