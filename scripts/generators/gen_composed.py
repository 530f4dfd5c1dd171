#!/usr/bin/env python3
"""Composed cases for the capability options no framework here exercises: `epsilon_placement: "outside"` and
`empty_batch: "error"` (0 of the 160 framework cases had either). Without them, an implementation declaring those
options would be judged on nothing.

No framework run here places epsilon outside the square root or refuses an empty batch (PyTorch 1.13's module
returns at once, leaving the statistics unchanged; torch.native_batch_norm on an empty batch in training dies of
SIGFPE; TensorFlow's kernels and onnxruntime give NaN statistics; TF.js zeros). So these cases are composed, as
provenance says: every expected value is evaluated with PyTorch float64 tensor operations and autograd
(float32 cases: the same composition in float32 ops, beside its float64 twin), following the formulas of
fixtures/FORMAT.md; nothing comes from this project's TypeScript reference.

Writes fixtures/composed/conventions.json. Run by `deno task fixtures`; byte-identical on every run.
"""

import json
import os
import random
import zlib

import torch

torch.set_num_threads(1)

SEED = 20261130
GENERATOR = "scripts/generators/gen_composed.py"
FORMAT_VERSION = "1.1"  # features edge-case, empty-batch and the config field empty_batch are 1.1's
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "composed", "conventions.json")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def num(v):
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def tensor(dtype, shape, data):
    return {"dtype": dtype, "shape": list(shape), "data": [num(float(v)) for v in data]}


def config(**over):
    """PyTorch's BatchNorm defaults, with the options under test set."""
    c = {
        "axis": 1, "epsilon": 1e-5, "epsilon_floor": 0.0, "epsilon_placement": "inside", "momentum": 0.1,
        "momentum_kind": "new", "running_variance": "bessel", "affine": True, "track_running_stats": True,
        "single_value_training": "error", "zero_variance_invstd": "ieee", "empty_batch": "unchanged",
    }
    c.update(over)
    return c


def outside_step(dt, cfg, mode, x, dy, gamma, beta, rm, rv):
    """One call with epsilon outside the root: y = gamma (x - mean) / (sqrt(var) + eps) + beta, in dtype dt."""
    shape = list(x.shape)
    dims = [d for d in range(x.dim()) if d != 1]
    bshape = [shape[1] if d == 1 else 1 for d in range(x.dim())]
    leaf = lambda t: t.detach().clone().to(dt).requires_grad_(True)
    x, g, b = leaf(x), leaf(gamma), leaf(beta)
    eps = cfg["epsilon"]
    out = {}
    if mode == "train":
        # Corrected two-pass, as compose_torch.py does: deviations from the unrounded mean m0 + mean(x - m0).
        m0 = x.mean(dim=dims, keepdim=True)
        corr = (x - m0).mean(dim=dims, keepdim=True)
        centered = (x - m0) - corr
        mean = m0 + corr
        var = (centered ** 2).mean(dim=dims, keepdim=True)
    else:
        mean, var = rm.to(dt).reshape(bshape), rv.to(dt).reshape(bshape)
        centered = x - mean
    invstd = 1 / (torch.sqrt(var) + eps)
    y = centered * invstd * g.reshape(bshape) + b.reshape(bshape)
    out["y"] = y
    if mode == "train":
        n = x.numel() // shape[1]
        m = cfg["momentum"]
        out["batch_mean"], out["batch_var"], out["saved_invstd"] = mean, var, invstd
        out["running_mean"] = (1 - m) * rm.to(dt) + m * mean.detach().flatten()
        out["running_var"] = (1 - m) * rv.to(dt) + m * var.detach().flatten() * (n / (n - 1))
    (y * dy.to(dt)).sum().backward()
    out["dx"], out["dgamma"], out["dbeta"] = x.grad, g.grad, b.grad
    return {k: v.detach().flatten().tolist() for k, v in out.items()}


def outside_case(name, description, dtype, shape, modes, eps):
    seed = SEED ^ zlib.crc32(name.encode())
    rng = random.Random(seed)
    C = shape[1]
    count = 1
    for d in shape:
        count *= d
    inner = count // (shape[0] * C)
    f = lambda vals: torch.tensor(vals, dtype=torch.float64).to(DTYPES[dtype]).to(torch.float64)  # dtype values
    gamma = f([rng.uniform(0.5, 1.5) for _ in range(C)])
    beta = f([rng.gauss(0, 0.5) for _ in range(C)])
    rm, rv = f([rng.gauss(0, 1) for _ in range(C)]), f([rng.uniform(0.5, 2.0) for _ in range(C)])
    cfg = config(epsilon=eps, epsilon_placement="outside")
    initial = {k: tensor(dtype, [C], v.tolist()) for k, v in (("gamma", gamma), ("beta", beta), ("running_mean", rm), ("running_var", rv))}
    initial["num_batches_tracked"] = 0
    means = [rng.gauss(0, 2) for _ in range(C)]
    stds = [rng.uniform(0.1, 2.0) for _ in range(C)]
    steps, tracked = [], 0
    for mode in modes:
        x = f([rng.gauss(means[(i // inner) % C], stds[(i // inner) % C]) for i in range(count)]).reshape(shape)
        dy = f([rng.gauss(0, 1) for _ in range(count)]).reshape(shape)
        own = outside_step(DTYPES[dtype], cfg, mode, x, dy, gamma, beta, rm, rv)
        twin = outside_step(torch.float64, cfg, mode, x, dy, gamma, beta, rm, rv)
        pack = lambda r, dt: {k: tensor(dt, shape if k in ("y", "dx") else [C], v) for k, v in r.items()}
        expected = pack(own, dtype)
        if mode == "train":
            tracked += 1
            expected["num_batches_tracked"] = tracked
        step = {"mode": mode, "inputs": {"x": tensor(dtype, shape, x.flatten().tolist()), "dy": tensor(dtype, shape, dy.flatten().tolist())},
                "expected": expected}
        if dtype != "float64":
            step["expected_float64"] = pack(twin, "float64")
        steps.append(step)
        if mode == "train":
            # The next step starts from the recorded state (FORMAT.md, "Running a case"), as the twin was computed.
            rm, rv = f(own["running_mean"]), f(own["running_var"])
    features = ["epsilon-placement", "epsilon-value", "backward"]
    features += [f for f, on in (("training", "train" in modes), ("inference", "eval" in modes), ("multi-step", len(modes) > 1)) if on]
    return {
        "name": name, "description": description, "features": features,
        "api": "composed: y = gamma (x - mean) / (sqrt(var) + epsilon) + beta, PyTorch ops and autograd",
        "seed": seed, "dtype": dtype, "config": cfg, "initial_state": initial, "steps": steps,
    }


def empty_batch_case():
    name = "composed empty batch refused (empty_batch error) float32 0x3 train, then eval on the unchanged state"
    seed = SEED ^ zlib.crc32(name.encode())
    rng = random.Random(seed)
    f = lambda vals: torch.tensor(vals, dtype=torch.float32).to(torch.float64)
    gamma, beta = f([rng.uniform(0.5, 1.5) for _ in range(3)]), f([rng.gauss(0, 0.5) for _ in range(3)])
    rm, rv = f([rng.gauss(0, 1) for _ in range(3)]), f([rng.uniform(0.5, 2.0) for _ in range(3)])
    x = f([rng.gauss(0, 1) for _ in range(6)]).reshape(2, 3)
    cfg = config(empty_batch="error")

    def inference(dt):
        y = (x.to(dt) - rm.to(dt)) * torch.rsqrt(rv.to(dt) + cfg["epsilon"]) * gamma.to(dt) + beta.to(dt)
        return y.flatten().tolist()

    return {
        "name": name,
        "description": "Training on an empty batch under empty_batch \"error\" is refused with the code empty_batch, and "
        "the refused call changes nothing: the following eval step normalizes with the initial running statistics "
        "(num_batches_tracked is not incremented either). Composed: no framework here refuses an empty batch.",
        "features": ["empty-batch", "expected-error", "edge-case", "inference"],
        "api": "composed: refusal of an empty training batch; eval y = (x - running_mean) / sqrt(running_var + eps) gamma + beta",
        "seed": seed, "dtype": "float32", "config": cfg,
        "initial_state": {"gamma": tensor("float32", [3], gamma.tolist()), "beta": tensor("float32", [3], beta.tolist()),
                          "running_mean": tensor("float32", [3], rm.tolist()), "running_var": tensor("float32", [3], rv.tolist()),
                          "num_batches_tracked": 0},
        "steps": [
            {"mode": "train", "inputs": {"x": tensor("float32", [0, 3], [])},
             "expected_error": {"code": "empty_batch", "type": "(composed: no framework here refuses)",
                                "message": "empty_batch \"error\": batch statistics need at least one value per channel"}},
            {"mode": "eval", "inputs": {"x": tensor("float32", [2, 3], x.flatten().tolist())},
             "expected": {"y": tensor("float32", [2, 3], inference(torch.float32))},
             "expected_float64": {"y": tensor("float64", [2, 3], inference(torch.float64))}},
        ],
    }


def main():
    cases = [
        outside_case("composed epsilon outside float64 4x3 train x2 then eval, epsilon 0.1",
                     "Epsilon outside the root, (x - mean) / (sqrt(var) + eps), with an epsilon large enough (0.1) that the "
                     "placement moves every output: y, saved_invstd = 1/(sqrt(var) + eps), the running statistics "
                     "(PyTorch's momentum 0.1 and Bessel factor) and the gradients through sqrt(var).",
                     "float64", [4, 3], ["train", "train", "eval"], 0.1),
        outside_case("composed epsilon outside float32 2x3x4 train then eval, epsilon 1e-3",
                     "Epsilon outside the root in float32 (the composition run in float32 ops, beside its float64 twin): "
                     "epsilon 1e-3 against standard deviations from 0.1 to 2.",
                     "float32", [2, 3, 4], ["train", "eval"], 1e-3),
        empty_batch_case(),
    ]
    doc = {
        "format": "batchnorm-conformance-fixture",
        "format_version": FORMAT_VERSION,
        "provenance": {
            "source": "composed",
            "framework": "PyTorch float64 (and float32) tensor operations",
            "version": torch.__version__,
            "api": "composition of the conventions in fixtures/FORMAT.md: epsilon outside the root, refusal of an empty batch",
            "generator": GENERATOR,
            "command": "deno task fixtures",
            "seed": SEED,
            "composed": True,
            "environment": f"Debian python3-torch {torch.__version__}, CPU, 1 thread",
            "notes": [
                "No framework run here exercises epsilon_placement \"outside\" or empty_batch \"error\"; these cases are "
                "composed so that an implementation declaring those options is judged on something.",
                "Gradients with epsilon outside are torch.autograd's of sum(y * dy) through sqrt(var), as FORMAT.md states them.",
            ],
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2, allow_nan=False)
        fh.write("\n")
    os.replace(tmp, OUT)
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
