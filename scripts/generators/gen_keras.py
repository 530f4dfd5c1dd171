#!/usr/bin/env python3
"""Golden BatchNorm fixtures from real Keras 3 (`keras.layers.BatchNormalization`) on one backend, run in .venv/.

`.venv/bin/python scripts/generators/gen_keras.py tensorflow|jax [--check]`, run once per backend by
`deno task fixtures`; writes fixtures/keras/<backend>_backend.json. One convention (momentum 0.99 on the old value,
epsilon 1e-3, biased moving variance, statistics by ops.moments, y by ops.batch_normalization), one real run per
backend. The torch backend is not run: it needs PyTorch 2, and this project's PyTorch is Debian's 1.13.

Gradients: tf.GradientTape (TensorFlow backend), jax.vjp of the layer's stateless_call (JAX backend).
expected_float64 of the float32 cases is COMPOSED (scripts/generators/_witness_common.py formula_twin, numpy float64):
Keras 3 has no float64 run that is a float64 computation on every backend (keras/src/backend/common/dtypes.py
result_type computes a float64 layer in float32 on JAX).
"""

import os
import sys

BACKEND = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else None
if BACKEND not in ("tensorflow", "jax"):
    sys.exit("usage: gen_keras.py tensorflow|jax [--check]")
os.environ["KERAS_BACKEND"] = BACKEND
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from _fixture_json import document, emit, finish  # noqa: E402
from _witness_common import SEED, Channels, as_f32, formula_twin, fround, rng_of, seed_of, tensor  # noqa: E402

GENERATOR = "scripts/generators/gen_keras.py"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "keras")

if BACKEND == "tensorflow":
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    ENGINE = f"tensorflow-cpu {tf.__version__}, oneDNN off (TF_ENABLE_ONEDNN_OPTS=0), 1 thread, op determinism on"
else:
    import jax

    import jaxlib

    ENGINE = f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, CPU, one Eigen thread (XLA_FLAGS)"


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
    state = {"gamma": gamma, "beta": beta, "running_mean": np.asarray(layer.moving_mean.value),
             "running_var": np.asarray(layer.moving_variance.value)}
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
            expected["running_mean"] = tensor("float32", np.asarray(layer.moving_mean.value))
            expected["running_var"] = tensor("float32", np.asarray(layer.moving_variance.value))
        expected.update({"dx": tensor("float32", dx), "dgamma": tensor("float32", dg), "dbeta": tensor("float32", db)})
        twin = formula_twin(x, dy, state, mode, fround(epsilon), axis, momentum, list(expected))
        out_steps.append({"mode": mode, "inputs": {"x": tensor("float32", x), "dy": tensor("float32", dy)},
                          "expected": expected, "expected_float64": twin})
        if mode == "train":
            state["running_mean"] = np.asarray(layer.moving_mean.value)
            state["running_var"] = np.asarray(layer.moving_variance.value)
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


def main():
    os.makedirs(OUT, exist_ok=True)
    cs = cases()
    prov = {
        "source": "keras",
        "framework": f"Keras 3 ({BACKEND} backend)",
        "version": keras.__version__,
        "api": "keras.layers.BatchNormalization; gradients by "
               + ("tf.GradientTape" if BACKEND == "tensorflow" else "jax.vjp of Layer.stateless_call"),
        "generator": GENERATOR,
        "command": "deno task fixtures",
        "seed": SEED,
        "composed": False,
        "environment": f"keras {keras.__version__} from PyPI in .venv/ (requirements.txt), KERAS_BACKEND={BACKEND}, "
                       f"{ENGINE}, Python {sys.version_info.major}.{sys.version_info.minor}, numpy {np.__version__}",
        "notes": [
            "expected: what the layer computed (float32); running_mean and running_var are its moving_mean and "
            "moving_variance after the call.",
            "expected_float64 is COMPOSED in numpy float64 (scripts/generators/_witness_common.py formula_twin): the "
            "formulas of keras/src/layers/normalization/batch_normalization.py (ops.moments, biased variance; "
            "y = (x - mean) * rsqrt(var + epsilon) * gamma + beta; moving = moving * momentum + batch * (1 - momentum)) "
            "with their analytic gradients. Keras 3 computes a float64 layer in float32 on JAX (result_type), so its "
            "float64 call is no float64 twin.",
            "Keras 3 computes y as ops.batch_normalization: x * inv + (beta - mean * inv), inv = rsqrt(var + eps) * "
            "gamma (keras/src/backend/jax/nn.py; tf.nn.batch_normalization on TensorFlow).",
        ],
    }
    emit(os.path.join(OUT, f"{BACKEND}_backend.json"), document(prov, cs))
    print(f"fixtures/keras/{BACKEND}_backend.json: {len(cs)} cases")
    finish()


if __name__ == "__main__":
    main()
