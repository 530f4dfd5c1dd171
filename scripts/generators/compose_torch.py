#!/usr/bin/env python3
"""BatchNorm calls composed from PyTorch float64 tensor operations and autograd.

For conventions with no runnable float64 framework here: the float64 twins of TF.js
cases (TF.js has float32 kernels only) and TensorFlow's fused kernel (no Python
TensorFlow here). Each call is evaluated with torch float64 ops following the cited
framework code; nothing comes from this project's TypeScript reference.

As a filter: reads a JSON list of calls on stdin, writes a JSON list of results.
A call: {"shape", "x", "axis", "mode": "train"|"eval", "epsilon", "gamma", "beta"
(null when absent), "mean", "var", "new_weight" (weight of the batch value in the
running update), "var_factor": "biased"|"bessel-clamped", "dy" (or null)}.
A result: {"y", "batch_mean", "batch_var", "running_mean", "running_var", "dx",
"dgamma", "dbeta"} as flat float64 lists (absent when not applicable).

Formulas:
  training:  mean, var = batch mean (corrected two-pass) and biased variance over every axis but `axis`;
  inference: mean, var = the given running statistics;
  y = (x - mean) * rsqrt(var + epsilon) * gamma + beta      (TF.js tf.batchNorm,
      tfjs-backend-cpu BatchNorm.ts; TF FusedBatchNormV3, fused_batch_norm_op.cc)
  running = (1 - w) * running + w * batch, batch variance times n/max(n-1, 1) for
      "bessel-clamped" (fused_batch_norm_op.cc rest_size_adjust)
  gradients: torch.autograd of sum(y * dy), through the batch statistics in training.
"""

import json
import sys

import torch

torch.set_num_threads(1)


def compose(call):
    shape = call["shape"]
    n_total = 1
    for d in shape:
        n_total *= d
    axis = call["axis"] % len(shape)
    dims = [d for d in range(len(shape)) if d != axis]
    bshape = [shape[d] if d == axis else 1 for d in range(len(shape))]
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)
    x = f64(call["x"]).reshape(shape).requires_grad_(True)
    gamma = None if call["gamma"] is None else f64(call["gamma"]).requires_grad_(True)
    beta = None if call["beta"] is None else f64(call["beta"]).requires_grad_(True)
    out = {}
    if call["mode"] == "train" and n_total == 0:
        # An empty batch: statistics 0 (TF.js) or NaN (TensorFlow's kernels), per the call's empty_batch.
        fill = 0.0 if call.get("empty_batch") == "zero" else float("nan")
        mean = torch.full(bshape, fill, dtype=torch.float64)
        var = torch.full(bshape, fill, dtype=torch.float64)
        out["batch_mean"] = mean
        out["batch_var"] = var
    elif call["mode"] == "train":
        # A composed expectation claims to be the formula's value, so deviations are taken from the unrounded mean
        # m0 + corr, corr = mean(x - m0), as (x - m0) - corr: rounding the mean of 1e4-sized values to float64 alone
        # costs 1e-12, i.e. 3e-11 in y when the spread is 1e-3. Identities, so autograd is unchanged. A non-finite
        # m0 (an infinite input) is left as it is.
        mean0 = x.mean(dim=dims, keepdim=True)
        finite = torch.isfinite(mean0)
        corr = torch.where(finite, (x - torch.where(finite, mean0, 0.0)).mean(dim=dims, keepdim=True), torch.zeros_like(mean0))
        centered = (x - mean0) - corr
        mean = mean0 + corr
        var = (centered ** 2).mean(dim=dims, keepdim=True)
        out["batch_mean"] = mean
        out["batch_var"] = var
    else:
        mean = f64(call["mean"]).reshape(bshape)
        var = f64(call["var"]).reshape(bshape)
    if call["mode"] != "train" or n_total == 0:
        centered = x - mean
    y = centered * torch.rsqrt(var + call["epsilon"])
    if gamma is not None:
        y = y * gamma.reshape(bshape)
    if beta is not None:
        y = y + beta.reshape(bshape)
    out["y"] = y
    if call["mode"] == "train" and call.get("new_weight") is not None:
        n = x.numel() // shape[axis]
        factor = n / max(n - 1, 1) if call["var_factor"] == "bessel-clamped" else 1.0
        w = call["new_weight"]
        out["running_mean"] = (1 - w) * f64(call["mean"]) + w * mean.detach().flatten()
        out["running_var"] = (1 - w) * f64(call["var"]) + w * (var.detach().flatten() * factor)
    if call.get("dy") is not None:
        (y * f64(call["dy"]).reshape(shape)).sum().backward()
        out["dx"] = x.grad
        if gamma is not None:
            out["dgamma"] = gamma.grad
        if beta is not None:
            out["dbeta"] = beta.grad
    return {k: v.detach().flatten().tolist() for k, v in out.items()}


NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def decode(v):
    """JSON has no NaN or infinities: the pipe carries them as the strings of the fixture format."""
    if isinstance(v, str) and v in NONFINITE:
        return NONFINITE[v]
    if isinstance(v, list):
        return [decode(e) for e in v]
    if isinstance(v, dict):
        return {k: decode(e) for k, e in v.items()}
    return v


def encode(v):
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, list):
        return [encode(e) for e in v]
    if isinstance(v, dict):
        return {k: encode(e) for k, e in v.items()}
    return v


def main():
    calls = decode(json.load(sys.stdin))
    json.dump(encode([compose(c) for c in calls]), sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
