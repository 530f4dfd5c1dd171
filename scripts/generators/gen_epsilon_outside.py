#!/usr/bin/env python3
"""Composed cases with epsilon outside the square root on every source's kinds of data and edge cases.

No framework run here places epsilon outside the root, (x - mean) / (sqrt(var) + eps); fixtures/composed/conventions.json
had two such cases, on data of its own. This generator takes the recorded inputs of the PyTorch 1.13
(BatchNorm1d/2d/3d and edge cases), TF.js, onnxruntime, TensorFlow 2.21 fused, Keras 3 and Flax cases, keeps every
other convention field of the case (axis, epsilon and its floor, momentum and its reading, running-variance form,
affine, tracking, the zero-variance rule), flips `epsilon_placement` to "outside", and composes every expected output the source
recorded with PyTorch tensor operations, following the formulas of fixtures/FORMAT.md ("What the options mean"):

  sigma = sqrt(var), s = sigma + eps, invstd = 1/s; with var = 0 and eps = 0 (s = 0) invstd is 0 under
  zero_variance_invstd "zero" (y = beta, dx = 0, dgamma = 0) and +Infinity under "ieee" (x - mean = 0 there, so
  y = 0·Infinity = NaN, and x̂, dx and dgamma are NaN on that channel, as IEEE arithmetic gives for the inside form);
  y = gamma·(x - mean)·invstd + beta;
  batch statistics: dx = gamma·[(dy - mean(dy))/s - (x - mean)·Σ dy·(x - mean)/(n·sigma·s²)], the second term 0 when
  sigma = 0; running statistics: dx = dy·gamma·invstd; dgamma = Σ dy·x̂, dbeta = Σ dy;
  running statistics as the case's momentum reading and running-variance form say (unchanged by the placement).

float64 cases are composed in float64 ops; float32 cases in float32 ops (`expected`) beside the float64 composition
(`expected_float64`), as gen_composed.py does. Each step starts from the state the step before returned in the case's
dtype (FORMAT.md, "Running a case"). Nothing comes from this project's TypeScript reference; exact values are added by
the oracle pass of `deno task fixtures` (scripts/generators/exact_oracle.py). Cases with a refusal, an empty batch,
non-finite inputs, a defect label, or a dtype other than float32 and float64 are left out.

Writes fixtures/composed/epsilon_outside.json. Run by `deno task fixtures`; byte-identical on every run.
"""

import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_composed import tensor  # noqa: E402 (the same JSON encoding as the other composed file)

torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "fixtures", "composed", "epsilon_outside.json")
GENERATOR = "scripts/generators/gen_epsilon_outside.py"
# Each source's files, with the case names taken (None: every eligible case of the file).
SOURCES = [
    ("pytorch/batchnorm1d.json", ["(N,C,L)", "eval with one value per channel"]),
    ("pytorch/batchnorm2d.json", ["train x3 then eval", "momentum=0 ", "momentum=1 ", "affine=False",
                                  "track_running_stats=False", "eps=0.1", "eps=0", "batch size 1", "cumulative"]),
    ("pytorch/batchnorm3d.json", None),
    ("pytorch/edge_cases.json", ["constant channel", "N=1 with 4 values", "one value per channel in eval", "momentum=1.5"]),
    ("tfjs/batch_normalization.json", ["rank 4 NHWC defaults", "momentum=0.5", "momentum=0 ", "center=false",
                                       "batch size 1", "batchNorm float32 2x4x5x3", "no scale or offset"]),
    ("tfjs/edge_cases.json", ["constant-channel", "n1-spatial", "one-value-eval"]),
    ("onnxruntime/batch_normalization.json", ["opset 15 float32 2x3x4x5 training", "opset 15 float64 2x3x4x5 training",
                                              "rank 2", "opset 15 float32 2x3x4x5 epsilon=0.1",
                                              "opset 15 float32 2x3x4x5 epsilon=0.00001 momentum=1"]),
    ("onnxruntime/edge_cases.json", ["constant-channel", "n1-spatial", "one-value-eval"]),
    ("tensorflow/fused_batch_norm.json", None),
    ("keras/tensorflow_backend.json", ["2x4x5x3 NHWC defaults", "momentum=0.5 epsilon=0.1"]),
    ("flax/batch_norm.json", ["linen.BatchNorm float32 2x4x5x3 NHWC defaults", "linen.BatchNorm float32 4x3x2 constant"]),
]
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def finite_tensor(t):
    return all(isinstance(v, (int, float)) for v in t["data"])


def eligible(case, picks):
    if picks is not None and not any(p in case["name"] for p in picks):
        return False
    if case.get("framework_defect") or case["dtype"] not in DTYPES:
        return False
    if case["config"]["epsilon_placement"] != "inside":
        return False
    for s in case["steps"]:
        if "expected_error" in s or "expected" not in s:
            return False
        for t in s["inputs"].values():
            if not finite_tensor(t) or t["dtype"] != case["dtype"] or 0 in t["shape"]:
                return False
    for t in case["initial_state"].values():
        if isinstance(t, dict) and (not finite_tensor(t) or t["dtype"] != case["dtype"]):
            return False
    return True


def step_outputs(dt, cfg, mode, x, dy, gamma, beta, rm, rv, tracked):
    """Every output of one call with epsilon outside the root, in torch dtype dt; float64 values in lists."""
    rank = x.dim()
    axis = cfg["axis"] % rank
    C = x.shape[axis]
    dims = [d for d in range(rank) if d != axis]
    bshape = [C if d == axis else 1 for d in range(rank)]
    x = x.to(dt)
    g = gamma.to(dt).reshape(bshape)
    b = beta.to(dt).reshape(bshape)
    eps = torch.tensor(max(cfg["epsilon"], cfg["epsilon_floor"]), dtype=dt)
    n = x.numel() // C
    use_batch = mode == "train" or not cfg["track_running_stats"]
    out = {}
    if use_batch:
        # Corrected two-pass, as gen_composed.py: deviations from the unrounded mean m0 + mean(x - m0).
        m0 = x.mean(dim=dims, keepdim=True)
        corr = (x - m0).mean(dim=dims, keepdim=True)
        centered = (x - m0) - corr
        mean = m0 + corr
        var = (centered ** 2).mean(dim=dims, keepdim=True)
    else:
        mean, var = rm.to(dt).reshape(bshape), rv.to(dt).reshape(bshape)
        centered = x - mean
    sigma = torch.sqrt(var)
    s = sigma + eps
    degenerate = s == 0  # var = 0 and eps = 0: the zero_variance_invstd rule
    fill = 0.0 if cfg["zero_variance_invstd"] == "zero" else float("inf")
    invstd = torch.where(degenerate, torch.full_like(s, fill), 1 / torch.where(degenerate, torch.ones_like(s), s))
    xhat = centered * invstd  # 0·Infinity = NaN under "ieee" on a degenerate channel
    out["y"] = xhat * g + b
    if use_batch:
        out["batch_mean"], out["batch_var"], out["saved_invstd"] = mean, var, invstd
    if mode == "train" and cfg["track_running_stats"]:
        kind, m = cfg["momentum_kind"], cfg["momentum"]
        w = m if kind == "new" else 1 - m if kind == "old" else 1 / (tracked + 1)
        factor = {"biased": 1.0, "bessel": n / (n - 1) if n > 1 else float("nan"),
                  "bessel-clamped": n / max(n - 1, 1)}[cfg["running_variance"]]
        out["running_mean"] = (1 - w) * rm.to(dt) + w * mean.flatten()
        out["running_var"] = (1 - w) * rv.to(dt) + w * var.flatten() * factor
    if dy is not None:
        dy = dy.to(dt)
        out["dbeta"] = dy.sum(dim=dims)
        out["dgamma"] = (dy * xhat).sum(dim=dims)
        if use_batch:
            ddy = dy - dy.mean(dim=dims, keepdim=True)
            proj = (dy * centered).sum(dim=dims, keepdim=True)
            safe_sigma = torch.where(sigma == 0, torch.ones_like(sigma), sigma)
            safe_s = torch.where(degenerate, torch.ones_like(s), s)
            second = torch.where(sigma == 0, torch.zeros_like(centered), centered * proj / (n * safe_sigma * safe_s * safe_s))
            dx = g * (ddy * invstd - second)
            # Degenerate channel: the rule's invstd times the bracket (0 under "zero"; NaN with x̂ under "ieee").
            dx = torch.where(degenerate & (invstd == 0), torch.zeros_like(dx), dx)
            dx = torch.where(degenerate & torch.isinf(invstd), torch.full_like(dx, float("nan")), dx)
        else:
            dx = dy * g * invstd
        out["dx"] = dx
    return {k: v.detach().flatten().tolist() for k, v in out.items()}


def compose(case, source):
    dtype = case["dtype"]
    dt = DTYPES[dtype]
    cfg = dict(case["config"])
    cfg["epsilon_placement"] = "outside"
    state = case["initial_state"]
    first = case["steps"][0]["inputs"]["x"]
    C = first["shape"][cfg["axis"] % len(first["shape"])]
    f = lambda key, default: torch.tensor(state[key]["data"] if key in state else [default] * C, dtype=torch.float64)
    scaled = cfg.get("scale", cfg["affine"])
    centered = cfg.get("center", cfg["affine"])
    gamma = f("gamma", 1.0) if scaled else torch.ones(C, dtype=torch.float64)
    beta = f("beta", 0.0) if centered else torch.zeros(C, dtype=torch.float64)
    rm, rv = f("running_mean", 0.0), f("running_var", 1.0)
    tracked = state.get("num_batches_tracked", 0) or 0
    steps = []
    for s in case["steps"]:
        xin = s["inputs"]["x"]
        x = torch.tensor(xin["data"], dtype=torch.float64).reshape(xin["shape"])
        dy = torch.tensor(s["inputs"]["dy"]["data"], dtype=torch.float64).reshape(xin["shape"]) if "dy" in s["inputs"] else None
        own = step_outputs(dt, cfg, s["mode"], x, dy, gamma, beta, rm, rv, tracked)
        twin = step_outputs(torch.float64, cfg, s["mode"], x, dy, gamma, beta, rm, rv, tracked)
        expected, twin_out = {}, {}
        for key, rec in s["expected"].items():
            if key == "num_batches_tracked":
                expected[key] = rec  # a count, the same under either placement
                continue
            shape = rec["shape"]
            expected[key] = tensor(dtype, shape, own[key])
            twin_out[key] = tensor("float64", shape, twin[key])
        step = {"mode": s["mode"], "inputs": s["inputs"], "expected": expected}
        if dtype != "float64":
            step["expected_float64"] = twin_out
        steps.append(step)
        if s["mode"] == "train" and cfg["track_running_stats"]:
            tracked += 1
            # The next step starts from the state this one returned, in the case's dtype.
            rm = torch.tensor(own["running_mean"], dtype=torch.float64)
            rv = torch.tensor(own["running_var"], dtype=torch.float64)
    features = sorted(set(case["features"]) | {"epsilon-placement"})
    return {
        "name": f"composed epsilon outside of: {case['name']}",
        "description": f"The {source} case \"{case['name']}\" (seed {case['seed']}) with epsilon outside the square root, "
        "(x - mean) / (sqrt(var) + eps), every other convention field kept: every expected value is composed with "
        "PyTorch tensor ops (float32 cases in float32 ops beside a float64 twin) from the recorded inputs "
        "(scripts/generators/gen_epsilon_outside.py); no framework here places epsilon outside.",
        "features": features,
        "api": f"composed: epsilon outside the root on the inputs of {source}: {case['api']}",
        "seed": case["seed"],
        "dtype": dtype,
        "config": cfg,
        "initial_state": state,
        "steps": steps,
    }


def main():
    cases = []
    for path, picks in SOURCES:
        with open(os.path.join(ROOT, "fixtures", path)) as fh:
            doc = json.load(fh)
        source = f"{doc['provenance']['framework']} {doc['provenance']['version']} (fixtures/{path})"
        for case in doc["cases"]:
            if eligible(case, picks):
                cases.append(compose(case, source))
    doc = {
        "format": "batchnorm-conformance-fixture",
        "format_version": "1.3",
        "provenance": {
            "source": "composed",
            "framework": "PyTorch float64 (and float32) tensor operations over the recorded framework cases' inputs",
            "version": torch.__version__,
            "api": "epsilon outside the square root on the inputs of PyTorch 1.13, TF.js, onnxruntime, TensorFlow 2.21, "
                   "Keras 3 and Flax cases, each keeping its other conventions",
            "generator": GENERATOR,
            "command": "deno task fixtures",
            "seed": 0,
            "composed": True,
            "environment": f"Debian python3-torch {torch.__version__}, CPU, 1 thread",
            "notes": [
                "No framework run here places epsilon outside the root; these cases carry epsilon_placement \"outside\" "
                "onto every source's data and edge cases, so that an implementation declaring it is judged on them.",
                "Each case's name, description and seed name the original case and its source; every expected value "
                "is composed, none is a framework's output.",
                "With variance 0 and epsilon 0, sqrt(0) + 0 = 0: invstd follows the case's zero_variance_invstd rule "
                "(fixtures/FORMAT.md), exactly as inside the root.",
            ],
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    text = json.dumps(doc, indent=2, allow_nan=False)
    number = r"-?[0-9][0-9.eE+-]*"
    text = re.sub(r"\[\s*(" + number + r"(?:,\s*" + number + r")*)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    with open(tmp, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, OUT)
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
