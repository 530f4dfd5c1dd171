#!/usr/bin/env python3
"""Usage: exact_scale_oracle.py FILE (or - for stdin). Compares a fixture file's expected_exact and exact_scale (written by the TypeScript exact evaluator, e.g. random
cases through fixtureText) with a fresh computation by the Python oracle (scripts/generators/exact_oracle.py), bit for
bit. Cases the oracle cannot evaluate (Unsupported; an empty training batch with dy; an empty batch
that keeps an infinite running statistic: it raises on these) are
counted apart. Prints one JSON object: steps, values and scales compared, skipped cases, scale mismatches, value
mismatches (each flagged `nonfinite` when either value is NaN or infinite or the step's inputs or state hold one: the
two evaluators treat such channels differently, see docs/fresh-cases.md), the first $SHOW (default 20) of each."""

import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "generators"))
import exact_oracle  # noqa: E402


def same(a, b):
    a = exact_oracle.NONFINITE.get(a, a) if isinstance(a, str) else a
    b = exact_oracle.NONFINITE.get(b, b) if isinstance(b, str) else b
    return a == b or (math.isnan(a) and math.isnan(b))


def main(path):
    doc = json.load(sys.stdin if path == "-" else open(path, encoding="utf-8"))
    steps = values = scales = 0
    skipped = []
    mismatches = []
    value_mismatches = []
    for case in doc["cases"]:
        mine = json.loads(json.dumps(case))
        try:
            exact_oracle.annotate({"cases": [mine]})
        except (exact_oracle.Unsupported, ZeroDivisionError, OverflowError) as e:
            skipped.append(f"{case['name']}: {type(e).__name__} {e}")
            continue
        state_special = any(isinstance(v, str) for t in case["initial_state"].values() if isinstance(t, dict)
                            for v in t["data"])
        for i, (theirs, ours) in enumerate(zip(case["steps"], mine["steps"])):
            if "expected" not in theirs:
                continue
            special = state_special or any(isinstance(v, str) for t in theirs["inputs"].values() for v in t["data"])
            # a later step starts from recorded running statistics, which may have become non-finite
            state_special = state_special or any(isinstance(v, str) for k in ("running_mean", "running_var")
                                                 if isinstance(theirs["expected"].get(k), dict)
                                                 for v in theirs["expected"][k]["data"])
            steps += 1
            for k, t in ours["expected_exact"].items():
                for j, (a, b) in enumerate(zip(theirs["expected_exact"][k]["data"], t["data"])):
                    values += 1
                    if not same(a, b):
                        nonfinite = special or isinstance(a, str) or isinstance(b, str) or not math.isfinite(b)
                        value_mismatches.append({"nonfinite": nonfinite,
                                                 "text": f"{case['name']} step {i} {k}[{j}]: value {a} vs oracle {b}"})
            for k, t in ours["exact_scale"].items():
                for j, (a, b) in enumerate(zip(theirs["exact_scale"][k], t)):
                    scales += 1
                    if not same(a, b):
                        mismatches.append(f"{case['name']} step {i} {k} channel {j}: scale {a} vs oracle {b}")
    show = int(os.environ.get("SHOW", "20"))
    print(json.dumps({"steps": steps, "values": values, "scales": scales, "skipped": skipped,
                      "scale_mismatches": len(mismatches), "scale_examples": mismatches[:show],
                      "value_mismatches": len(value_mismatches),
                      "finite_value_mismatches": [m["text"] for m in value_mismatches if not m["nonfinite"]][:show],
                      "value_examples": [m["text"] for m in value_mismatches][:show]}))


if __name__ == "__main__":
    main(sys.argv[1])
