#!/usr/bin/env python3
"""Golden BatchNorm fixtures from real TensorFlow 2.21 and tf-keras 2.21 (CPU), run in .venv/.

Run by `deno task fixtures` with .venv/bin/python (installed by `bash scripts/cli/setup_venv.sh` from requirements.txt);
`--check` compares with the files instead of writing them (tests/witnesses_test.ts).
Writes fixtures/tensorflow/*.json and fixtures/tf-keras/*.json in the format of fixtures/FORMAT.md. Every `expected`
value is what TensorFlow computed here; nothing comes from this project's TypeScript reference.

- fixtures/tensorflow/fused_batch_norm.json and edge_cases.json: `tf.compat.v1.nn.fused_batch_norm` (the op
  FusedBatchNormV3; its reserve spaces give the batch statistics), gradients by tf.GradientTape. float32 only: the op
  has no float64 kernel, and float16/bfloat16 data need float32 scale, offset and statistics (mixed precision, which
  format 1.1 cannot express: recorded in provenance `unsupported`, issue 19).
- fixtures/tensorflow/moments.json: `tf.nn.moments` + `tf.nn.batch_normalization`, float32 and float64.
- fixtures/tf-keras/batch_normalization.json: `tf_keras.layers.BatchNormalization` (Keras 2), its fused path (rank 4,
  Bessel factor n/max(n-1, 1) on the moving variance) and its non-fused path (rank 2, biased).

The float64 twins of float32 cases (`expected_float64`) are TensorFlow float64 ops, not the same kernel (there is none in
float64): tf.nn.moments, then (x - mean) * rsqrt(var + epsilon) * scale + offset, the formula of
fused_batch_norm_op.cc, gradients by tf.GradientTape; running statistics (1 - f) * r + f * batch, the batch variance
times n / max(n - 1, 1). Where the twin is the same public call in float64 (tf.nn.moments + tf.nn.batch_normalization,
tf-keras's non-fused layer), it is that call.

Determinism: oneDNN is OFF (TF_ENABLE_ONEDNN_OPTS=0, set before TensorFlow is imported): the Eigen kernels, whose code
path is fixed when the wheel is compiled; oneDNN picks its code path by the CPU's instruction set at run time. One intra-op and one inter-op thread, op determinism enabled. Inputs from Python's random.Random seeded per case
with SEED ^ crc32(name), as scripts/generators/gen_pytorch.py does; numbers as shortest round-trip repr; atomic writes.
"""

import os

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import random  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from _fixture_json import document, emit, finish  # noqa: E402
from _witness_common import document_1_3  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

SEED = 20261122
GENERATOR = "scripts/generators/gen_tensorflow.py"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")
NP = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": tf.bfloat16.as_numpy_dtype}
ONEDNN = "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0): Eigen CPU kernels"


def fround(v):
    return struct.unpack("f", struct.pack("f", v))[0]


def prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def tensor(dtype, shape, values):
    return {"dtype": dtype, "shape": list(shape), "data": [float(v) for v in np.asarray(values, dtype=np.float64).flatten()]}


def enc(t, dtype):
    a = t.numpy() if hasattr(t, "numpy") else np.asarray(t)
    return tensor(dtype, a.shape, a.astype(np.float64))


def seed_of(name):
    return SEED ^ zlib.crc32(name.encode())


# ---------------------------------------------------------------- inputs


class Channels:
    """Per-case channel statistics and the input generator for a layout whose channel axis is `axis`."""

    def __init__(self, rng, shape, axis):
        self.rng, self.shape = rng, list(shape)
        self.ax = axis % len(shape)
        self.C = shape[self.ax]
        self.inner = prod(shape[self.ax + 1:])
        self.means = [rng.gauss(0, 2) for _ in range(self.C)]
        self.stds = [rng.uniform(0.5, 2.0) for _ in range(self.C)]

    def channel_of(self, i):
        return (i // self.inner) % self.C

    def x(self, x_fn=None):
        n = prod(self.shape)
        if x_fn:
            return x_fn(self.rng, n, self.channel_of)
        return [self.rng.gauss(self.means[self.channel_of(i)], self.stds[self.channel_of(i)]) for i in range(n)]

    def dy(self):
        return [self.rng.gauss(0, 1) for _ in range(prod(self.shape))]


def as_dtype(values, shape, dtype):
    return np.asarray(values, dtype=np.float64).astype(NP[dtype]).reshape(shape)


# ---------------------------------------------------------------- float64 twin (TF float64 ops)


def twin(x, dy, state, mode, eps, factor, axis, affine=True, bessel=True, momentum_old=None):
    """The kernel's formula in TF float64 ops, from this step's state widened exactly; gradients by GradientTape."""
    x = tf.constant(np.asarray(x, np.float64))
    rank = len(x.shape)
    ax = axis % rank
    red = [d for d in range(rank) if d != ax]
    bshape = [x.shape[d] if d == ax else 1 for d in range(rank)]
    gamma = tf.constant(np.asarray(state["gamma"], np.float64)) if affine else None
    beta = tf.constant(np.asarray(state["beta"], np.float64)) if affine else None
    out = {}
    with tf.GradientTape() as g:
        g.watch(x)
        if affine:
            g.watch([gamma, beta])
        if mode == "train":
            mean, var = tf.nn.moments(x, red, keepdims=True)
            out["batch_mean"], out["batch_var"] = tf.reshape(mean, [-1]), tf.reshape(var, [-1])
        else:
            mean = tf.reshape(tf.constant(np.asarray(state["running_mean"], np.float64)), bshape)
            var = tf.reshape(tf.constant(np.asarray(state["running_var"], np.float64)), bshape)
        y = (x - mean) * tf.math.rsqrt(var + eps)
        if affine:
            y = y * tf.reshape(gamma, bshape) + tf.reshape(beta, bshape)
        loss = tf.reduce_sum(y * dy) if dy is not None else None
    out["y"] = y
    if dy is not None:
        grads = g.gradient(loss, [x] + ([gamma, beta] if affine else []))
        out["dx"] = grads[0]
        if affine:
            out["dgamma"], out["dbeta"] = grads[1], grads[2]
    if mode == "train" and state.get("running_mean") is not None:
        n = prod(x.shape) // x.shape[ax]
        adjust = n / max(n - 1, 1) if bessel else 1.0
        rm = np.asarray(state["running_mean"], np.float64)
        rv = np.asarray(state["running_var"], np.float64)
        bm = out["batch_mean"].numpy()
        bv = out["batch_var"].numpy() * adjust
        if momentum_old is None:
            out["running_mean"] = (1 - factor) * rm + factor * bm
            out["running_var"] = (1 - factor) * rv + factor * bv
        else:
            out["running_mean"] = momentum_old * rm + (1 - momentum_old) * bm
            out["running_var"] = momentum_old * rv + (1 - momentum_old) * bv
    return {k: enc(v, "float64") for k, v in out.items()}


# ---------------------------------------------------------------- FusedBatchNormV3


def fused_step(x, dy, state, mode, eps, factor, data_format, dt="float32"):
    """One tf.compat.v1.nn.fused_batch_norm call with its gradient; the raw op gives the reserve spaces.

    dt: the data's dtype (x, dy, y, dx); scale, offset, the statistics and their gradients are float32 (attribute U)."""
    xt = tf.constant(x)
    scale, offset = tf.constant(state["gamma"]), tf.constant(state["beta"])
    mean, var = tf.constant(state["running_mean"]), tf.constant(state["running_var"])
    training = mode == "train"
    with tf.GradientTape() as g:
        g.watch([xt, scale, offset])
        y, rm, rv = tf.compat.v1.nn.fused_batch_norm(xt, scale, offset, mean, var, epsilon=eps, data_format=data_format,
                                                     is_training=training, exponential_avg_factor=factor if training else 1.0)
        loss = tf.reduce_sum(y * dy) if dy is not None else None
    out = {"y": enc(y, dt)}
    if training:
        raw = tf.raw_ops.FusedBatchNormV3(x=xt, scale=scale, offset=offset, mean=mean, variance=var, epsilon=eps,
                                          exponential_avg_factor=factor, data_format=data_format, is_training=True)
        assert np.array_equal(raw.y.numpy(), y.numpy(), equal_nan=True), "raw op and wrapper disagree"
        # CPU reserve spaces: the batch mean and the biased batch variance that normalized x. Not on an empty batch:
        # there the CPU kernel returns them uninitialized (different bits from run to run), a finding of its own.
        if x.size > 0:
            out["batch_mean"] = enc(raw.reserve_space_1, "float32")
            out["batch_var"] = enc(raw.reserve_space_2, "float32")
        out["running_mean"] = enc(rm, "float32")
        out["running_var"] = enc(rv, "float32")
    if dy is not None:
        dx, dscale, doffset = g.gradient(loss, [xt, scale, offset])
        out["dx"], out["dgamma"], out["dbeta"] = enc(dx, dt), enc(dscale, "float32"), enc(doffset, "float32")
    return out


def fused_config(axis, eps, factor):
    return {
        "axis": axis,
        "epsilon": eps,
        "epsilon_floor": 0.0,
        "epsilon_placement": "inside",
        "momentum": factor,
        "momentum_kind": "new",
        "running_variance": "bessel-clamped",
        "affine": True,
        "track_running_stats": True,
        "single_value_training": "allow",
        "zero_variance_invstd": "ieee",
        "empty_batch": "nan",
    }


def fused_setup(name, shape, axis, epsilon, factor, momentum, init=None):
    """What every fused case starts from: its seed and generator, epsilon and the factor as the op's float32
    attributes, the data format, γ and β drawn from the generator (running statistics 0 and 1 unless init says
    otherwise) in float32, and that initial state encoded."""
    seed = seed_of(name)
    rng = random.Random(seed)
    ax = axis % len(shape)
    C = shape[ax]
    eps = fround(epsilon)
    f = fround(1 - momentum if factor is None else factor)
    data_format = ("NCHW" if len(shape) == 4 else "NCDHW") if ax == 1 else ("NHWC" if len(shape) == 4 else "NDHWC")
    state = {
        "gamma": [rng.uniform(0.5, 1.5) for _ in range(C)],
        "beta": [rng.gauss(0, 0.5) for _ in range(C)],
        "running_mean": [0.0] * C,
        "running_var": [1.0] * C,
    }
    for k, v in (init or {}).items():
        state[k] = v
    state = {k: np.asarray(v, np.float64).astype(np.float32) for k, v in state.items()}
    initial = {k: enc(state[k], "float32") for k in ["gamma", "beta", "running_mean", "running_var"]}
    return seed, rng, eps, f, data_format, state, initial


def fused_case(name, description, features, shape, axis, steps, epsilon=1e-3, factor=None, momentum=0.99, x_fn=None,
               init=None, scenario=None, grads=True):
    """Calls of the fused op on float32 data. factor: exponential_avg_factor (default 1 - momentum, as Keras 2 passes)."""
    seed, rng, eps, f, data_format, state, initial = fused_setup(name, shape, axis, epsilon, factor, momentum, init)
    ch = Channels(rng, shape, axis)
    out_steps = []
    for mode in steps:
        x = as_dtype(ch.x(x_fn), shape, "float32")
        dy = as_dtype(ch.dy(), shape, "float32") if grads else None
        expected = fused_step(x, dy, state, mode, eps, f, data_format)
        step = {"mode": mode, "inputs": {"x": enc(x, "float32"), **({"dy": enc(dy, "float32")} if grads else {})},
                "expected": expected}
        tw = twin(x.astype(np.float64), None if dy is None else dy.astype(np.float64),
                  {k: v.astype(np.float64) for k, v in state.items()}, mode, eps, f, axis)
        step["expected_float64"] = {k: tw[k] for k in expected}
        out_steps.append(step)
        if mode == "train":
            state["running_mean"] = np.asarray(expected["running_mean"]["data"], np.float32)
            state["running_var"] = np.asarray(expected["running_var"]["data"], np.float32)
    return {
        "name": name,
        "description": description,
        "features": features + (["backward"] if grads and "backward" not in features else []),
        "api": "tf.compat.v1.nn.fused_batch_norm (FusedBatchNormV3)",
        "seed": seed,
        "dtype": "float32",
        "config": fused_config(axis, eps, f),
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {
            "op": "FusedBatchNormV3",
            "epsilon_passed": epsilon,
            "epsilon_attribute": eps,
            "exponential_avg_factor_attribute": f,
            "data_format": data_format,
            **({"scenario": scenario} if scenario else {}),
        },
    }


SEQ = ["train", "train", "train", "eval"]


def fused_cases():
    return [
        fused_case("tensorflow fused float32 2x4x5x3 NHWC Keras 2 defaults train x3 then eval",
                   "FusedBatchNormV3 as Keras 2 calls it with its defaults: exponential_avg_factor = 1 - 0.99 and "
                   "epsilon 1e-3 (float32 attributes). Running variance: batch variance times n/max(n-1, 1), n = 40.",
                   ["training", "inference", "multi-step"], [2, 4, 5, 3], -1, SEQ),
        fused_case("tensorflow fused float32 2x2x3x2x3 NDHWC rank 5 train x3 then eval",
                   "Rank 5 (3D convolutions): statistics over N, D, H, W.",
                   ["training", "inference", "multi-step"], [2, 2, 3, 2, 3], -1, SEQ),
        fused_case("tensorflow fused float32 2x3x4x5 NCHW data_format train x3 then eval",
                   "data_format NCHW: the channel is axis 1. The CPU kernel takes it (it transposes to NHWC and back).",
                   ["training", "inference", "multi-step"], [2, 3, 4, 5], 1, SEQ),
        fused_case("tensorflow fused float32 2x4x5x3 NHWC epsilon=1e-6 used as given (no 1.001e-5 floor since TF 2.12)",
                   "epsilon 1e-6 reaches the op unchanged: TensorFlow 2.21's wrapper has no floor (TF <= 2.11 raised it to "
                   "1.001e-5). With the floor, y would differ by about 5e-6 relative here.",
                   ["training", "inference", "multi-step", "epsilon-value"], [2, 4, 5, 3], -1, SEQ, epsilon=1e-6),
        fused_case("tensorflow fused float32 2x4x5x3 NHWC exponential_avg_factor=1",
                   "exponential_avg_factor 1, tf.nn.fused_batch_norm's own default: the running statistics become the "
                   "batch's (Bessel-corrected variance) at every call.",
                   ["training", "inference", "multi-step", "momentum-extreme"], [2, 4, 5, 3], -1, SEQ, factor=1.0),
        fused_case("tensorflow fused float32 1x1x1x3 one value per channel",
                   "One value per channel: variance 0, y = offset, and n/max(n-1, 1) = 1, so the running variance decays "
                   "toward 0 without a NaN (the CPU kernel's rest_size_adjust).",
                   ["training", "inference", "batch-size-1", "single-value-per-channel"], [1, 1, 1, 3], -1, ["train", "eval"]),
    ]


def edge_cases():
    """The README edge matrix's scenarios through the fused op: (N, C, L) inputs laid out as NHWC [N, 1, L, C]."""
    def constant(rng, count, channel_of):
        return [3.0 if channel_of(i) == 0 else rng.gauss(0, 1) for i in range(count)]

    def poke(value):
        def fn(rng, count, channel_of):
            xs = [rng.gauss(0, 1) for _ in range(count)]
            xs[next(i for i in range(count) if channel_of(i) == 0)] = value
            return xs
        return fn

    def spread(center, scale, limit=3.0e38):
        return lambda rng, count, channel_of: [max(-limit, min(limit, center + scale * rng.gauss(0, 1))) for _ in range(count)]

    nan, inf = float("nan"), float("inf")

    def nhwc(shape):
        n, c = shape[0], shape[1]
        length = prod(shape[2:])
        return [n, 1, length, c]

    def edge(scenario, description, features, shape, steps, **kw):
        s = nhwc(shape)
        return fused_case(f"tensorflow fused edge float32 {'x'.join(map(str, s))} {scenario}", description,
                          ["edge-case"] + features, s, -1, steps, scenario=scenario, **kw)

    return [
        edge("n1-spatial", "N = 1 with 4 values per channel.", ["batch-size-1", "training", "inference"], [1, 2, 4], ["train", "eval"]),
        edge("one-value-train", "One value per channel: variance 0, y = offset, n/max(n-1,1) = 1.",
             ["batch-size-1", "single-value-per-channel", "training"], [1, 2], ["train"]),
        edge("one-value-eval", "One value per channel in inference: normal.", ["batch-size-1", "inference"], [1, 3], ["eval"]),
        edge("constant-channel", "Channel 0 constant: y = offset, dx = scale/sqrt(eps)*(dy - mean(dy)).",
             ["zero-variance", "training", "inference"], [4, 2, 3], ["train", "eval"], x_fn=constant),
        edge("constant-channel-eps0", "epsilon 0 reaches the kernel (no floor in TF 2.21): a constant channel gives "
             "rsqrt(0) = Infinity and y = 0 * Infinity = NaN.",
             ["zero-variance", "epsilon-value", "training"], [4, 2, 3], ["train"], x_fn=constant, epsilon=0.0),
        edge("momentum-negative", "Keras momentum -0.5: exponential_avg_factor 1.5 (weight of the new value).",
             ["momentum-out-of-range", "training", "multi-step"], [6, 2], ["train", "train", "eval"], momentum=-0.5),
        edge("momentum-above-1", "Keras momentum 1.5: exponential_avg_factor -0.5.",
             ["momentum-out-of-range", "training", "multi-step"], [6, 2], ["train", "train", "eval"], momentum=1.5),
        edge("nan-x", "One NaN in channel 0.", ["non-finite", "training"], [4, 2, 3], ["train"], x_fn=poke(nan)),
        edge("inf-x", "One +Infinity in channel 0.", ["non-finite", "training"], [4, 2, 3], ["train"], x_fn=poke(inf)),
        edge("nan-gamma-inf-var-eval", "Inference with scale[0] NaN and variance[1] Infinity.", ["non-finite", "inference"],
             [4, 2], ["eval"], init={"gamma": [nan, 1.0], "running_var": [1.0, inf]}),
        edge("nan-running-mean-train", "Training with running mean[0] NaN.", ["non-finite", "training"], [4, 2], ["train"],
             init={"running_mean": [nan, 0.0]}),
        edge("large-mean", "x = 1e4 + 1e-3*noise in float32: |mean|/std ~ 1e7.", ["large-mean", "training", "inference"],
             [64, 2], ["train", "eval"], x_fn=spread(1e4, 1e-3)),
        edge("denormal", "Values around 1e-40 (float32 subnormals).", ["denormal", "training"], [6, 2], ["train"],
             x_fn=spread(0.0, 1e-40)),
        edge("near-overflow", "Finite values up to 3e38 (float32's largest is 3.4e38).", ["overflow", "training"], [6, 2],
             ["train"], x_fn=spread(0.0, 1.5e38)),
        edge("empty-batch", "N = 0: NaN batch statistics, so the running statistics become NaN. The op's reserve spaces "
             "(the saved batch mean and variance) come back uninitialized on CPU, different from run to run, so "
             "batch_mean and batch_var are not recorded.",
             ["empty-batch", "training", "inference"], [0, 3, 2], ["train", "eval"], grads=False),
        edge("one-channel", "C = 1.", ["channel-count", "training", "inference"], [8, 1], ["train", "eval"]),
        edge("many-channels", "C = 256 with N = 4.", ["channel-count", "training", "inference"], [4, 256], ["train", "eval"]),
        edge("eps-1e-8", "epsilon 1e-8 reaches the kernel unchanged (no floor in TF 2.21).", ["epsilon-value", "training"],
             [6, 2], ["train"], epsilon=1e-8),
    ]


def unsupported():
    """What FusedBatchNormV3 refuses, and the mixed precision format 1.1 cannot express, from live calls."""
    x = np.ones((2, 2, 2, 2), np.float32)
    p = np.ones(2, np.float32)
    out = []
    for t, u, note in [
        # One invalid attribute per call: with two, which one TensorFlow names first varies from run to run.
        ("float64", "float32", "no float64 kernel"),
        ("float16", "float16", "float16 data need float32 scale, offset and statistics"),
        ("bfloat16", "bfloat16", "no CPU kernel for bfloat16 statistics"),
    ]:
        try:
            tf.raw_ops.FusedBatchNormV3(x=tf.cast(x, t), scale=tf.cast(p, u), offset=tf.cast(p, u), mean=tf.cast(p, u),
                                        variance=tf.cast(p, u), epsilon=1e-3, is_training=True)
        except Exception as e:  # noqa: BLE001 - recorded as data
            out.append({"dtype": t, "call": f"FusedBatchNormV3 T={t} U={u}", "type": type(e).__name__,
                        "message": str(e).split("\n")[0], "note": note})
        else:
            raise AssertionError(f"FusedBatchNormV3 T={t} U={u} was accepted")
    for t in ["float16", "bfloat16"]:
        tf.raw_ops.FusedBatchNormV3(x=tf.cast(x, t), scale=p, offset=p, mean=p, variance=p, epsilon=1e-3, is_training=True)
        out.append({"dtype": t, "call": f"FusedBatchNormV3 T={t} U=float32", "type": "accepted",
                    "message": "accepted: mixed precision (float32 scale, offset and statistics), which format 1.1's one "
                    "dtype per case cannot express; recorded in fixtures/tensorflow/mixed_precision.json (format 1.3)"})
    return out


# ---------------------------------------------------------------- FusedBatchNormV3 mixed precision (format 1.3)


def fused_mixed_case(name, description, features, shape, axis, steps, dt, epsilon=1e-3, factor=None, momentum=0.99,
                     x_fn=None):
    """Calls of the fused op on float16 or bfloat16 data (T) with float32 scale, offset and statistics (U = float32),
    the only combination the op takes for half-precision data. No expected_float64: the exact values judge them."""
    seed, rng, eps, f, data_format, state, initial = fused_setup(name, shape, axis, epsilon, factor, momentum)
    ch = Channels(rng, shape, axis)
    out_steps = []
    for mode in steps:
        x = as_dtype(ch.x(x_fn), shape, dt)
        dy = as_dtype(ch.dy(), shape, dt)
        expected = fused_step(x, dy, state, mode, eps, f, data_format, dt)
        out_steps.append({"mode": mode, "inputs": {"x": enc(x, dt), "dy": enc(dy, dt)}, "expected": expected})
        if mode == "train":
            state["running_mean"] = np.asarray(expected["running_mean"]["data"], np.float32)
            state["running_var"] = np.asarray(expected["running_var"]["data"], np.float32)
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"],
        "api": "tf.compat.v1.nn.fused_batch_norm (FusedBatchNormV3)",
        "seed": seed,
        "dtype": dt,
        "dtypes": {"data": dt, "params": "float32", "running": "float32", "saved": "float32", "compute": "float32"},
        "config": fused_config(axis, eps, f),
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {
            "op": "FusedBatchNormV3",
            "T": dt,
            "U": "float32",
            "epsilon_passed": epsilon,
            "epsilon_attribute": eps,
            "exponential_avg_factor_attribute": f,
            "data_format": data_format,
        },
    }


def fused_mixed_cases():
    out = []
    for dt in ["float16", "bfloat16"]:
        out += [
            fused_mixed_case(f"tensorflow fused {dt} data float32 state 2x4x5x3 NHWC Keras 2 defaults train x3 then eval",
                             f"FusedBatchNormV3 with T = {dt} (x, y, dx) and U = float32 (scale, offset, running and "
                             "saved statistics, their gradients), as Keras 2 calls it: exponential_avg_factor = 1 - 0.99, "
                             "epsilon 1e-3. The CPU kernel computes in float32 and rounds y and dx to the data's dtype.",
                             ["training", "inference", "multi-step"], [2, 4, 5, 3], -1, SEQ, dt),
            fused_mixed_case(f"tensorflow fused {dt} data float32 state 2x3x4x5 NCHW exponential_avg_factor=0.5",
                             "data_format NCHW, exponential_avg_factor 0.5: the running statistics (float32) move half way "
                             "to the batch's at each call.",
                             ["training", "inference", "multi-step"], [2, 3, 4, 5], 1, ["train", "train", "eval"], dt,
                             factor=0.5),
        ]
    out.append(fused_mixed_case(
        "tensorflow fused float16 data float32 state 8x1x1x2 variance 9e4 beyond float16's range",
        "x around 1000 with spread 300: the batch variance (about 9e4) exceeds float16's largest value (65504), yet the "
        "float32 statistics hold it, and y and dx are ordinary float16 values: why the op takes float16 data only with "
        "float32 statistics.",
        ["training", "inference"], [8, 1, 1, 2], -1, ["train", "eval"], "float16", factor=1.0,
        x_fn=lambda rng, count, channel_of: [1000.0 + 300.0 * rng.gauss(0, 1) for _ in range(count)]))
    return out


# ---------------------------------------------------------------- tf.nn.moments + tf.nn.batch_normalization


def moments_case(name, description, features, shape, dtype, mode, epsilon=1e-3):
    seed = seed_of(name)
    rng = random.Random(seed)
    C = shape[-1]
    gamma = [rng.uniform(0.5, 1.5) for _ in range(C)]
    beta = [rng.gauss(0, 0.5) for _ in range(C)]
    rmean = [rng.gauss(0, 1) for _ in range(C)]
    rvar = [rng.uniform(0.5, 2.0) for _ in range(C)]
    ch = Channels(rng, shape, -1)
    xv, dyv = ch.x(), ch.dy()
    red = list(range(len(shape) - 1))

    def run(dt):
        # Values rounded to the case's dtype first, so the float64 twin sees exactly the inputs of the case.
        cast = lambda v, s: as_dtype(as_dtype(v, s, dtype), s, dt)  # noqa: E731
        x = tf.constant(cast(xv, shape))
        dy = tf.constant(cast(dyv, shape))
        g_, b_ = tf.constant(cast(gamma, [C])), tf.constant(cast(beta, [C]))
        with tf.GradientTape() as g:
            g.watch([x, g_, b_])
            if mode == "train":
                mean, var = tf.nn.moments(x, red)
            else:
                mean, var = tf.constant(cast(rmean, [C])), tf.constant(cast(rvar, [C]))
            # The float32 call adds epsilon as a float32 constant; the float64 twin adds that same value.
            y = tf.nn.batch_normalization(x, mean, var, b_, g_, fround(epsilon) if dtype == "float32" else epsilon)
            loss = tf.reduce_sum(y * dy)
        dx, dg, db = g.gradient(loss, [x, g_, b_])
        out = {"y": enc(y, dt)}
        if mode == "train":
            out["batch_mean"], out["batch_var"] = enc(mean, dt), enc(var, dt)
        out.update({"dx": enc(dx, dt), "dgamma": enc(dg, dt), "dbeta": enc(db, dt)})
        return out, x, dy

    expected, x, dy = run(dtype)
    step = {"mode": mode, "inputs": {"x": enc(x, dtype), "dy": enc(dy, dtype)}, "expected": expected}
    if dtype != "float64":
        step["expected_float64"] = run("float64")[0]
    eps = fround(epsilon) if dtype == "float32" else epsilon
    initial = {"gamma": tensor(dtype, [C], as_dtype(gamma, [C], dtype)), "beta": tensor(dtype, [C], as_dtype(beta, [C], dtype))}
    if mode == "eval":
        initial.update({"running_mean": tensor(dtype, [C], as_dtype(rmean, [C], dtype)),
                        "running_var": tensor(dtype, [C], as_dtype(rvar, [C], dtype))})
    return {
        "name": name,
        "description": description,
        "features": features,
        "api": ("tf.nn.moments + " if mode == "train" else "") + "tf.nn.batch_normalization",
        "seed": seed,
        "dtype": dtype,
        "config": {
            "axis": -1, "epsilon": eps, "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": 0.99, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": mode == "eval", "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": initial,
        "steps": [step],
        "framework_call": {"variance_epsilon": epsilon, "axes": red,
                           "y": "x * inv + (offset - mean * inv), inv = rsqrt(variance + variance_epsilon) * scale (nn_impl.py)"},
    }


def moments_cases():
    out = []
    for dtype in ["float32", "float64"]:
        out.append(moments_case(
            f"tensorflow tf.nn.moments + tf.nn.batch_normalization {dtype} 2x4x5x3 batch statistics",
            "Normalization with the batch's own statistics (tf.nn.moments over N, H, W), no running statistics; "
            "gradients through the moments by tf.GradientTape.",
            ["training", "backward", "functional-api", "untracked-stats"], [2, 4, 5, 3], dtype, "train"))
        out.append(moments_case(
            f"tensorflow tf.nn.batch_normalization {dtype} 2x4x5x3 given statistics",
            "tf.nn.batch_normalization with given mean and variance (inference); gradients by tf.GradientTape.",
            ["inference", "backward", "functional-api"], [2, 4, 5, 3], dtype, "eval"))
        out.append(moments_case(
            f"tensorflow tf.nn.batch_normalization {dtype} 6x3 variance_epsilon=0.75 inside the square root",
            "variance_epsilon comparable to the variance, so its placement (inside the root) shows in y.",
            ["inference", "backward", "functional-api", "epsilon-placement", "epsilon-value"], [6, 3], dtype, "eval",
            epsilon=0.75))
    return out


def stat_gradient_case(name, description, features, shape, dtype, epsilon, center=0.0):
    """Format 1.3's dmean and dvar: tf.nn.batch_normalization with given mean and variance (an eval step with
    running statistics), tf.GradientTape watching x, scale, offset, mean and variance. No float64 twin: the exact
    values judge every output."""
    seed = seed_of(name)
    rng = random.Random(seed)
    C = shape[-1]
    gamma = [rng.uniform(0.5, 1.5) for _ in range(C)]
    beta = [rng.gauss(0, 0.5) for _ in range(C)]
    rmean = [center + rng.gauss(0, 0.25 if center else 1) for _ in range(C)]
    rvar = [rng.uniform(0.5, 2.0) for _ in range(C)]
    ch = Channels(rng, shape, -1)
    if center:
        ch.means = [center + m / 8 for m in ch.means]
    xv, dyv = ch.x(), ch.dy()
    const = lambda v, s: tf.constant(as_dtype(v, s, dtype))  # noqa: E731
    x, dy = const(xv, shape), const(dyv, shape)
    g_, b_, m_, v_ = const(gamma, [C]), const(beta, [C]), const(rmean, [C]), const(rvar, [C])
    with tf.GradientTape() as tape:
        tape.watch([x, g_, b_, m_, v_])
        y = tf.nn.batch_normalization(x, m_, v_, b_, g_, epsilon)
        loss = tf.reduce_sum(y * dy)
    dx, dg, db, dm, dv = tape.gradient(loss, [x, g_, b_, m_, v_])
    expected = {"y": enc(y, dtype), "dx": enc(dx, dtype), "dgamma": enc(dg, dtype), "dbeta": enc(db, dtype),
                "dmean": enc(dm, dtype), "dvar": enc(dv, dtype)}
    vec = lambda v: tensor(dtype, [C], as_dtype(v, [C], dtype))  # noqa: E731
    return {
        "name": name,
        "description": description,
        "features": features,
        "api": "tf.nn.batch_normalization; tf.GradientTape watching mean and variance",
        "seed": seed,
        "dtype": dtype,
        "config": {
            "axis": -1, "epsilon": epsilon, "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": 0.99, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": {"gamma": vec(gamma), "beta": vec(beta), "running_mean": vec(rmean), "running_var": vec(rvar)},
        "steps": [{"mode": "eval", "inputs": {"x": enc(x, dtype), "dy": enc(dy, dtype)}, "expected": expected}],
        "framework_call": {"variance_epsilon": epsilon, "watched": ["x", "scale", "offset", "mean", "variance"],
                           "y": "x * inv + (offset - mean * inv), inv = rsqrt(variance + variance_epsilon) * scale (nn_impl.py)"},
    }


def stat_gradient_cases():
    out = []
    for dtype in ["float32", "float64"]:
        # epsilon a float32 value: the float32 call adds it as a float32 constant, the float64 call as given.
        out.append(stat_gradient_case(
            f"tensorflow tf.nn.batch_normalization {dtype} 2x4x5x3 gradients with respect to mean and variance",
            "Given mean and variance (the running statistics of an eval step), watched by tf.GradientTape: dmean and "
            "dvar are autodiff through y = x * inv + (offset - mean * inv), inv = rsqrt(variance + epsilon) * scale.",
            ["inference", "backward", "functional-api"], [2, 4, 5, 3], dtype, 2.0 ** -10))
        out.append(stat_gradient_case(
            f"tensorflow tf.nn.batch_normalization {dtype} 6x3 variance_epsilon=0.75 gradients with respect to mean "
            "and variance",
            "variance_epsilon comparable to the variance: dvar differs between epsilon inside and outside the root.",
            ["inference", "backward", "functional-api", "epsilon-placement", "epsilon-value"], [6, 3], dtype, 0.75))
        out.append(stat_gradient_case(
            f"tensorflow tf.nn.batch_normalization {dtype} 2x4x5x3 data and mean near 100 gradients with respect to "
            "mean and variance",
            "x and the given mean near 100: x - mean cancels; the formula's form (mean * inv subtracted from offset) "
            "shows in dvar's rounding.",
            ["inference", "backward", "functional-api", "large-mean"], [2, 4, 5, 3], dtype, 2.0 ** -10, center=100.0))
    return out


# ---------------------------------------------------------------- tf-keras (Keras 2) BatchNormalization


def keras2_case(name, description, features, shape, dtype, steps, fused, momentum=0.99, epsilon=1e-3):
    seed = seed_of(name)
    rng = random.Random(seed)
    C = shape[-1]
    layer = tf_keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, dtype=dtype)
    layer.build(shape)
    assert bool(layer.fused) == fused, f"{name}: layer.fused is {layer.fused}"
    gamma = as_dtype([rng.uniform(0.5, 1.5) for _ in range(C)], [C], dtype)
    beta = as_dtype([rng.gauss(0, 0.5) for _ in range(C)], [C], dtype)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    initial = {"gamma": enc(gamma, dtype), "beta": enc(beta, dtype),
               "running_mean": enc(layer.moving_mean, dtype), "running_var": enc(layer.moving_variance, dtype)}
    ch = Channels(rng, shape, -1)
    out_steps = []
    if fused:
        factor = fround(1.0 - momentum)
        config = fused_config(-1, fround(epsilon), factor)
    else:
        # _assign_moving_average: decay = tf.convert_to_tensor(1.0 - momentum), a float32 tensor, cast to the variable's
        # dtype; variable -= (variable - value) * decay. So even a float64 layer decays by float32(1 - momentum): the
        # momentum on the old value is 1 - float32(1 - momentum).
        factor = None
        momentum_eff = 1 - fround(1.0 - momentum)
        config = {**fused_config(-1, fround(epsilon) if dtype == "float32" else epsilon, momentum_eff),
                  "momentum_kind": "old", "running_variance": "biased"}
    for mode in steps:
        x = tf.constant(as_dtype(ch.x(), shape, dtype))
        dy = tf.constant(as_dtype(ch.dy(), shape, dtype))
        before = {"gamma": layer.gamma.numpy().astype(np.float64), "beta": layer.beta.numpy().astype(np.float64),
                  "running_mean": layer.moving_mean.numpy().astype(np.float64),
                  "running_var": layer.moving_variance.numpy().astype(np.float64)}
        with tf.GradientTape() as g:
            g.watch(x)
            y = layer(x, training=mode == "train")
            loss = tf.reduce_sum(y * dy)
        dx, dg, db = g.gradient(loss, [x, layer.gamma, layer.beta])
        expected = {"y": enc(y, dtype)}
        if mode == "train":
            expected["running_mean"] = enc(layer.moving_mean, dtype)
            expected["running_var"] = enc(layer.moving_variance, dtype)
        expected.update({"dx": enc(dx, dtype), "dgamma": enc(dg, dtype), "dbeta": enc(db, dtype)})
        step = {"mode": mode, "inputs": {"x": enc(x, dtype), "dy": enc(dy, dtype)}, "expected": expected}
        if dtype != "float64":
            tw = twin(x.numpy().astype(np.float64), dy.numpy().astype(np.float64), before, mode, config["epsilon"],
                      factor, -1, bessel=fused, momentum_old=None if fused else config["momentum"])
            step["expected_float64"] = {k: v for k, v in tw.items() if k in expected}
        out_steps.append(step)
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"],
        "api": "tf_keras.layers.BatchNormalization",
        "seed": seed,
        "dtype": dtype,
        "config": config,
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"layer": {"momentum": momentum, "epsilon": epsilon, "dtype": dtype}, "fused": bool(layer.fused),
                           **({"exponential_avg_factor_attribute": factor} if fused else
                              {"moving_average_decay": fround(1.0 - momentum)})},
    }


def keras2_cases():
    return [
        keras2_case("tf-keras BatchNormalization float32 2x4x5x3 rank 4 fused path defaults train x3 then eval",
                    "Rank 4, channels last: the layer takes the fused path (FusedBatchNormV3), passing "
                    "exponential_avg_factor = 1 - momentum and moving variance times n/max(n-1, 1), n = 40.",
                    ["training", "inference", "multi-step"], [2, 4, 5, 3], "float32", SEQ, True),
        keras2_case("tf-keras BatchNormalization float32 6x3 rank 2 non-fused path defaults train x3 then eval",
                    "Rank 2: the non-fused path (tf.nn.moments, tf.nn.batch_normalization, assign_moving_average): "
                    "momentum 0.99 on the old value, biased moving variance.",
                    ["training", "inference", "multi-step"], [6, 3], "float32", SEQ, False),
        keras2_case("tf-keras BatchNormalization float64 6x3 rank 2 non-fused path train x3 then eval",
                    "A float64 layer, non-fused path, in float64. Its moving averages decay by float32(1 - momentum) "
                    "(tf.convert_to_tensor of a Python float is float32), so the momentum on the old value is "
                    "1 - float32(0.01) = 0.99000000022352..., not 0.99: 2.2e-10 away, 1e8 float64 ULP in running_mean.",
                    ["training", "inference", "multi-step"], [6, 3], "float64", SEQ, False),
        keras2_case("tf-keras BatchNormalization float32 1x2x2x3 fused momentum=0.5 epsilon=0.1",
                    "Fused path with momentum 0.5 and epsilon 0.1, N = 1 with 4 values per channel: the Bessel factor "
                    "4/3 and epsilon's value both show.",
                    ["training", "inference", "batch-size-1", "epsilon-value"], [1, 2, 2, 3], "float32", ["train", "eval"],
                    True, momentum=0.5, epsilon=0.1),
    ]


def keras2_variant_case(name, description, features, shape, steps, dtype=None, policy=None, center=True, scale=True,
                        momentum=0.99, epsilon=1e-3, explicit=False):
    """tf_keras.layers.BatchNormalization with a half-precision dtype or policy (format 1.3 `dtypes`: the variables are
    float32, the data float16), or with center/scale switched separately. No expected_float64: exact values judge."""
    seed = seed_of(name)
    rng = random.Random(seed)
    C = shape[-1]
    kw = {"dtype": tf_keras.mixed_precision.Policy(policy)} if policy else {"dtype": dtype}
    layer = tf_keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=center, scale=scale, **kw)
    layer.build(shape)
    dt = layer.compute_dtype
    pdt = layer.moving_mean.dtype.name
    fused = bool(layer.fused)
    params = ([layer.gamma] if scale else []) + ([layer.beta] if center else [])
    initial = {}
    if scale:
        layer.gamma.assign(as_dtype([rng.uniform(0.5, 1.5) for _ in range(C)], [C], pdt))
        initial["gamma"] = enc(layer.gamma, pdt)
    if center:
        layer.beta.assign(as_dtype([rng.gauss(0, 0.5) for _ in range(C)], [C], pdt))
        initial["beta"] = enc(layer.beta, pdt)
    initial.update({"running_mean": enc(layer.moving_mean, pdt), "running_var": enc(layer.moving_variance, pdt)})
    # Half-precision data: the fused kernel takes float32 attributes; the non-fused path casts x to float32 and adds
    # epsilon in float32 (batch_normalization.py: "Do all math in float32 if given 16-bit inputs").
    eps = fround(epsilon) if fused or dt != "float64" else epsilon
    if fused:
        config = fused_config(-1, eps, fround(1.0 - momentum))
    else:
        config = {**fused_config(-1, eps, 1 - fround(1.0 - momentum)), "momentum_kind": "old", "running_variance": "biased"}
    config["affine"] = center and scale
    if explicit or not (center and scale):
        config["center"], config["scale"] = center, scale
    ch = Channels(rng, shape, -1)
    out_steps = []
    for mode in steps:
        x = tf.constant(as_dtype(ch.x(), shape, dt))
        dy = tf.constant(as_dtype(ch.dy(), shape, dt))
        with tf.GradientTape() as g:
            g.watch(x)
            y = layer(x, training=mode == "train")
            loss = tf.reduce_sum(y * dy)
        grads = g.gradient(loss, [x] + params)
        assert y.dtype.name == dt and grads[0].dtype.name == dt, (y.dtype, grads[0].dtype)
        expected = {"y": enc(y, dt)}
        if mode == "train":
            expected["running_mean"] = enc(layer.moving_mean, pdt)
            expected["running_var"] = enc(layer.moving_variance, pdt)
        expected["dx"] = enc(grads[0], dt)
        rest = grads[1:]
        if scale:
            expected["dgamma"], rest = enc(rest[0], pdt), rest[1:]
        if center:
            expected["dbeta"] = enc(rest[0], pdt)
        out_steps.append({"mode": mode, "inputs": {"x": enc(x, dt), "dy": enc(dy, dt)}, "expected": expected})
    layer_kw = {"momentum": momentum, "epsilon": epsilon, "center": center, "scale": scale,
                **({"dtype": f"Policy('{policy}')"} if policy else {"dtype": dtype})}
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"] + ([] if center and scale else ["no-affine"]),
        "api": "tf_keras.layers.BatchNormalization",
        "seed": seed,
        "dtype": dt,
        **({} if dt == pdt else {"dtypes": {"data": dt, "params": pdt, "running": pdt, "saved": "float32",
                                            "compute": "float32"}}),
        "config": config,
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"layer": layer_kw, "fused": fused, "variable_dtype": pdt, "compute_dtype": dt,
                           **({"exponential_avg_factor_attribute": fround(1.0 - momentum)} if fused else
                              {"moving_average_decay": fround(1.0 - momentum)})},
    }


def keras2_mixed_cases():
    out = []
    for label, kw in [("dtype=float16", {"dtype": "float16"}), ("mixed_float16 policy", {"policy": "mixed_float16"})]:
        out += [
            keras2_variant_case(f"tf-keras BatchNormalization {label} 2x4x5x3 rank 4 fused path train x3 then eval",
                                f"A layer with {label}: float16 data and outputs, float32 variables (the layer raises "
                                "its parameters to float32: _param_dtype), the fused kernel with T = float16, U = float32.",
                                ["training", "inference", "multi-step"], [2, 4, 5, 3], SEQ, **kw),
            keras2_variant_case(f"tf-keras BatchNormalization {label} 6x3 rank 2 non-fused path train x3 then eval",
                                f"A layer with {label}, rank 2: the non-fused path casts x to float32, computes the "
                                "moments and y in float32 and casts y back to float16; variables float32, momentum on "
                                "the old value, biased moving variance.",
                                ["training", "inference", "multi-step"], [6, 3], SEQ, **kw),
        ]
    out.append(keras2_variant_case("tf-keras BatchNormalization dtype=bfloat16 2x4x5x3 rank 4 fused path train x3 then eval",
                                   "A bfloat16 layer: bfloat16 data, float32 variables, the fused kernel with T = "
                                   "bfloat16, U = float32.",
                                   ["training", "inference", "multi-step"], [2, 4, 5, 3], SEQ, dtype="bfloat16"))
    return out


def keras2_center_scale_cases():
    out = []
    for center, scale in [(True, True), (True, False), (False, True), (False, False)]:
        for label, shape in [("2x4x5x3 rank 4 fused path", [2, 4, 5, 3]), ("6x3 rank 2 non-fused path", [6, 3])]:
            out.append(keras2_variant_case(
                f"tf-keras BatchNormalization float32 {label} center={center} scale={scale} train x2 then eval",
                f"center={center} (beta {'added' if center else 'absent: no offset'}), scale={scale} (gamma "
                f"{'applied' if scale else 'absent: no scaling'}): the layer creates only the variables it uses; the "
                "gradients are those of the variables it has.",
                ["training", "inference", "multi-step"], shape, ["train", "train", "eval"], dtype="float32",
                center=center, scale=scale, explicit=True))
    return out


# ---------------------------------------------------------------- files


def provenance(source, framework, version, api, notes, extra=None):
    return {
        "source": source,
        "framework": framework,
        "version": version,
        "api": api,
        "generator": GENERATOR,
        "command": "deno task fixtures",
        "seed": SEED,
        "composed": False,
        "environment": f"tensorflow-cpu {tf.__version__} from PyPI in .venv/ (requirements.txt), CPU, {ONEDNN}, "
                       f"1 intra-op and 1 inter-op thread, op determinism on, Python {sys.version_info.major}.{sys.version_info.minor}, "
                       f"numpy {np.__version__}",
        "notes": notes,
        **(extra or {}),
    }


TWIN_NOTE = ("expected_float64 of the fused cases: TensorFlow has no float64 FusedBatchNormV3 kernel, so the twin is "
             "TensorFlow float64 ops from the same state and inputs widened exactly: tf.nn.moments, then "
             "(x - mean) * tf.math.rsqrt(var + epsilon) * scale + offset (fused_batch_norm_op.cc's formula), gradients "
             "by tf.GradientTape; running statistics (1 - f) * r + f * batch with the batch variance times n/max(n-1, 1).")
EPSILON_NOTE = ("epsilon is used as given: TensorFlow 2.21's nn_impl.py fused_batch_norm passes it to the op unchanged. "
                "The floor max(epsilon, 1.001e-5) was in nn_impl.py up to TensorFlow 2.11.0 and is gone from 2.12.0 on "
                "(both wheels' nn_impl.py read here; tensorflow/tensorflow#37768). epsilon and exponential_avg_factor are "
                "float32 attributes: config holds their float32 values.")


def main():
    tfdir = os.path.join(ROOT, "tensorflow")
    kdir = os.path.join(ROOT, "tf-keras")
    os.makedirs(tfdir, exist_ok=True)
    os.makedirs(kdir, exist_ok=True)
    limits = unsupported()
    fused_api = "tf.compat.v1.nn.fused_batch_norm (FusedBatchNormV3; tf.raw_ops.FusedBatchNormV3 for the reserve spaces); tf.GradientTape"
    fused_notes = [
        "expected: what FusedBatchNormV3 computed (float32). batch_mean and batch_var are the op's reserve_space_1 and "
        "reserve_space_2 on CPU: the batch mean and the biased batch variance that normalized x.",
        TWIN_NOTE,
        EPSILON_NOTE,
    ]
    files = [
        (tfdir, "fused_batch_norm.json", provenance("tensorflow", "TensorFlow", tf.__version__, fused_api, fused_notes,
                                                    {"unsupported": limits}), fused_cases()),
        (tfdir, "edge_cases.json", provenance("tensorflow", "TensorFlow", tf.__version__, fused_api, fused_notes,
                                              {"unsupported": limits}), edge_cases()),
        (tfdir, "moments.json", provenance(
            "tensorflow", "TensorFlow", tf.__version__, "tf.nn.moments + tf.nn.batch_normalization; tf.GradientTape",
            ["expected: what TensorFlow computed in the case's dtype. expected_float64: the same calls in float64 from the "
             "same inputs widened exactly, and with the float32 call's epsilon (variance_epsilon rounded to float32, "
             "as the float32 call adds it).",
             "tf.nn.batch_normalization computes y = x * inv + (offset - mean * inv), inv = rsqrt(variance + epsilon) * "
             "scale (nn_impl.py)."]), moments_cases()),
        (kdir, "batch_normalization.json", provenance(
            "tf-keras", "tf-keras (Keras 2)", tf_keras.__version__, "tf_keras.layers.BatchNormalization; tf.GradientTape",
            ["expected: what the layer computed in the case's dtype; running_mean and running_var are its moving_mean and "
             "moving_variance after the call.",
             "Path: rank 4/5 with the channel last or first takes the fused kernel (layer.fused, recorded in "
             "framework_call), exponential_avg_factor = 1 - momentum; other ranks take the non-fused path, momentum on "
             "the old value, biased moving variance.",
             "expected_float64 of float32 cases: TensorFlow float64 ops following the path's formula (the fused kernel "
             "has no float64 kernel, and a float64 layer silently takes the non-fused path): " + TWIN_NOTE.split(": ", 1)[1],
             "tf-keras is installed with --no-deps: its requirement on the full `tensorflow` package is met by "
             "tensorflow-cpu (same module)."])
         , keras2_cases()),
    ]
    refusals = [u for u in limits if u["type"] != "accepted"]
    mixed_notes = [
        "Format 1.3: each case's `dtypes` gives every tensor group its own dtype. FusedBatchNormV3 takes float16 and "
        "bfloat16 data (attribute T) only with float32 scale, offset, mean and variance (attribute U); its reserve "
        "spaces (batch_mean, batch_var) and the gradients of scale and offset are float32 too. The refusals of the "
        "other combinations are in `unsupported`, captured live.",
        "compute: float32. The CPU kernel (fused_batch_norm_op.cc) accumulates and normalizes in U = float32 and "
        "rounds y and dx to T.",
        "No expected_float64: every output is judged against its exact value (expected_exact), each by its own "
        "group's dtype.",
        EPSILON_NOTE,
    ]
    keras2_notes = [
        "Format 1.3. expected: what the layer computed; running_mean and running_var are its moving_mean and "
        "moving_variance after the call. No expected_float64: the exact values judge every output.",
        "A float16 or bfloat16 layer (dtype='float16', or the mixed_float16 policy) keeps float32 variables "
        "(tf_keras/src/layers/normalization/batch_normalization.py, _param_dtype: 'Raise parameters of fp16 batch norm "
        "to fp32'): data float16, parameters and moving statistics float32 (`dtypes`). Rank 4 takes the fused kernel "
        "(T = float16, U = float32); rank 2 casts x to float32, computes in float32 and casts y back.",
        "center/scale: center=False creates no beta, scale=False no gamma (build); config records them separately "
        "(format 1.3), with affine = center and scale.",
    ]
    stat_notes = [
        "Format 1.3: dmean and dvar, the gradients of sum(y * dy) with respect to the mean and variance "
        "tf.nn.batch_normalization is given (an eval step's running statistics), by tf.GradientTape watching them; "
        "the other outputs likewise. expected: what TensorFlow computed in the case's dtype. No expected_float64: "
        "the exact values judge every output.",
        "tf.nn.batch_normalization computes y = x * inv + (offset - mean * inv), inv = rsqrt(variance + epsilon) * "
        "scale (nn_impl.py); its gradients are autodiff of those ops (Rsqrt's gradient -0.5 * inv^3 * dinv).",
        "epsilon is 2^-10 or 0.75 (float32 values): the float32 call adds it as a float32 constant.",
    ]
    files_1_3 = [
        (tfdir, "statistics_gradients.json", provenance(
            "tensorflow", "TensorFlow", tf.__version__, "tf.nn.batch_normalization; tf.GradientTape", stat_notes),
         stat_gradient_cases()),
        (tfdir, "mixed_precision.json", provenance("tensorflow", "TensorFlow", tf.__version__, fused_api, mixed_notes,
                                                   {"unsupported": refusals}), fused_mixed_cases()),
        (kdir, "mixed_precision.json", provenance(
            "tf-keras", "tf-keras (Keras 2)", tf_keras.__version__, "tf_keras.layers.BatchNormalization; tf.GradientTape",
            keras2_notes), keras2_mixed_cases()),
        (kdir, "center_scale.json", provenance(
            "tf-keras", "tf-keras (Keras 2)", tf_keras.__version__, "tf_keras.layers.BatchNormalization; tf.GradientTape",
            keras2_notes), keras2_center_scale_cases()),
    ]
    for folder, name, prov, cases in files:
        emit(os.path.join(folder, name), document(prov, cases))
        print(f"fixtures/{os.path.basename(folder)}/{name}: {len(cases)} cases")
    for folder, name, prov, cases in files_1_3:
        emit(os.path.join(folder, name), document_1_3(prov, cases))
        print(f"fixtures/{os.path.basename(folder)}/{name}: {len(cases)} cases (format 1.3)")
    finish()


if __name__ == "__main__":
    main()
