#!/usr/bin/env python3
"""Golden BatchNorm fixtures from real Keras 3 (`keras.layers.BatchNormalization`) on one backend.

`.venv/bin/python scripts/generators/gen_keras.py tensorflow|jax` and
`.envs/torch2/bin/python scripts/generators/gen_keras.py torch`, run once per backend by `deno task fixtures`; writes
fixtures/keras/<backend>_backend.json, mixed_precision_<backend>.json and center_scale_<backend>.json. One convention
(momentum 0.99 on the old value, epsilon 1e-3, biased moving variance, statistics by ops.moments, y by
ops.batch_normalization), three real runs: the TensorFlow and JAX backends from .venv/ (requirements.txt), the torch
backend from .envs/torch2/ (PyTorch 2.15 with the same Keras 3.15.1, envs/torch2.txt). Each case's name, seed and
inputs are the same on every backend but for the backend's name, so the three runs are comparable case by case.

Gradients: tf.GradientTape (TensorFlow backend), jax.vjp of the layer's stateless_call (JAX backend), torch autograd
(Tensor.backward, torch backend).
expected_float64 of the float32 cases is COMPOSED (scripts/generators/_witness_common.py formula_twin, numpy float64):
Keras 3 has no float64 run that is a float64 computation on every backend (keras/src/backend/common/dtypes.py
result_type computes a float64 layer in float32 on JAX and torch).
"""

import os
import sys

BACKEND = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else None
if BACKEND not in ("tensorflow", "jax", "torch"):
    sys.exit("usage: gen_keras.py tensorflow|jax|torch [--check]")
os.environ["KERAS_BACKEND"] = BACKEND
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from _fixture_json import document, emit, finish  # noqa: E402
from _witness_common import (  # noqa: E402
    SEED, Channels, as_f32, document_1_3, dtypes_of, formula_twin, fround, prod, rng_of, seed_of, tensor)

GENERATOR = "scripts/generators/gen_keras.py"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "keras")

if BACKEND == "tensorflow":
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    ENGINE = f"tensorflow-cpu {tf.__version__}, oneDNN off (TF_ENABLE_ONEDNN_OPTS=0), 1 thread, op determinism on"
elif BACKEND == "jax":
    import jax

    import jaxlib

    ENGINE = f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, CPU, one Eigen thread (XLA_FLAGS)"
else:
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    ENGINE = f"torch {torch.__version__}, CPU, 1 thread, deterministic algorithms on"


def to_np(value):
    """A backend tensor or variable value as a numpy array (torch: detached from autograd first)."""
    if BACKEND == "torch":
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16: through float32 (exact) to ml_dtypes' bfloat16
            import ml_dtypes

            return value.float().numpy().astype(ml_dtypes.bfloat16)
        return value.numpy().copy()  # a copy: Keras's torch variables are assigned in place (copy_)
    return np.asarray(value)


def to_torch(array, requires_grad=False):
    """A numpy array (ml_dtypes' bfloat16 included) as a CPU torch tensor of the same dtype."""
    if array.dtype.name == "bfloat16":
        t = torch.tensor(array.astype(np.float32)).to(torch.bfloat16)
    else:
        t = torch.tensor(array)
    return t.requires_grad_(requires_grad)


def torch_grads(layer, x, dy, training, names):
    """torch backend: one call under autograd; y, dx and the gradients of sum(y * dy) for the named variables."""
    xt = to_torch(x, requires_grad=True)
    params = [getattr(layer, k).value for k in names]
    for p in params:
        p.grad = None
    y = layer(xt, training=training)
    (y * to_torch(dy)).sum().backward()
    return to_np(y), to_np(xt.grad), {k: to_np(p.grad) for k, p in zip(names, params)}


def step_call(layer, x, dy, training):
    """One call: y, the moving statistics after it, and the gradients of sum(y * dy)."""
    if BACKEND == "tensorflow":
        xt = tf.constant(x)
        with tf.GradientTape() as g:
            g.watch(xt)
            y = layer(xt, training=training)
            loss = tf.reduce_sum(y * dy)
        dx, dg, db = g.gradient(loss, [xt, layer.gamma.value, layer.beta.value])
        return y.numpy(), dx.numpy(), dg.numpy(), db.numpy()
    if BACKEND == "torch":
        y, dx, g = torch_grads(layer, x, dy, training, ["gamma", "beta"])
        return y, dx, g["gamma"], g["beta"]
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    names = [v.name for v in layer.trainable_variables]

    def f(xx, tv):
        y, new_nt = layer.stateless_call(tv, non_trainable, xx, training=training)
        return y, new_nt

    y, vjp_fn, new_nt = jax.vjp(f, jax.numpy.asarray(x), trainable, has_aux=True)
    dx, dtv = vjp_fn(jax.numpy.asarray(dy))
    for v, value in zip(layer.non_trainable_variables, new_nt):
        v.assign(value)
    grads = dict(zip(names, dtv))
    return np.asarray(y), np.asarray(dx), np.asarray(grads["gamma"]), np.asarray(grads["beta"])


def case(name, description, features, shape, axis, steps, momentum=0.99, epsilon=1e-3):
    rng = rng_of(name)
    ax = axis % len(shape)
    C = shape[ax]
    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, dtype="float32")
    layer.build(tuple(shape))
    gamma = as_f32([rng.uniform(0.5, 1.5) for _ in range(C)], [C])
    beta = as_f32([rng.gauss(0, 0.5) for _ in range(C)], [C])
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    state = {"gamma": gamma, "beta": beta, "running_mean": to_np(layer.moving_mean.value),
             "running_var": to_np(layer.moving_variance.value)}
    initial = {k2: tensor("float32", state[k1]) for k1, k2 in
               [("gamma", "gamma"), ("beta", "beta"), ("running_mean", "running_mean"), ("running_var", "running_var")]}
    ch = Channels(rng, shape, axis)
    out_steps = []
    for mode in steps:
        x = as_f32(ch.x(), shape)
        dy = as_f32(ch.dy(), shape)
        y, dx, dg, db = step_call(layer, x, dy, mode == "train")
        expected = {"y": tensor("float32", y)}
        if mode == "train":
            expected["running_mean"] = tensor("float32", to_np(layer.moving_mean.value))
            expected["running_var"] = tensor("float32", to_np(layer.moving_variance.value))
        expected.update({"dx": tensor("float32", dx), "dgamma": tensor("float32", dg), "dbeta": tensor("float32", db)})
        twin = formula_twin(x, dy, state, mode, fround(epsilon), axis, momentum, list(expected))
        out_steps.append({"mode": mode, "inputs": {"x": tensor("float32", x), "dy": tensor("float32", dy)},
                          "expected": expected, "expected_float64": twin})
        if mode == "train":
            state["running_mean"] = to_np(layer.moving_mean.value)
            state["running_var"] = to_np(layer.moving_variance.value)
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"],
        "api": f"keras.layers.BatchNormalization ({BACKEND} backend)",
        "seed": seed_of(name),
        "dtype": "float32",
        "config": {
            "axis": axis, "epsilon": fround(epsilon), "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": momentum, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"backend": BACKEND, "layer": {"axis": axis, "momentum": momentum, "epsilon": epsilon,
                                                         "dtype": "float32"}},
    }


SEQ = ["train", "train", "train", "eval"]


def cases():
    b = BACKEND
    return [
        case(f"keras 3 {b} BatchNormalization float32 2x4x5x3 NHWC defaults train x3 then eval",
             "Keras 3's defaults: momentum 0.99 on the old value, epsilon 1e-3, biased moving variance (no Bessel "
             "factor, unlike Keras 2's fused path).", ["training", "inference", "multi-step"], [2, 4, 5, 3], -1, SEQ),
        case(f"keras 3 {b} BatchNormalization float32 6x3 rank 2 defaults train x3 then eval",
             "Rank 2 (N, C): the same convention as rank 4 (Keras 3 has no fused path).",
             ["training", "inference", "multi-step"], [6, 3], -1, SEQ),
        case(f"keras 3 {b} BatchNormalization float32 2x3x4x5 axis=1 train x2 then eval",
             "Channels first (axis=1).", ["training", "inference", "multi-step"], [2, 3, 4, 5], 1,
             ["train", "train", "eval"]),
        case(f"keras 3 {b} BatchNormalization float32 1x2x2x3 momentum=0.5 epsilon=0.1",
             "n = 4 per channel and momentum 0.5: a Bessel factor (4/3) would show in the moving variance; Keras 3 "
             "has none. epsilon 0.1 shows its value in y.",
             ["training", "inference", "batch-size-1", "epsilon-value"], [1, 2, 2, 3], -1, ["train", "eval"],
             momentum=0.5, epsilon=0.1),
        case(f"keras 3 {b} BatchNormalization float32 1x3 one value per channel in training",
             "One value per channel: variance 0, y = beta, accepted.",
             ["training", "inference", "batch-size-1", "single-value-per-channel"], [1, 3], -1, ["train", "eval"]),
    ]


# ---------------------------------------------------------------- format 1.3: mixed precision, center/scale


def grads_call(layer, x, dy, training):
    """One call: y and the gradients of sum(y * dy) with respect to x and to whichever of gamma, beta the layer has."""
    has = [k for k in ("gamma", "beta") if getattr(layer, k, None) is not None]
    if BACKEND == "tensorflow":
        xt = tf.constant(x)
        with tf.GradientTape() as g:
            g.watch(xt)
            y = layer(xt, training=training)
            loss = tf.reduce_sum(y * tf.constant(dy))
        grads = g.gradient(loss, [xt] + [getattr(layer, k).value for k in has])
        return y.numpy(), grads[0].numpy(), {k: grads[i + 1].numpy() for i, k in enumerate(has)}
    if BACKEND == "torch":
        return torch_grads(layer, x, dy, training, has)
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    names = [v.name for v in layer.trainable_variables]

    def f(xx, tv):
        return layer.stateless_call(tv, non_trainable, xx, training=training)

    y, vjp_fn, new_nt = jax.vjp(f, jax.numpy.asarray(x), trainable, has_aux=True)
    dx, dtv = vjp_fn(jax.numpy.asarray(dy))
    for v, value in zip(layer.non_trainable_variables, new_nt):
        v.assign(value)
    grads = dict(zip(names, dtv))
    return np.asarray(y), np.asarray(dx), {k: np.asarray(grads[k]) for k in has}


def np_dtype(dt):
    import ml_dtypes

    return {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}[dt]


def as_dt(values, shape, dt):
    return np.asarray(values, np.float64).astype(np_dtype(dt)).reshape(shape)


def variant_case(name, description, features, shape, axis, steps, dtype="float32", center=True, scale=True,
                 explicit=False, momentum=0.99, epsilon=1e-3, x_fn=None, dtypes=None, x64=False):
    """A Keras 3 layer with a dtype or dtype policy other than float32, or with center/scale switched separately.
    x64: run under jax.enable_x64 (a float64 layer on JAX; without it JAX has no float64 arrays at all)."""
    if x64:
        with jax.enable_x64(True):
            return variant_case(name, description, features, shape, axis, steps, dtype, center, scale, explicit,
                                momentum, epsilon, x_fn, dtypes)
    rng = rng_of(name)
    ax = axis % len(shape)
    C = shape[ax]
    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
                                            dtype=dtype)
    layer.build(tuple(shape))
    dt = keras.backend.standardize_dtype(layer.compute_dtype)
    pdt = keras.backend.standardize_dtype(layer.moving_mean.dtype)
    initial = {}
    if scale:
        layer.gamma.assign(as_dt([rng.uniform(0.5, 1.5) for _ in range(C)], [C], pdt))
        initial["gamma"] = tensor(pdt, to_np(layer.gamma.value))
    if center:
        layer.beta.assign(as_dt([rng.gauss(0, 0.5) for _ in range(C)], [C], pdt))
        initial["beta"] = tensor(pdt, to_np(layer.beta.value))
    initial["running_mean"] = tensor(pdt, to_np(layer.moving_mean.value))
    initial["running_var"] = tensor(pdt, to_np(layer.moving_variance.value))
    ch = Channels(rng, shape, axis)
    out_steps = []
    for mode in steps:
        x = as_dt(ch.x(x_fn), shape, dt)
        dy = as_dt(ch.dy(), shape, dt)
        y, dx, g = grads_call(layer, x, dy, mode == "train")
        assert keras.backend.standardize_dtype(y.dtype) == dt and keras.backend.standardize_dtype(dx.dtype) == dt
        expected = {"y": tensor(dt, y)}
        if mode == "train":
            expected["running_mean"] = tensor(pdt, to_np(layer.moving_mean.value))
            expected["running_var"] = tensor(pdt, to_np(layer.moving_variance.value))
        expected["dx"] = tensor(dt, dx)
        if scale:
            expected["dgamma"] = tensor(pdt, g["gamma"])
        if center:
            expected["dbeta"] = tensor(pdt, g["beta"])
        out_steps.append({"mode": mode, "inputs": {"x": tensor(dt, x), "dy": tensor(dt, dy)}, "expected": expected})
    config = {
        "axis": axis, "epsilon": epsilon if dt == "float64" else fround(epsilon), "epsilon_floor": 0.0,
        "epsilon_placement": "inside", "momentum": momentum, "momentum_kind": "old", "running_variance": "biased",
        "affine": center and scale, **({"center": center, "scale": scale} if explicit or not (center and scale) else {}),
        "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
        "empty_batch": "nan",
    }
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"] + ([] if center and scale else ["no-affine"]),
        "api": f"keras.layers.BatchNormalization ({BACKEND} backend)",
        "seed": seed_of(name),
        "dtype": dt,
        **({"dtypes": dtypes} if dtypes else {}),
        "config": config,
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"backend": BACKEND, "layer": {"axis": axis, "momentum": momentum, "epsilon": epsilon,
                                                         "center": center, "scale": scale, "dtype": dtype},
                           "variable_dtype": pdt, "compute_dtype": dt, **({"jax_enable_x64": True} if x64 else {})},
    }


def moments_f16_case(name, description, features, shape):
    """keras.ops.moments + keras.ops.batch_normalization on float16 data: the functional path, where ops.moments
    computes in float32 and clips the mean and variance to float16's finite range before casting them back."""
    rng = rng_of(name)
    C = shape[-1]
    gamma = as_dt([rng.uniform(0.5, 1.5) for _ in range(C)], [C], "float16")
    beta = as_dt([rng.gauss(0, 0.5) for _ in range(C)], [C], "float16")
    x = as_dt([(150.0 if i % C == 0 else 1000.0) * rng.gauss(0, 1) for i in range(prod(shape))], shape, "float16")
    red = list(range(len(shape) - 1))
    xt = keras.ops.convert_to_tensor(x)
    mean, var = keras.ops.moments(xt, red)
    y = keras.ops.batch_normalization(xt, mean, var, axis=-1, offset=keras.ops.convert_to_tensor(beta),
                                      scale=keras.ops.convert_to_tensor(gamma), epsilon=1e-3)
    expected = {"y": tensor("float16", to_np(y)), "batch_mean": tensor("float16", to_np(mean)),
                "batch_var": tensor("float16", to_np(var))}
    return {
        "name": name,
        "description": description,
        "features": features,
        "api": f"keras.ops.moments + keras.ops.batch_normalization ({BACKEND} backend)",
        "seed": seed_of(name),
        "dtype": "float16",
        "dtypes": dtypes_of("float16", "float16", "float16", "float16", "float32"),
        "config": {
            "axis": -1, "epsilon": float(np.float16(1e-3)), "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": 0.99, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": False, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": {"gamma": tensor("float16", gamma), "beta": tensor("float16", beta)},
        "steps": [{"mode": "train", "inputs": {"x": tensor("float16", x)}, "expected": expected}],
        "framework_call": {"backend": BACKEND, "axes": red, "epsilon": 1e-3,
                           "moments": "computed in float32, then clipped to [-65504, 65504] and cast to float16 "
                                      f"(keras/src/backend/{BACKEND}/nn.py moments)"},
    }


def mixed_cases():
    b = BACKEND
    half = dtypes_of
    out = []
    for dt in ["float16", "bfloat16"]:
        out += [
            variant_case(f"keras 3 {b} BatchNormalization dtype={dt} 2x4x5x3 NHWC train x3 then eval",
                         f"A {dt} layer: its variables are {dt} (autocast=False), the call casts x, the variables and "
                         f"the statistics to float32 (result_type(x, float32)), computes there, rounds y to {dt} and "
                         f"assigns the float32 moving averages to the {dt} variables.",
                         ["training", "inference", "multi-step"], [2, 4, 5, 3], -1, SEQ, dtype=dt,
                         dtypes=half(dt, dt, dt, "float32", "float32")),
            variant_case(f"keras 3 {b} BatchNormalization dtype={dt} 6x3 rank 2 momentum=0.5 train x2 then eval",
                         "Rank 2 with momentum 0.5: each moving average is rounded to the variables' dtype.",
                         ["training", "inference", "multi-step"], [6, 3], -1, ["train", "train", "eval"], dtype=dt,
                         momentum=0.5, dtypes=half(dt, dt, dt, "float32", "float32")),
        ]
    out.append(variant_case(f"keras 3 {b} BatchNormalization mixed_float16 policy 2x4x5x3 NHWC train x3 then eval",
                            "The mixed_float16 policy: float16 data and outputs, float32 variables, float32 compute.",
                            ["training", "inference", "multi-step"], [2, 4, 5, 3], -1, SEQ, dtype="mixed_float16",
                            dtypes=half("float16", "float32", "float32", "float32", "float32")))
    out.append(variant_case(
        f"keras 3 {b} BatchNormalization dtype=float16 8x2 channel 1 variance beyond 65504: moving variance +Infinity",
        "x spread 150 (channel 0) and 1000 (channel 1), momentum 0: the batch variances are computed in float32, and the "
        "layer assigns them to its float16 moving_variance, which holds 65504 at most: channel 1's (beyond it) becomes "
        "+Infinity, as rounding the exact value to float16 gives. (The clip of keras.ops.moments to float16's range is "
        "not reached from the layer: it casts x to float32 first.)",
        ["training", "inference"], [8, 2], -1, ["train", "eval"], dtype="float16", momentum=0.0,
        x_fn=lambda rng, count, channel_of: [(150.0 if channel_of(i) == 0 else 1000.0) * rng.gauss(0, 1)
                                            for i in range(count)],
        dtypes=half("float16", "float16", "float16", "float32", "float32")))
    out.append(variant_case(
        f"keras 3 {b} BatchNormalization dtype=float64 6x3 rank 2 train x3 then eval"
        + (" (computed in float32)" if b != "tensorflow" else ""),
        "A float64 layer with float64 data. "
        + (f"On {'JAX' if b == 'jax' else 'torch'}, keras.backend.result_type maps float64 to float32 "
           "(keras/src/backend/common/dtypes.py BIT64_TO_BIT32_DTYPE, every backend but TensorFlow), so the call "
           "computes in float32 and widens y, dx, the gradients and the moving averages back to float64: float64 "
           f"tensors with float32 accuracy{' (jax x64 enabled)' if b == 'jax' else ''}. A finding, judged by float64 "
           "budgets."
           if b != "tensorflow" else
           "On TensorFlow, result_type keeps float64: the call computes in float64."),
        ["training", "inference", "multi-step"], [6, 3], -1, SEQ, dtype="float64",
        dtypes=half("float64", "float64", "float64", "float64", "float32" if b != "tensorflow" else "float64"),
        x64=b == "jax"))
    out.append(moments_f16_case(
        f"keras 3 {b} ops.moments float16 8x2 channel 1 variance beyond 65504 clipped to 65504",
        "keras.ops.moments on float16 data (x spread 150 and 1000) computes in float32 and clips the variance to "
        "float16's largest finite value, 65504, before casting: channel 1's variance (beyond 65504, +Infinity once "
        "rounded to float16) comes back as 65504, and keras.ops.batch_normalization then normalizes with it.",
        ["training", "functional-api", "untracked-stats", "overflow"], [8, 2]))
    return out


def center_scale_cases():
    out = []
    for center, scale in [(True, True), (True, False), (False, True), (False, False)]:
        out.append(variant_case(
            f"keras 3 {BACKEND} BatchNormalization float32 2x4x5x3 NHWC center={center} scale={scale} train x2 then eval",
            f"center={center} (beta {'added' if center else 'absent'}), scale={scale} (gamma "
            f"{'applied' if scale else 'absent'}): the layer creates only the weights it uses.",
            ["training", "inference", "multi-step"], [2, 4, 5, 3], -1, ["train", "train", "eval"], center=center,
            scale=scale, explicit=True))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    cs = cases()
    prov = {
        "source": "keras",
        "framework": f"Keras 3 ({BACKEND} backend)",
        "version": keras.__version__,
        "api": "keras.layers.BatchNormalization; gradients by "
               + {"tensorflow": "tf.GradientTape", "jax": "jax.vjp of Layer.stateless_call",
                  "torch": "torch autograd (Tensor.backward)"}[BACKEND],
        "generator": GENERATOR,
        "command": "deno task fixtures",
        "seed": SEED,
        "composed": False,
        "environment": f"keras {keras.__version__} from PyPI in "
                       + (".envs/torch2/ (envs/torch2.txt)" if BACKEND == "torch" else ".venv/ (requirements.txt)")
                       + f", KERAS_BACKEND={BACKEND}, "
                       f"{ENGINE}, Python {sys.version_info.major}.{sys.version_info.minor}, numpy {np.__version__}",
        "notes": [
            "expected: what the layer computed (float32); running_mean and running_var are its moving_mean and "
            "moving_variance after the call.",
            "expected_float64 is COMPOSED in numpy float64 (scripts/generators/_witness_common.py formula_twin): the "
            "formulas of keras/src/layers/normalization/batch_normalization.py (ops.moments, biased variance; "
            "y = (x - mean) * rsqrt(var + epsilon) * gamma + beta; moving = moving * momentum + batch * (1 - momentum)) "
            "with their analytic gradients. Keras 3 computes a float64 layer in float32 on JAX and torch "
            "(result_type), so its float64 call is no float64 twin.",
            "Keras 3 computes y as ops.batch_normalization: x * inv + (beta - mean * inv), inv = rsqrt(var + eps) * "
            "gamma (keras/src/backend/jax/nn.py; tf.nn.batch_normalization on TensorFlow)."
            if BACKEND != "torch" else
            "On the torch backend ops.batch_normalization does not fold: y = (x - mean) * (rsqrt(var + eps) * gamma) + "
            "beta; and ops.moments takes the variance as mean(square(x)) - square(mean(x)) in float32, one pass "
            "(keras/src/backend/torch/nn.py moments and batch_normalization; finding F-26).",
        ],
    }
    emit(os.path.join(OUT, f"{BACKEND}_backend.json"), document(prov, cs))
    print(f"fixtures/keras/{BACKEND}_backend.json: {len(cs)} cases")
    notes_1_3 = [
        "Format 1.3: `dtypes` gives each tensor group its dtype. expected: what Keras computed; running_mean and "
        "running_var are moving_mean and moving_variance after the call. No expected_float64: the exact values judge "
        "every output, each by its own group's dtype.",
        "keras/src/layers/normalization/batch_normalization.py (Keras 3.15.1) call(): compute_dtype = "
        "backend.result_type(inputs.dtype, 'float32'), so float16 and bfloat16 inputs, the variables (created with "
        "autocast=False, so in the layer's variable dtype) and the statistics are cast to float32; y is cast to the "
        "layer's compute dtype; the float32 moving averages are assigned to the variables (rounded to their dtype).",
        "Keras 3 keeps a float16/bfloat16 layer's variables in that dtype; the mixed_float16 policy keeps them in float32.",
        "center/scale: center=False creates no beta, scale=False no gamma; config records them separately (format 1.3).",
    ]
    for name, cases_1_3 in [(f"mixed_precision_{BACKEND}.json", mixed_cases()),
                            (f"center_scale_{BACKEND}.json", center_scale_cases())]:
        emit(os.path.join(OUT, name), document_1_3({**prov, "notes": notes_1_3}, cases_1_3))
        print(f"fixtures/keras/{name}: {len(cases_1_3)} cases (format 1.3)")
    finish()


if __name__ == "__main__":
    main()
