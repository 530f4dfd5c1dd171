#!/usr/bin/env python3
"""Composed cases for coverage across conventions: every momentum reading and running-variance form on every
source's kinds of data.

Each framework's running-statistics convention comes with its own data only (Bessel and the "new" momentum reading
only in the PyTorch fixtures, the biased variance and the "old" reading only in the TF.js and onnxruntime ones). This
generator re-labels the training cases of those sources under the opposite convention: the "new" reading becomes
"old" and the other way round (same momentum value), and Bessel's (or the clamped) running variance becomes the
biased one and the other way round. The momentum and the running-variance form change nothing but the running
statistics a training step returns, so every other recorded output of a training step stays the framework's own
(a real witness); the running statistics, and inference outputs computed from them, are composed with PyTorch
float64 tensor operations, each following the formulas of fixtures/FORMAT.md:

  batch mean and biased variance: corrected two-pass over every axis but the channel axis, from the recorded x;
  running = (1 - w)·running + w·batch, w = momentum ("new") or 1 - momentum ("old");
  the batch variance enters as is ("biased") or times n/(n-1) ("bessel");
  inference: y = (x - running_mean)·rsqrt(running_var + epsilon)·gamma + beta, dx = dy·gamma·rsqrt(running_var + eps).

Each step starts from the recorded state of the step before (FORMAT.md, "Running a case"): the running statistics
rounded to the case's dtype. `expected` holds the float64 composition rounded to the case's dtype, and
`expected_float64` the composition itself (float32 cases). Nothing comes from this project's TypeScript reference.
Cases with a refusal, an empty batch, one value per channel, non-finite values or a defect label are left out.

Writes fixtures/composed-conventions/relabeled.json. Run by `deno task fixtures`; byte-identical on every run.
"""

import json
import os
import re

import torch

torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "fixtures", "composed-conventions", "relabeled.json")
GENERATOR = "scripts/generators/gen_relabel.py"
SOURCES = ["pytorch/batchnorm1d.json", "pytorch/batchnorm2d.json", "pytorch/batchnorm3d.json",
           "tfjs/batch_normalization.json", "onnxruntime/batch_normalization.json"]
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
                "bfloat16": torch.bfloat16}
OTHER_KIND = {"new": "old", "old": "new"}
OTHER_VARIANCE = {"bessel": "biased", "bessel-clamped": "biased", "biased": "bessel"}


def finite(v):
    return isinstance(v, (int, float))


def tensor_ok(t):
    return all(finite(v) for v in t["data"])


def to_dtype(values, dtype):
    """float64 values rounded to the case's dtype, back as Python floats."""
    return torch.tensor(values, dtype=torch.float64).to(TORCH_DTYPES[dtype]).to(torch.float64).tolist()


def eligible(case):
    cfg = case["config"]
    if case.get("framework_defect") or not cfg["track_running_stats"]:
        return False
    if cfg["momentum_kind"] not in OTHER_KIND or cfg["momentum"] is None:
        return False
    trains = [s for s in case["steps"] if s["mode"] == "train"]
    if not trains:
        return False
    for s in case["steps"]:
        if "expected_error" in s or not tensor_ok(s["inputs"]["x"]) or ("dy" in s["inputs"] and not tensor_ok(s["inputs"]["dy"])):
            return False
        x = s["inputs"]["x"]
        axis = cfg["axis"] % len(x["shape"])
        n = len(x["data"]) // max(1, x["shape"][axis])
        if n < 2:
            return False
    state = case["initial_state"]
    return all(tensor_ok(state[k]) for k in ("gamma", "beta", "running_mean", "running_var") if k in state)


def batch_stats(x, axis):
    """Batch mean and biased variance per channel, float64, corrected two-pass."""
    t = torch.tensor(x["data"], dtype=torch.float64).reshape(x["shape"])
    t = t.movedim(axis, 0).reshape(x["shape"][axis], -1)
    m0 = t.mean(dim=1, keepdim=True)
    corr = (t - m0).mean(dim=1, keepdim=True)
    var = (((t - m0) - corr) ** 2).mean(dim=1)
    return (m0 + corr).flatten(), var, t.shape[1]


def relabel(case, source):
    cfg = dict(case["config"])
    cfg["momentum_kind"] = OTHER_KIND[cfg["momentum_kind"]]
    cfg["running_variance"] = OTHER_VARIANCE[cfg["running_variance"]]
    dtype = case["dtype"]
    axis_of = lambda x: cfg["axis"] % len(x["shape"])
    C = len(case["initial_state"]["running_mean"]["data"]) if "running_mean" in case["initial_state"] else None
    state = case["initial_state"]
    rm = torch.tensor(state["running_mean"]["data"], dtype=torch.float64) if "running_mean" in state else None
    rv = torch.tensor(state["running_var"]["data"], dtype=torch.float64) if "running_var" in state else None
    gamma = torch.tensor(state["gamma"]["data"], dtype=torch.float64) if cfg["affine"] and "gamma" in state else None
    beta = torch.tensor(state["beta"]["data"], dtype=torch.float64) if cfg["affine"] and "beta" in state else None
    eps = max(cfg["epsilon"], cfg["epsilon_floor"])
    m = cfg["momentum"]
    w = m if cfg["momentum_kind"] == "new" else 1 - m
    steps = []
    for s in case["steps"]:
        x = s["inputs"]["x"]
        axis = axis_of(x)
        channels = x["shape"][axis]
        if rm is None:
            rm = torch.zeros(channels, dtype=torch.float64)
        if rv is None:
            rv = torch.ones(channels, dtype=torch.float64)
        step = {"mode": s["mode"], "inputs": s["inputs"]}
        expected = dict(s.get("expected", {}))
        twin = dict(s["expected_float64"]) if "expected_float64" in s else None
        if s["mode"] == "train":
            mean, var, n = batch_stats(x, axis)
            factor = n / (n - 1) if cfg["running_variance"] == "bessel" else 1.0
            new_rm = (1 - w) * rm + w * mean
            new_rv = (1 - w) * rv + w * var * factor
            for key, val in (("running_mean", new_rm), ("running_var", new_rv)):
                if key in expected:
                    expected[key] = {"dtype": dtype, "shape": [channels], "data": to_dtype(val.tolist(), dtype)}
                    if twin is not None and key in twin:
                        twin[key] = {"dtype": "float64", "shape": [channels], "data": val.tolist()}
            # The next step starts from the recorded (dtype-rounded) state.
            rm = torch.tensor(to_dtype(new_rm.tolist(), dtype), dtype=torch.float64)
            rv = torch.tensor(to_dtype(new_rv.tolist(), dtype), dtype=torch.float64)
        else:
            t = torch.tensor(x["data"], dtype=torch.float64).reshape(x["shape"])
            shape = [channels if d == axis else 1 for d in range(t.dim())]
            inv = torch.rsqrt(rv + eps).reshape(shape)
            g = gamma.reshape(shape) if gamma is not None else torch.ones(shape, dtype=torch.float64)
            b = beta.reshape(shape) if beta is not None else torch.zeros(shape, dtype=torch.float64)
            y = (t - rm.reshape(shape)) * inv * g + b
            outs = {"y": y}
            if "dy" in s["inputs"] and "dx" in expected:
                dy = torch.tensor(s["inputs"]["dy"]["data"], dtype=torch.float64).reshape(x["shape"])
                outs["dx"] = dy * g * inv
            for key, val in outs.items():
                if key in expected:
                    flat = val.flatten().tolist()
                    expected[key] = {"dtype": dtype, "shape": x["shape"], "data": to_dtype(flat, dtype)}
                    if twin is not None and key in twin:
                        twin[key] = {"dtype": "float64", "shape": x["shape"], "data": flat}
            # dgamma, dbeta of an eval step do not depend on the running statistics' history beyond rm, rv:
            # recompose them too where recorded.
            if "dy" in s["inputs"]:
                dy = torch.tensor(s["inputs"]["dy"]["data"], dtype=torch.float64).reshape(x["shape"])
                xhat = (t - rm.reshape(shape)) * inv
                dims = [d for d in range(t.dim()) if d != axis]
                for key, val in (("dgamma", (dy * xhat).sum(dim=dims)), ("dbeta", dy.sum(dim=dims))):
                    if key in expected:
                        expected[key] = {"dtype": dtype, "shape": [channels], "data": to_dtype(val.tolist(), dtype)}
                        if twin is not None and key in twin:
                            twin[key] = {"dtype": "float64", "shape": [channels], "data": val.tolist()}
        if expected:
            step["expected"] = expected
        if twin is not None:
            step["expected_float64"] = twin
        steps.append(step)
    label = f"{cfg['momentum_kind']} momentum reading, {cfg['running_variance']} running variance"
    return {
        "name": f"composed relabel ({label}) of: {case['name']}",
        "description": f"The {source} case \"{case['name']}\" re-labelled under the {label}: the training steps' "
        "outputs other than the running statistics are the framework's own; the running statistics and the "
        "inference outputs computed from them are composed with PyTorch float64 ops (scripts/generators/gen_relabel.py).",
        "features": case["features"],
        "api": f"composed: {case['api']} re-labelled ({label})",
        "seed": case["seed"],
        "dtype": dtype,
        "config": cfg,
        "initial_state": case["initial_state"],
        "steps": steps,
    }


def main():
    cases = []
    for path in SOURCES:
        with open(os.path.join(ROOT, "fixtures", path)) as fh:
            doc = json.load(fh)
        for case in doc["cases"]:
            if eligible(case):
                cases.append(relabel(case, f"{doc['provenance']['framework']} {doc['provenance']['version']}"))
    doc = {
        "format": "batchnorm-conformance-fixture",
        "format_version": "1.1",
        "provenance": {
            "source": "composed",
            "framework": "PyTorch float64 tensor operations over the recorded framework cases",
            "version": torch.__version__,
            "api": "re-labelling of PyTorch, TF.js and onnxruntime training cases under the other momentum reading "
                   "and running-variance form",
            "generator": GENERATOR,
            "command": "deno task fixtures",
            "seed": 0,
            "composed": True,
            "environment": f"Debian python3-torch {torch.__version__}, CPU, 1 thread",
            "notes": [
                "Each convention of the running statistics is witnessed by a framework on its own data only; these "
                "cases carry every momentum reading and running-variance form onto every source's data.",
                "Outputs of training steps other than the running statistics are the framework's own recorded ones.",
            ],
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    text = json.dumps(doc, indent=2, allow_nan=False)
    # Arrays of numbers on one line each: the file stays readable and a third of the size.
    number = r"-?[0-9][0-9.eE+-]*"
    text = re.sub(r"\[\s*(" + number + r"(?:,\s*" + number + r")*)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    with open(tmp, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, OUT)
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
