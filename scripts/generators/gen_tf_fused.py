#!/usr/bin/env python3
"""TensorFlow's fused BatchNorm kernel as TensorFlow <= 2.11 ran it, COMPOSED.

Since real TensorFlow 2.21 runs here (scripts/gen_tensorflow.py, fixtures/tensorflow/), this file keeps only the cases
that no real run can witness: those where TensorFlow <= 2.11's Python wrapper raised epsilon to 1.001e-5 (the floor
is gone from nn_impl.py in 2.12.0; 2.11 is not installed here). The other composed cases were retired once
tests/tf_composer_test.ts showed the composer agreeing with the real kernel on the real fixtures' inputs.

Writes fixtures/tensorflow-composed/fused_batch_norm.json. Every expected value is
computed by PyTorch float64 tensor operations and autograd (scripts/generators/compose_torch.py),
following TensorFlow's code:

- tensorflow/python/ops/nn_impl.py, fused_batch_norm: `min_epsilon = 1.001e-5;
  epsilon = epsilon if epsilon > min_epsilon else min_epsilon`.
- tensorflow/core/ops/nn_ops.cc, FusedBatchNormV3: `epsilon` and
  `exponential_avg_factor` are `float` attributes, i.e. float32.
- tensorflow/core/kernels/fused_batch_norm_op.cc (CPU, training): mean and biased
  variance normalize, y = (x - mean) * rsqrt(var + epsilon) * scale + offset;
  `rest_size_adjust = rest_size / max(rest_size - 1, 1)` scales the variance that
  enters the running average; running = (1 - factor) * running + factor * batch.
- Keras 2 (keras/layers/normalization/batch_normalization.py, v2.15) uses the fused
  kernel for rank-4/5 inputs and passes exponential_avg_factor = 1 - momentum.

Inputs come from Python's random.Random seeded per case; runs reproduce byte for byte.
"""

import os
import random
import struct
import zlib

import torch

from compose_torch import compose
from gen_pytorch import SEED, dump, write_atomic

GENERATOR = "scripts/generators/gen_tf_fused.py"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "tensorflow-composed")


def fround(v):
    return struct.unpack("f", struct.pack("f", v))[0]


MIN_EPSILON = 1.001e-5


def tensor(shape, data):
    return {"dtype": "float64", "shape": list(shape), "data": [float(v) for v in data]}


def case(name, description, features, shape, axis, steps, epsilon=1e-3, momentum=0.99, factor=None, x_fn=None, init=None, scenario=None):
    """A sequence of fused-kernel calls. `factor` overrides exponential_avg_factor (default 1 - momentum).

    x_fn(rng, count, channel_of) overrides the inputs; init overrides initial per-channel state."""
    seed = SEED ^ zlib.crc32(name.encode())
    rng = random.Random(seed)
    rank = len(shape)
    ax = axis % rank
    C = shape[ax]
    count = 1
    for d in shape:
        count *= d
    kernel_epsilon = fround(epsilon if epsilon > MIN_EPSILON else MIN_EPSILON)
    kernel_factor = fround(1 - momentum if factor is None else factor)
    gamma = [rng.uniform(0.5, 1.5) for _ in range(C)]
    beta = [rng.gauss(0, 0.5) for _ in range(C)]
    mean = [0.0] * C
    var = [1.0] * C
    means = [rng.gauss(0, 2) for _ in range(C)]
    stds = [rng.uniform(0.5, 2.0) for _ in range(C)]
    inner = 1
    for d in shape[ax + 1:]:
        inner *= d
    init = init or {}
    gamma, beta = init.get("gamma", gamma), init.get("beta", beta)
    mean, var = init.get("mean", mean), init.get("var", var)
    initial = {"gamma": tensor([C], gamma), "beta": tensor([C], beta), "running_mean": tensor([C], mean), "running_var": tensor([C], var)}
    out_steps = []
    for mode in steps:
        channel_of = lambda i: (i // inner) % C
        x = x_fn(rng, count, channel_of) if x_fn else [rng.gauss(means[channel_of(i)], stds[channel_of(i)]) for i in range(count)]
        dy = [rng.gauss(0, 1) for _ in range(count)]
        r = compose({
            "shape": shape, "x": x, "axis": axis, "mode": mode, "epsilon": kernel_epsilon, "gamma": gamma, "beta": beta,
            "mean": mean, "var": var, "new_weight": kernel_factor, "var_factor": "bessel-clamped", "dy": dy,
        })
        expected = {}
        for k in ["y", "batch_mean", "batch_var", "running_mean", "running_var", "dx", "dgamma", "dbeta"]:
            if k in r:
                expected[k] = tensor(shape if k in ("y", "dx") else [C], r[k])
        out_steps.append({"mode": mode, "inputs": {"x": tensor(shape, x), "dy": tensor(shape, dy)}, "expected": expected})
        if mode == "train":
            mean, var = r["running_mean"], r["running_var"]
    return {
        "name": name,
        "description": description,
        "features": features,
        "api": "tf.compat.v1.nn.fused_batch_norm / FusedBatchNormV3 CPU kernel (composed)",
        "seed": seed,
        "dtype": "float64",
        "config": {
            "axis": axis,
            "epsilon": fround(epsilon),
            "epsilon_floor": fround(MIN_EPSILON),
            "epsilon_placement": "inside",
            "momentum": kernel_factor,
            "momentum_kind": "new",
            "running_variance": "bessel-clamped",
            "affine": True,
            "track_running_stats": True,
            "single_value_training": "allow",
            "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {
            "epsilon_passed": epsilon,
            "epsilon_attribute": kernel_epsilon,
            "exponential_avg_factor_attribute": kernel_factor,
            "data_format": "NCHW" if ax == 1 and rank > 2 else ("NDHWC" if rank == 5 else "NHWC"),
            **({"scenario": scenario} if scenario else {}),
        },
    }


SEQ = ["train", "train", "train", "eval"]

PROVENANCE = {
    "source": "tensorflow-composed",
    "framework": "TensorFlow FusedBatchNormV3 CPU kernel, composed with PyTorch float64 ops",
    "version": f"TensorFlow <= 2.11 semantics (the epsilon floor, dropped in 2.12.0); arithmetic by PyTorch {torch.__version__}",
    "api": "composition of tf.compat.v1.nn.fused_batch_norm (nn_impl.py) and FusedBatchNormV3 (fused_batch_norm_op.cc)",
    "generator": GENERATOR,
    "command": "deno task fixtures",
    "seed": SEED,
    "composed": True,
    "environment": f"Debian python3-torch {torch.__version__}, CPU, 1 thread, float64",
    "notes": [
        "COMPOSED, for TensorFlow <= 2.11: its Python wrapper raised epsilon to 1.001e-5 (nn_impl.py up to 2.11.0; "
        "gone from 2.12.0, tensorflow/tensorflow#37768). Real TensorFlow 2.21 runs are in fixtures/tensorflow/; 2.11 is "
        "not installed here, so these cases, the ones the floor changes, are composed: each expected value is computed "
        "with PyTorch float64 tensor operations and autograd following TensorFlow's code, cited in "
        "scripts/generators/gen_tf_fused.py: the epsilon clamp, float32 attributes epsilon and exponential_avg_factor, and "
        "fused_batch_norm_op.cc's rest_size_adjust = n / max(n - 1, 1). tests/tf_composer_test.ts checks the same "
        "composer against the real 2.21 kernel.",
        "The cases are float64: what is composed is the kernel's formula, not its float32 rounding.",
        "batch_var here is the biased variance used to normalize; the op's own batch_variance output is already "
        "multiplied by rest_size_adjust.",
    ],
}



def cases():
    return [
        case("tensorflow <= 2.11 fused (composed) float64 2x4x5x3 NHWC Keras 2 defaults train x3 then eval",
             "Keras 2's fused path with its defaults: momentum 0.99 passed as exponential_avg_factor = 1 - 0.99 (a float32 "
             "attribute), epsilon 1e-3 (float32 attribute). Running variance: batch variance times n/max(n-1, 1), n = 40.",
             ["training", "inference", "multi-step", "backward"], [2, 4, 5, 3], -1, SEQ),
        case("tensorflow <= 2.11 fused (composed) float64 2x2x3x2x3 NDHWC rank 5 train x3 then eval",
             "Rank 5 (3D convolutions): the fused kernel takes it; statistics over N, D, H, W.",
             ["training", "inference", "multi-step", "backward"], [2, 2, 3, 2, 3], -1, SEQ),
        case("tensorflow <= 2.11 fused (composed) float64 2x3x4x5 NCHW data_format train x3 then eval",
             "data_format NCHW: the channel is axis 1 (the CPU kernel transposes to NHWC and back).",
             ["training", "inference", "multi-step", "backward"], [2, 3, 4, 5], 1, SEQ),
        case("tensorflow <= 2.11 fused (composed) float64 2x4x5x3 NHWC epsilon=1e-6 clamped to 1.001e-5",
             "The Python wrapper raises epsilon to 1.001e-5 (a cuDNN requirement) before the op sees it: config records the "
             "requested 1e-6 and the floor.",
             ["training", "inference", "multi-step", "backward", "epsilon-value"], [2, 4, 5, 3], -1, SEQ, epsilon=1e-6),
        case("tensorflow <= 2.11 fused (composed) float64 2x4x5x3 NHWC exponential_avg_factor=1",
             "exponential_avg_factor 1, tf.nn.fused_batch_norm's own default: the running statistics become the batch's "
             "(Bessel-corrected variance) at every call.",
             ["training", "inference", "multi-step", "backward", "momentum-extreme"], [2, 4, 5, 3], -1, SEQ, factor=1.0),
        case("tensorflow <= 2.11 fused (composed) float64 1x1x1x3 one value per channel",
             "One value per channel: variance 0, y = offset, and n/max(n-1, 1) = 1, so the running variance decays toward 0 "
             "without a NaN (the CPU kernel's rest_size_adjust).",
             ["training", "inference", "backward", "batch-size-1", "single-value-per-channel"], [1, 1, 1, 3], -1, ["train", "eval"]),
    ]


def edge_cases():
    """The edge-case matrix's scenarios, composed (float64, NHWC): the kernel's formulas at the limits."""
    def constant(rng, count, channel_of):
        return [3.0 if channel_of(i) == 0 else rng.gauss(0, 1) for i in range(count)]

    def poke(value):
        def fn(rng, count, channel_of):
            xs = [rng.gauss(0, 1) for _ in range(count)]
            first = next(i for i in range(count) if channel_of(i) == 0)
            xs[first] = value
            return xs
        return fn

    def spread(center, scale):
        return lambda rng, count, channel_of: [center + scale * rng.gauss(0, 1) for _ in range(count)]

    E = ["edge-case"]
    nan, inf = float("nan"), float("inf")

    def edge(scenario, description, features, shape, steps, **kw):
        return case(f"tensorflow <= 2.11 fused (composed) edge float64 {'x'.join(map(str, shape))} {scenario}", description,
                    E + features, shape, -1, steps, scenario=scenario, **kw)
    return [
        edge("n1-spatial", "N = 1 with 4 values per channel.", ["batch-size-1", "training", "inference", "backward"], [1, 2, 2, 2], ["train", "eval"]),
        edge("one-value-train", "One value per channel: variance 0, y = offset, n/max(n-1,1) = 1.", ["batch-size-1", "single-value-per-channel", "training", "backward"], [1, 1, 1, 2], ["train"]),
        edge("one-value-eval", "One value per channel in inference: normal.", ["batch-size-1", "inference", "backward"], [1, 1, 1, 3], ["eval"]),
        edge("constant-channel", "Channel 0 constant: y = offset exactly, dx = scale/sqrt(eps)*(dy - mean(dy)).", ["zero-variance", "training", "inference", "backward"], [4, 1, 3, 2], ["train", "eval"], x_fn=constant),
        edge("constant-channel-eps0", "Epsilon 0 requested: the Python wrapper raises it to 1.001e-5, so a constant channel gives y = offset, no NaN.",
             ["zero-variance", "epsilon-value", "training", "backward"], [4, 1, 3, 2], ["train"], x_fn=constant, epsilon=0.0),
        edge("momentum-negative", "Keras momentum -0.5: exponential_avg_factor 1.5 (weight of the new value).", ["momentum-out-of-range", "training", "multi-step", "backward"], [6, 1, 1, 2], ["train", "train"], momentum=-0.5),
        edge("momentum-above-1", "Keras momentum 1.5: exponential_avg_factor -0.5.", ["momentum-out-of-range", "training", "multi-step", "backward"], [6, 1, 1, 2], ["train", "train"], momentum=1.5),
        edge("nan-x", "One NaN in channel 0.", ["non-finite", "training", "backward"], [4, 1, 3, 2], ["train"], x_fn=poke(nan)),
        edge("inf-x", "One +Infinity in channel 0.", ["non-finite", "training", "backward"], [4, 1, 3, 2], ["train"], x_fn=poke(inf)),
        edge("nan-gamma-inf-var-eval", "Inference with scale[0] NaN and variance[1] Infinity.", ["non-finite", "inference", "backward"], [4, 1, 1, 2], ["eval"],
             init={"gamma": [nan, 1.0], "var": [1.0, inf]}),
        edge("nan-running-mean-train", "Training with running mean[0] NaN.", ["non-finite", "training", "backward"], [4, 1, 1, 2], ["train"], init={"mean": [nan, 0.0]}),
        edge("large-mean", "x = 1e4 + 1e-3*noise, composed in float64 (no float32 kernel runs here).", ["large-mean", "training", "inference", "backward"], [64, 1, 1, 2], ["train", "eval"], x_fn=spread(1e4, 1e-3)),
        edge("empty-batch", "N = 0: NaN batch statistics, so the running statistics become NaN.", ["empty-batch", "training", "inference"], [0, 1, 1, 3], ["train", "eval"]),
        edge("one-channel", "C = 1.", ["channel-count", "training", "inference", "backward"], [8, 1, 1, 1], ["train", "eval"]),
        edge("many-channels", "C = 256 with N = 4.", ["channel-count", "training", "inference", "backward"], [4, 1, 1, 256], ["train", "eval"]),
        edge("eps-1e-8", "Epsilon 1e-8 requested: clamped to 1.001e-5.", ["epsilon-value", "training", "backward"], [6, 1, 1, 2], ["train"], epsilon=1e-8),
    ]


def document(cs):
    return {
        "format": "batchnorm-conformance-fixture",
        "format_version": "1.1",
        "provenance": PROVENANCE,
        "cases": cs,
    }


# The cases whose result the floor changes; the rest were retired for the real TensorFlow 2.21 runs.
FLOOR_CASES = ("epsilon=1e-6 clamped", "constant-channel-eps0", "eps-1e-8")


def main():
    os.makedirs(OUT, exist_ok=True)
    edges = [c for c in edge_cases() if any(k in c["name"] for k in FLOOR_CASES)]
    write_atomic(os.path.join(OUT, "edge_cases.json"), dump(document(edges)) + "\n")
    print(f"fixtures/tensorflow-composed/edge_cases.json: {len(edges)} cases")
    cs = [c for c in cases() if any(k in c["name"] for k in FLOOR_CASES)]
    doc = {
        "format": "batchnorm-conformance-fixture",
        "format_version": "1.1",
        "provenance": PROVENANCE,
        "cases": cs,
    }
    write_atomic(os.path.join(OUT, "fused_batch_norm.json"), dump(doc) + "\n")
    print(f"fixtures/tensorflow-composed/fused_batch_norm.json: {len(cs)} cases")


if __name__ == "__main__":
    main()
