#!/usr/bin/env python3
"""A second judge, written from fixtures/FORMAT.md ("What counts as a pass") alone, sharing no code with src/.

tests/judge_test.ts runs it and requires that it agrees with the TypeScript judge, verdict for verdict and share for
share, on the judge vectors (fixtures/judge_vectors.json) and on whole cases answered by the reference, by PyTorch
(its recorded outputs) and by a wrong implementation.

  judge.py vectors FILE            -> JSON list: [{"name", "pass", "share"}]
  judge.py cases FIXTURE ANSWERS   -> JSON object: {case name: {"pass", "shares": {"step/output": share}}}

ANSWERS: {"cases": {case name: [{"outputs": {name: [values]}, "num_batches_tracked": int} | {"error": code}]}},
numbers as in fixtures (non-finite values as the strings "NaN", "Infinity", "-Infinity").
"""

import json
import math
import sys

# dtype: (precision p, minimum normal exponent e_min, largest finite)
FORMATS = {
    "float64": (53, -1022, sys.float_info.max),
    "float32": (24, -126, 3.4028234663852886e38),
    "float16": (11, -14, 65504.0),
    "bfloat16": (8, -126, 3.3895313892515355e38),
}
B = {"float64": 16, "float32": 6, "float16": 6, "bfloat16": 6}
PER_CHANNEL = {"batch_mean", "batch_var", "saved_invstd", "running_mean", "running_var", "dgamma", "dbeta", "dmean",
               "dvar"}
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def val(v):
    return NONFINITE[v] if isinstance(v, str) else float(v)


def ulp(v, dtype):
    p, emin, top = FORMATS[dtype]
    v = min(abs(v), top)
    e = emin if v < 2.0**emin else math.frexp(v)[1] - 1
    return 2.0 ** (e - p + 1)


def beyond_range(t, dtype):
    """A target beyond the dtype's largest finite value, rounded to the dtype (to nearest, ties to even)."""
    p, emin, top = FORMATS[dtype]
    if not math.isfinite(t) or abs(t) <= top:
        return t
    half = ulp(top, dtype) / 2
    return math.copysign(math.inf if abs(t) >= top + half else top, t)


def error(a, t, s, dtype):
    if math.isnan(t) or math.isnan(a):
        return 0.0 if math.isnan(t) and math.isnan(a) else math.inf
    if math.isinf(t) or math.isinf(a):
        return 0.0 if a == t else math.inf
    if a == t:
        return 0.0
    return abs(a - t) / ulp(max(abs(t), s), dtype)


def budget(dtype, output, n):
    k = max(1, math.ceil(math.sqrt(n))) if output in PER_CHANNEL else 1
    return B[dtype] * k


def judge_output(actual, exact, scales, dtype, output, n):
    """(pass, share of budget) of one output; scales per element."""
    tol = budget(dtype, output, n)
    worst = 0.0
    for a, t, s in zip(actual, exact, scales):
        worst = max(worst, error(a, beyond_range(t, dtype), s, dtype))
    return worst <= tol, worst / tol


def vectors(path):
    out = []
    for v in json.load(open(path))["vectors"]:
        ok, share = judge_output(
            [val(x) for x in v["actual"]], [val(x) for x in v["exact"]], [val(x) for x in v["scale"]],
            v["dtype"], v["output"], v["n"])
        out.append({"name": v["name"], "pass": ok, "share": share})
    return out


# Format 1.3 ("Mixed precision and center/scale"): the group of each output, whose dtype it is judged in.
GROUP = {"y": "data", "dx": "data", "dgamma": "params", "dbeta": "params", "running_mean": "running",
         "running_var": "running", "batch_mean": "saved", "batch_var": "saved", "saved_invstd": "saved",
         "dmean": "running", "dvar": "running"}


def cases(fixture_path, answers_path):
    doc = json.load(open(fixture_path))
    answers = json.load(open(answers_path))["cases"]
    result = {}
    for case in doc["cases"]:
        dtype, axis = case["dtype"], case["config"]["axis"]
        got = answers.get(case["name"], [])
        ok, shares = True, {}
        for i, step in enumerate(case["steps"]):
            ans = got[i] if i < len(got) else None
            if ans is None:
                ok = False
                break
            if "expected_error" in step:
                ok = ok and ans.get("error") == step["expected_error"]["code"]
                continue
            if "error" in ans:
                ok = False
                break
            x = step["inputs"]["x"]
            shape = x["shape"]
            a = axis + len(shape) if axis < 0 else axis
            channels, inner = shape[a], math.prod(shape[a + 1:])
            n = len(x["data"]) // max(1, channels)
            for name, want in step["expected"].items():
                if not isinstance(want, dict):
                    ok = ok and ans.get("num_batches_tracked") == want
                    continue
                have = ans.get("outputs", {}).get(name)
                if have is None or len(have) != len(want["data"]):
                    ok = False
                    continue
                exact = step["expected_exact"][name]["data"]
                per_channel = step["exact_scale"][name]
                if name in ("y", "dx"):
                    scales = [per_channel[(k // inner) % channels] for k in range(len(exact))]
                else:
                    scales = per_channel
                # Format 1.3: in a mixed-precision case each output is judged in its own group's dtype.
                own = case.get("dtypes", {}).get(GROUP[name], dtype)
                passed, share = judge_output([val(v) for v in have], [val(v) for v in exact], scales, own, name, n)
                shares[f"{i}/{name}"] = share
                ok = ok and passed
        result[case["name"]] = {"pass": ok, "shares": shares}
    return result


def finite_json(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: finite_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite_json(x) for x in v]
    return v


def dumps(v):
    return json.dumps(finite_json(v), allow_nan=False)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "vectors":
        print(dumps(vectors(sys.argv[2])))
    elif len(sys.argv) == 4 and sys.argv[1] == "cases":
        print(dumps(cases(sys.argv[2], sys.argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
