#!/usr/bin/env python3
"""A graph-case judge written from fixtures/FORMAT.md ("Graph cases") alone, in plain Python (no numpy, no suite code):
what a third party needs to check its own Conv → BatchNormalization against fixtures/graphs/conv_bn.json.

    python3 tests/third_party/judge_conv_bn.py FIXTURE ANSWERS

ANSWERS: {"cases": {"<id>": {"shape", "data"}}}. Prints "pass|fail ID MAX_ERROR_ULP" per case (a case not answered
fails, with error "Infinity"); exits 0 when every case passes, else 1. tests/graph_cli_test.ts checks that it agrees with
`deno task judge-graph`.
"""

import json
import math
import sys


def ulp_float32(v):
    v = min(abs(v), 3.4028234663852886e38)
    e = -126 if v < 2.0 ** -126 else math.frexp(v)[1] - 1  # frexp: v = m·2^k, 0.5 <= m < 1
    return 2.0 ** (e - 23)


def main():
    fixture = json.load(open(sys.argv[1]))
    answers = json.load(open(sys.argv[2]))["cases"]
    ok = True
    for case in fixture["cases"]:
        t = case["expected_exact"]["data"]
        _, cout, ho, wo = case["expected_exact"]["shape"]
        a = answers.get(case["id"], {}).get("data")
        worst = math.inf
        if a is not None and len(a) == len(t):
            worst = 0.0
            for i, (ai, ti) in enumerate(zip(a, t)):
                if not isinstance(ai, (int, float)) or not math.isfinite(ai):
                    worst = math.inf
                    break
                if ai != ti:
                    s = case["exact_scale"][(i // (ho * wo)) % cout]
                    worst = max(worst, abs(ai - ti) / ulp_float32(max(abs(ti), s)))
        passed = worst <= case["budget_ulp"]
        ok = ok and passed
        print(f"{'pass' if passed else 'fail'} {case['id']} {worst if math.isfinite(worst) else 'Infinity'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
