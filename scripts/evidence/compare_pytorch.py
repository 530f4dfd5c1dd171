#!/usr/bin/env python3
"""Compare a PyTorch 2.x run of the fixture generator (scripts/evidence/pytorch2_device.py)
with the recorded PyTorch 1.13 fixtures, output by output.

    /usr/bin/python3 scripts/evidence/compare_pytorch.py DIR   # DIR holds cpu/ and cuda/

For every case, step and output: bit-identical, or how far apart in ULP of the case's dtype
at the tensor's peak (the measure of FORMAT.md 1.1), and each refusal whose message changed.
Prints markdown.
"""

import json
import math
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NP = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def val(v):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v) if isinstance(v, str) else float(v)


def ulp(v, dtype):
    v = abs(v)
    if dtype == "bfloat16":
        e = math.frexp(v)[1] - 1 if v > 0 else -133
        return 2.0 ** (max(e, -126) - 7)
    t = NP[dtype]
    return float(np.spacing(t(v))) if math.isfinite(v) else math.inf


def diff(a, b, dtype):
    a, b = [val(v) for v in a["data"]], [val(v) for v in b["data"]]
    if len(a) != len(b):
        return math.inf
    finite = [abs(v) for v in b if math.isfinite(v)]
    peak = max(finite, default=0.0)
    worst = 0.0
    for x, y in zip(a, b):
        if x == y or (x != x and y != y):
            continue
        if not (math.isfinite(x) and math.isfinite(y)):
            return math.inf
        worst = max(worst, abs(x - y) / ulp(max(abs(y), peak), dtype))
    return worst


def compare(new_dir):
    rows, notes = [], []
    for name in sorted(os.listdir(os.path.join(ROOT, "fixtures", "pytorch"))):
        old = json.load(open(os.path.join(ROOT, "fixtures", "pytorch", name)))
        path = os.path.join(new_dir, name)
        if not os.path.exists(path):
            notes.append(f"{name}: not produced")
            continue
        new = json.load(open(path))
        new_cases = {c["name"]: c for c in new["cases"]}
        for c in old["cases"]:
            n = new_cases.get(c["name"])
            if n is None:
                notes.append(f"`{c['name']}`: missing")
                continue
            if "generator_exception" in n:
                e = n["generator_exception"]
                what = "generator's own check failed" if e.startswith("AssertionError") else "refused"
                rows.append((c["name"], what, e))
                continue
            worst, where, same = 0.0, "", True
            for i, (s, t) in enumerate(zip(c["steps"], n["steps"])):
                if "expected_error" in s or "expected_error" in t:
                    a, b = s.get("expected_error", {}), t.get("expected_error", {})
                    if a.get("message") != b.get("message"):
                        rows.append((c["name"], f"step {i}: error changed", f"{a.get('message')!r} → {b.get('message')!r}"))
                    continue
                for out, tensor in s["expected"].items():
                    other = t["expected"].get(out)
                    if isinstance(tensor, dict) and isinstance(other, dict):
                        if tensor["data"] != other["data"]:
                            same = False
                            d = diff(other, tensor, c["dtype"])
                            if d > worst:
                                worst, where = d, f"step {i} {out}"
                    elif tensor != other:
                        same = False
                        rows.append((c["name"], f"step {i} {out}", f"{tensor} → {other}"))
            if not same and worst > 0:
                rows.append((c["name"], where, f"{worst:.3g} ULP of the peak"))
        total = len(old["cases"])
        identical = total - len({r[0] for r in rows if r[0] in {x["name"] for x in old["cases"]}})
        notes.append(f"{name}: {identical} of {total} cases bit-identical")
    return rows, notes


if __name__ == "__main__":
    base = sys.argv[1]
    for device in ["cpu", "cuda", "cuda-no-cudnn"]:
        d = os.path.join(base, device)
        if not os.path.isdir(d):
            continue
        rows, notes = compare(d)
        print(f"\n### {device}\n")
        for n in notes:
            print(f"- {n}")
        print("\n| case | where | difference |\n| --- | --- | --- |")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} |")
