#!/usr/bin/env python3
"""Golden BatchNorm fixtures from real Flax (linen.BatchNorm and nnx.BatchNorm) on JAX's CPU backend, run in .venv/.

`.venv/bin/python scripts/generators/gen_flax.py [--sync] [--check]`, run twice by `deno task fixtures`; writes
fixtures/flax/batch_norm.json, and with --sync fixtures/flax/sync_batch_norm.json: linen.BatchNorm(axis_name=...)
under jax.pmap over 4 host CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=4), each case recorded as the
one global batch its shards make. Gradients by jax.vjp. Read from flax/linen/normalization.py and
flax/nnx/nn/normalization.py (flax 0.12.8) and confirmed by these runs:

- momentum 0.99 is the weight of the OLD value: ra = momentum * ra + (1 - momentum) * batch; biased variance.
- epsilon defaults to 1e-5 (float32 in the computation); y = (x - mean) * (rsqrt(var + eps) * scale) + bias.
- use_fast_variance=True is the default in both: mean and E[x^2] in one pass, var = max(0, E[x^2] - E[x]^2)
  (_compute_stats). It is the same convention as the two-pass variance, computed with cancellation: on x = 1e4 + 1e-3
  noise in float32 it loses the variance entirely (cases below, with use_fast_variance=False beside them).
- Statistics are computed in at least float32; nnx keeps its running statistics in float32 (BatchStat of jnp.float32).

expected_float64 is COMPOSED in numpy float64 (scripts/generators/_witness_common.py formula_twin): a float64 Flax
module needs jax x64 and keeps nnx's statistics in float32, so its float64 call is no float64 twin.
"""

import os
import sys

SYNC = "--sync" in sys.argv
DEVICES = 4
os.environ["JAX_PLATFORMS"] = "cpu"
# --sync: batch statistics across devices (axis_name), on DEVICES host CPU devices made by XLA.
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false" + (
    f" --xla_force_host_platform_device_count={DEVICES}" if SYNC else "")

import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
from flax import linen, nnx  # noqa: E402

from _fixture_json import document, emit, finish  # noqa: E402
from _witness_common import (  # noqa: E402
    SEED, Channels, as_f32, document_1_3, dtypes_of, formula_twin, fround, rng_of, seed_of, tensor)

GENERATOR = "scripts/generators/gen_flax.py"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "flax")


class LinenRunner:
    def __init__(self, shape, momentum, epsilon, fast, gamma, beta):
        self.mod = linen.BatchNorm(momentum=momentum, epsilon=epsilon, use_fast_variance=fast)
        v = self.mod.init(jax.random.PRNGKey(0), jnp.zeros(shape, jnp.float32), use_running_average=False)
        self.params = {"scale": jnp.asarray(gamma), "bias": jnp.asarray(beta)}
        self.stats = v["batch_stats"]

    def running(self):
        return np.asarray(self.stats["mean"]), np.asarray(self.stats["var"])

    def step(self, x, dy, training):
        def f(xx, p):
            if training:
                y, upd = self.mod.apply({"params": p, "batch_stats": self.stats}, xx, use_running_average=False,
                                        mutable=["batch_stats"])
                return y, upd["batch_stats"]
            return self.mod.apply({"params": p, "batch_stats": self.stats}, xx, use_running_average=True), self.stats

        y, vjp_fn, new_stats = jax.vjp(f, jnp.asarray(x), self.params, has_aux=True)
        dx, dp = vjp_fn(jnp.asarray(dy))
        self.stats = new_stats
        return np.asarray(y), np.asarray(dx), np.asarray(dp["scale"]), np.asarray(dp["bias"])


class NnxRunner:
    def __init__(self, shape, momentum, epsilon, fast, gamma, beta):
        self.bn = nnx.BatchNorm(shape[-1], momentum=momentum, epsilon=epsilon, use_fast_variance=fast,
                                rngs=nnx.Rngs(0))
        self.bn.scale[...] = jnp.asarray(gamma)
        self.bn.bias[...] = jnp.asarray(beta)

    def running(self):
        return np.asarray(self.bn.mean[...]), np.asarray(self.bn.var[...])

    def step(self, x, dy, training):
        def loss(m, xx):
            y = m(xx, use_running_average=not training)
            return jnp.sum(y * jnp.asarray(dy)), y

        # nnx.grad differentiates with respect to the module's Params and x, and carries the BatchStat update out.
        (gm, dx), y = nnx.grad(loss, argnums=(0, 1), has_aux=True)(self.bn, jnp.asarray(x))
        return np.asarray(y), np.asarray(dx), np.asarray(gm.scale[...]), np.asarray(gm.bias[...])


def case(name, description, features, api, shape, steps, fast=True, momentum=0.99, epsilon=1e-5, x_fn=None,
         scenario=None, inputs_of=None):
    """inputs_of: the name of another case whose seed (so inputs and parameters) this case reuses."""
    rng = rng_of(inputs_of or name)
    C = shape[-1]
    gamma = as_f32([rng.uniform(0.5, 1.5) for _ in range(C)], [C])
    beta = as_f32([rng.gauss(0, 0.5) for _ in range(C)], [C])
    runner = (LinenRunner if api == "linen" else NnxRunner)(shape, momentum, epsilon, fast, gamma, beta)
    rm, rv = runner.running()
    state = {"gamma": gamma, "beta": beta, "running_mean": rm, "running_var": rv}
    initial = {"gamma": tensor("float32", gamma), "beta": tensor("float32", beta),
               "running_mean": tensor("float32", rm), "running_var": tensor("float32", rv)}
    ch = Channels(rng, shape, -1)
    out_steps = []
    for mode in steps:
        x = as_f32(ch.x(x_fn), shape)
        dy = as_f32(ch.dy(), shape)
        y, dx, dg, db = runner.step(x, dy, mode == "train")
        expected = {"y": tensor("float32", y)}
        if mode == "train":
            rm, rv = runner.running()
            expected["running_mean"], expected["running_var"] = tensor("float32", rm), tensor("float32", rv)
        expected.update({"dx": tensor("float32", dx), "dgamma": tensor("float32", dg), "dbeta": tensor("float32", db)})
        twin = formula_twin(x, dy, state, mode, fround(epsilon), -1, momentum, list(expected))
        out_steps.append({"mode": mode, "inputs": {"x": tensor("float32", x), "dy": tensor("float32", dy)},
                          "expected": expected, "expected_float64": twin})
        if mode == "train":
            state["running_mean"], state["running_var"] = rm, rv
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"],
        "api": "flax.linen.BatchNorm" if api == "linen" else "flax.nnx.BatchNorm",
        "seed": seed_of(inputs_of or name),
        "dtype": "float32",
        "config": {
            "axis": -1, "epsilon": fround(epsilon), "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": momentum, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"module": api, "momentum": momentum, "epsilon": epsilon, "use_fast_variance": fast,
                           **({"scenario": scenario} if scenario else {})},
    }


SEQ = ["train", "train", "train", "eval"]


def constant_channel(rng, count, channel_of):
    return [3.0 if channel_of(i) == 0 else rng.gauss(0, 1) for i in range(count)]


def large_mean(rng, count, channel_of):
    return [1e4 + 1e-3 * rng.gauss(0, 1) for _ in range(count)]


def cases():
    out = []
    for api in ["linen", "nnx"]:
        out += [
            case(f"flax {api}.BatchNorm float32 2x4x5x3 NHWC defaults train x3 then eval",
                 "Flax's defaults: momentum 0.99 on the old value, epsilon 1e-5, biased running variance, "
                 "use_fast_variance=True (var = max(0, E[x^2] - E[x]^2)).",
                 ["training", "inference", "multi-step"], api, [2, 4, 5, 3], SEQ),
            case(f"flax {api}.BatchNorm float32 6x3 rank 2 defaults train x3 then eval", "Rank 2 (N, C).",
                 ["training", "inference", "multi-step"], api, [6, 3], SEQ),
        ]
        for label, shape in [("2x4x5x3 NHWC", [2, 4, 5, 3]), ("6x3 rank 2", [6, 3])]:
            default = f"flax {api}.BatchNorm float32 {label} defaults train x3 then eval"
            out.append(case(
                f"flax {api}.BatchNorm float32 {label} use_fast_variance=False train x3 then eval",
                f"The inputs and parameters of '{default}' with use_fast_variance=False (two-pass variance): "
                "beside it, this shows how much of the default's distance from the formula is the one-pass variance.",
                ["training", "inference", "multi-step"], api, shape, SEQ, fast=False, inputs_of=default))
        for fast in [True, False]:
            out.append(case(
                f"flax {api}.BatchNorm float32 64x2 large mean tiny spread use_fast_variance={fast}",
                "x = 1e4 + 1e-3*noise (|mean|/std ~ 1e7). "
                + ("use_fast_variance=True, the default: E[x^2] - E[x]^2 in float32 cancels (x^2 ~ 1e8, whose ULP is 8), "
                   "so the variance is lost and y is far from the formula's." if fast else
                   "use_fast_variance=False: the two-pass variance E[(x - E[x])^2]."),
                ["edge-case", "large-mean", "training", "inference"], api, [64, 2], ["train", "eval"], fast=fast,
                x_fn=large_mean, scenario="large-mean"))
        out.append(case(
            f"flax {api}.BatchNorm float32 4x3x2 constant channel",
            "Channel 0 constant (3.0) with the default fast variance: E[x^2] - E[x]^2 = 9 - 9 = 0 exactly here, so "
            "y = bias; dx = scale/sqrt(eps)*(dy - mean(dy)).",
            ["edge-case", "zero-variance", "training", "inference"], api, [4, 3, 2], ["train", "eval"],
            x_fn=constant_channel, scenario="constant-channel"))
    return out


def sync_case(name, description, features, rows, valid=None, momentum=0.99, epsilon=1e-5, defect=None):
    """rows per device (equal: pmap needs one shape); valid: rows per device that the mask keeps (None: all)."""
    rng = rng_of(name)
    C = 3
    D = DEVICES
    gamma = as_f32([rng.uniform(0.5, 1.5) for _ in range(C)], [C])
    beta = as_f32([rng.gauss(0, 0.5) for _ in range(C)], [C])
    mod = linen.BatchNorm(axis_name="batch", momentum=momentum, epsilon=epsilon)
    v = mod.init(jax.random.PRNGKey(0), jnp.zeros((rows, C), jnp.float32), use_running_average=False)
    params = {"scale": jnp.asarray(gamma), "bias": jnp.asarray(beta)}
    stats = v["batch_stats"]
    valid = valid or [rows] * D
    mask = np.zeros((D, rows, C), bool)
    for d, k in enumerate(valid):
        mask[d, :k, :] = True
    state = {"gamma": gamma, "beta": beta, "running_mean": np.asarray(stats["mean"]), "running_var": np.asarray(stats["var"])}
    initial = {"gamma": tensor("float32", gamma), "beta": tensor("float32", beta),
               "running_mean": tensor("float32", state["running_mean"]), "running_var": tensor("float32", state["running_var"])}
    ch = Channels(rng, [D * rows, C], -1)
    replicate = lambda t: jax.tree_util.tree_map(lambda a: jnp.stack([a] * D), t)  # noqa: E731
    out_steps = []
    for mode in ["train", "eval"]:
        xs = as_f32(ch.x(), [D, rows, C])
        if mode == "train":
            def f(xx, m, p, st):
                y, upd = mod.apply({"params": p, "batch_stats": st}, xx, use_running_average=False, mask=m,
                                   mutable=["batch_stats"])
                return y, upd["batch_stats"]
            y, new = jax.pmap(f, axis_name="batch")(xs, mask, replicate(params), replicate(stats))
            per_device = np.asarray(new["mean"]), np.asarray(new["var"])
            assert all(np.array_equal(a[0], a[d]) for a in per_device for d in range(D)), "devices disagree"
            stats = {"mean": jnp.asarray(per_device[0][0]), "var": jnp.asarray(per_device[1][0])}
        else:
            def g(xx, p, st):
                return mod.apply({"params": p, "batch_stats": st}, xx, use_running_average=True)
            y = jax.pmap(g, axis_name="batch")(xs, replicate(params), replicate(stats))
        keep = mask[:, :, 0]
        x_global = xs[keep]
        y_global = np.asarray(y)[keep]
        expected = {"y": tensor("float32", y_global)}
        if mode == "train":
            expected["running_mean"] = tensor("float32", np.asarray(stats["mean"]))
            expected["running_var"] = tensor("float32", np.asarray(stats["var"]))
        twin = formula_twin(x_global, None, state, mode, fround(epsilon), -1, momentum, list(expected))
        out_steps.append({"mode": mode, "inputs": {"x": tensor("float32", x_global)}, "expected": expected,
                          "expected_float64": twin})
        if mode == "train":
            state["running_mean"], state["running_var"] = np.asarray(stats["mean"]), np.asarray(stats["var"])
    return {
        "name": name,
        "description": description,
        "features": features,
        "api": "flax.linen.BatchNorm(axis_name='batch') under jax.pmap",
        "seed": seed_of(name),
        "dtype": "float32",
        "config": {
            "axis": -1, "epsilon": fround(epsilon), "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": momentum, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"module": "linen", "axis_name": "batch", "devices": D, "rows_per_device": rows,
                           "valid_rows_per_device": valid, "mask": valid != [rows] * D,
                           "x": "the global batch: each device's valid rows, device by device"},
        **({"framework_defect": defect} if defect else {}),
    }


UNEVEN_SHARDS = {
    "issue": "https://github.com/google/flax/issues/2417",
    "summary": "With axis_name, Flax averages the per-device means (lax.pmean of x.mean(where=mask) in _compute_stats, "
    "flax/linen/normalization.py, flax 0.12.8), which is the global batch's mean only when every device holds the same "
    "number of valid values. With a mask keeping 1, 3, 3 and 3 rows, the statistics weight device 0's one row as much "
    "as the other devices' three: they are not the 10-row batch's, so neither y nor the running statistics are.",
}


def sync_cases():
    return [
        sync_case("flax linen.BatchNorm axis_name over 4 devices 4x3 rows equals the 12x3 batch",
                  "Batch statistics across 4 host CPU devices (jax.pmap, axis_name='batch'), 3 rows each: the "
                  "cross-device mean and variance are those of the 12-row batch, so the case is that batch.",
                  ["training", "inference"], rows=3),
        sync_case("flax linen.BatchNorm axis_name over 4 devices masked 1+3+3+3 rows: mean of device means",
                  "The same with a mask keeping 1, 3, 3 and 3 rows (the way SPMD code gives devices unequal batches): "
                  "the global batch is the 10 valid rows, but Flax averages the four devices' means.",
                  ["training", "inference", "known-framework-defect"], rows=3, valid=[1, 3, 3, 3],
                  defect=UNEVEN_SHARDS),
    ]


# ---------------------------------------------------------------- format 1.3: mixed precision, use_bias/use_scale


class VariantRunner:
    """linen.BatchNorm or nnx.BatchNorm with a data dtype (`dtype`), a parameter dtype and use_bias/use_scale."""

    def __init__(self, api, shape, momentum, epsilon, dtype, param_dtype, use_bias, use_scale, gamma, beta, fast):
        self.api, self.use_bias, self.use_scale = api, use_bias, use_scale
        kw = {"momentum": momentum, "epsilon": epsilon, "dtype": jnp.dtype(dtype), "param_dtype": jnp.dtype(param_dtype),
              "use_bias": use_bias, "use_scale": use_scale, "use_fast_variance": fast}
        if api == "linen":
            self.mod = linen.BatchNorm(**kw)
            v = self.mod.init(jax.random.PRNGKey(0), jnp.zeros(shape, jnp.dtype(dtype)), use_running_average=False)
            self.params = {**({"scale": jnp.asarray(gamma)} if use_scale else {}),
                           **({"bias": jnp.asarray(beta)} if use_bias else {})}
            self.stats = v["batch_stats"]
        else:
            self.bn = nnx.BatchNorm(shape[-1], rngs=nnx.Rngs(0), **kw)
            if use_scale:
                self.bn.scale[...] = jnp.asarray(gamma)
            if use_bias:
                self.bn.bias[...] = jnp.asarray(beta)

    def running(self):
        if self.api == "linen":
            return np.asarray(self.stats["mean"]), np.asarray(self.stats["var"])
        return np.asarray(self.bn.mean[...]), np.asarray(self.bn.var[...])

    def step(self, x, dy, training):
        """y, dx and the gradients of sum(y * dy) by parameter name (scale, bias: those the module has)."""
        if self.api == "linen":
            def f(xx, p):
                v = {"params": p, "batch_stats": self.stats}
                if training:
                    y, upd = self.mod.apply(v, xx, use_running_average=False, mutable=["batch_stats"])
                    return y, upd["batch_stats"]
                return self.mod.apply(v, xx, use_running_average=True), self.stats

            y, vjp_fn, new_stats = jax.vjp(f, jnp.asarray(x), self.params, has_aux=True)
            dx, dp = vjp_fn(jnp.asarray(dy))
            self.stats = new_stats
            return np.asarray(y), np.asarray(dx), {k: np.asarray(v) for k, v in dp.items()}

        def loss(m, xx):
            y = m(xx, use_running_average=not training)
            return jnp.sum(y * jnp.asarray(dy)), y

        (gm, dx), y = nnx.grad(loss, argnums=(0, 1), has_aux=True)(self.bn, jnp.asarray(x))
        grads = {}
        if self.use_scale:
            grads["scale"] = np.asarray(gm.scale[...])
        if self.use_bias:
            grads["bias"] = np.asarray(gm.bias[...])
        return np.asarray(y), np.asarray(dx), grads


def np_dtype(dt):
    import ml_dtypes

    return {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}[dt]


def as_dt(values, shape, dt):
    return np.asarray(values, np.float64).astype(np_dtype(dt)).reshape(shape)


def variant_case(name, description, features, api, shape, steps, dtype="float32", param_dtype="float32",
                 use_bias=True, use_scale=True, explicit=False, momentum=0.99, epsilon=1e-5, dtypes=None, x64=False,
                 running_dtype=None, fast=True):
    """A Flax module with a data dtype other than float32 or with use_bias/use_scale switched apart. x64: under
    jax.enable_x64 (float64 modules; without it JAX has no float64 arrays)."""
    if x64:
        with jax.enable_x64(True):
            return variant_case(name, description, features, api, shape, steps, dtype, param_dtype, use_bias,
                                use_scale, explicit, momentum, epsilon, dtypes, running_dtype=running_dtype, fast=fast)
    rng = rng_of(name)
    C = shape[-1]
    gamma = as_dt([rng.uniform(0.5, 1.5) for _ in range(C)], [C], param_dtype)
    beta = as_dt([rng.gauss(0, 0.5) for _ in range(C)], [C], param_dtype)
    runner = VariantRunner(api, shape, momentum, epsilon, dtype, param_dtype, use_bias, use_scale, gamma, beta, fast)
    rm, rv = runner.running()
    # running_dtype: what the updates store, where it differs from the initial variables' (linen float64: float32
    # zeros and ones, float64 after the first update; those initial values are float64 values too).
    rdt = running_dtype or str(rm.dtype)
    initial = {**({"gamma": tensor(param_dtype, gamma)} if use_scale else {}),
               **({"beta": tensor(param_dtype, beta)} if use_bias else {}),
               "running_mean": tensor(rdt, rm), "running_var": tensor(rdt, rv)}
    ch = Channels(rng, shape, -1)
    out_steps = []
    for mode in steps:
        x = as_dt(ch.x(), shape, dtype)
        dy = as_dt(ch.dy(), shape, dtype)
        y, dx, g = runner.step(x, dy, mode == "train")
        assert str(y.dtype) == dtype and str(dx.dtype) == dtype, (y.dtype, dx.dtype)
        expected = {"y": tensor(dtype, y)}
        if mode == "train":
            rm, rv = runner.running()
            assert str(rm.dtype) == rdt, (rm.dtype, rdt)
            expected["running_mean"], expected["running_var"] = tensor(rdt, rm), tensor(rdt, rv)
        expected["dx"] = tensor(dtype, dx)
        if use_scale:
            expected["dgamma"] = tensor(param_dtype, g["scale"])
        if use_bias:
            expected["dbeta"] = tensor(param_dtype, g["bias"])
        out_steps.append({"mode": mode, "inputs": {"x": tensor(dtype, x), "dy": tensor(dtype, dy)}, "expected": expected})
    uniform = dtype == param_dtype == rdt
    return {
        "name": name,
        "description": description,
        "features": features + ["backward"] + ([] if use_bias and use_scale else ["no-affine"]),
        "api": "flax.linen.BatchNorm" if api == "linen" else "flax.nnx.BatchNorm",
        "seed": seed_of(name),
        "dtype": dtype,
        **({"dtypes": dtypes or dtypes_of(dtype, param_dtype, rdt, "float32" if dtype != "float64" else "float64",
                                           "float32" if dtype != "float64" else "float64")}
           if not uniform or dtypes else {}),
        "config": {
            "axis": -1, "epsilon": epsilon if dtype == "float64" else fround(epsilon), "epsilon_floor": 0.0,
            "epsilon_placement": "inside", "momentum": momentum, "momentum_kind": "old", "running_variance": "biased",
            "affine": use_bias and use_scale,
            **({"center": use_bias, "scale": use_scale} if explicit or not (use_bias and use_scale) else {}),
            "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": initial,
        "steps": out_steps,
        "framework_call": {"module": api, "momentum": momentum, "epsilon": epsilon, "dtype": dtype,
                           "param_dtype": param_dtype, "use_bias": use_bias, "use_scale": use_scale,
                           "use_fast_variance": fast, **({"jax_enable_x64": True} if x64 else {})},
    }


def mixed_cases():
    out = []
    for api in ["linen", "nnx"]:
        for dt in ["float16", "bfloat16"]:
            out.append(variant_case(
                f"flax {api}.BatchNorm dtype={dt} 2x4x5x3 NHWC train x3 then eval",
                f"dtype={dt} (the data and y), param_dtype float32 (the default): scale and bias float32, the batch "
                "statistics computed in at least float32 (_compute_stats promotes to float32), running statistics "
                f"float32, y rounded to {dt}.",
                ["training", "inference", "multi-step"], api, [2, 4, 5, 3], SEQ, dtype=dt))
        out.append(variant_case(
            f"flax {api}.BatchNorm dtype=float64 param_dtype=float64 6x3 rank 2 train x3 then eval"
            + (" (running statistics float32)" if api == "nnx" else ""),
            "A float64 module (jax x64 enabled). "
            + ("nnx.BatchNorm creates its running statistics as float32 whatever the dtypes "
               "(flax/nnx/nn/normalization.py: nnx.BatchStat(jnp.zeros(feature_shape, jnp.float32))), so the running "
               "mean and variance come back float32: a float64 module whose running statistics carry float32 accuracy."
               if api == "nnx" else
               "linen creates its batch_stats as float32 (force_float32_reductions=True, the default) but the first "
               "update stores the float64 value: the running statistics are float64 from then on."),
            ["training", "inference", "multi-step"], api, [6, 3], SEQ, dtype="float64", param_dtype="float64", x64=True,
            dtypes=dtypes_of("float64", "float64", "float32", "float64", "float64") if api == "nnx" else None,
            running_dtype="float64" if api == "linen" else None))
    return out


def center_scale_cases():
    out = []
    for api in ["linen", "nnx"]:
        for use_bias, use_scale in [(True, True), (True, False), (False, True), (False, False)]:
            out.append(variant_case(
                f"flax {api}.BatchNorm float32 2x4x5x3 NHWC use_bias={use_bias} use_scale={use_scale} use_fast_variance=False",
                f"use_bias={use_bias}, use_scale={use_scale}: the module has only the parameters it uses (config "
                "center = use_bias, scale = use_scale). use_fast_variance=False (the two-pass variance), so that the "
                "case shows the switches alone (the default's one-pass variance is in batch_norm.json).",
                ["training", "inference", "multi-step"], api, [2, 4, 5, 3], ["train", "train", "eval"],
                use_bias=use_bias, use_scale=use_scale, explicit=True, fast=False))
    return out


def stat_gradient_case(name, description, features, shape, epsilon):
    """Format 1.3's dmean and dvar: linen.BatchNorm applied with use_running_average=True, and jax.vjp of y with
    respect to x, params and batch_stats (the running mean and variance it normalizes with: dmean, dvar)."""
    rng = rng_of(name)
    C = shape[-1]
    gamma = as_f32([rng.uniform(0.5, 1.5) for _ in range(C)], [C])
    beta = as_f32([rng.gauss(0, 0.5) for _ in range(C)], [C])
    rm = as_f32([rng.gauss(0, 1) for _ in range(C)], [C])
    rv = as_f32([rng.uniform(0.5, 2.0) for _ in range(C)], [C])
    ch = Channels(rng, shape, -1)
    x = as_f32(ch.x(), shape)
    dy = as_f32(ch.dy(), shape)
    mod = linen.BatchNorm(use_running_average=True, epsilon=epsilon)
    params = {"scale": jnp.asarray(gamma), "bias": jnp.asarray(beta)}
    stats = {"mean": jnp.asarray(rm), "var": jnp.asarray(rv)}
    y, vjp_fn = jax.vjp(lambda xx, p, st: mod.apply({"params": p, "batch_stats": st}, xx), jnp.asarray(x), params,
                        stats)
    dx, dp, dst = vjp_fn(jnp.asarray(dy))
    expected = {"y": tensor("float32", np.asarray(y)), "dx": tensor("float32", np.asarray(dx)),
                "dgamma": tensor("float32", np.asarray(dp["scale"])), "dbeta": tensor("float32", np.asarray(dp["bias"])),
                "dmean": tensor("float32", np.asarray(dst["mean"])), "dvar": tensor("float32", np.asarray(dst["var"]))}
    return {
        "name": name,
        "description": description,
        "features": features,
        "api": "flax.linen.BatchNorm(use_running_average=True); jax.vjp with respect to x, params and batch_stats",
        "seed": seed_of(name),
        "dtype": "float32",
        "config": {
            "axis": -1, "epsilon": fround(epsilon), "epsilon_floor": 0.0, "epsilon_placement": "inside",
            "momentum": 0.99, "momentum_kind": "old", "running_variance": "biased", "affine": True,
            "track_running_stats": True, "single_value_training": "allow", "zero_variance_invstd": "ieee",
            "empty_batch": "nan",
        },
        "initial_state": {"gamma": tensor("float32", gamma), "beta": tensor("float32", beta),
                          "running_mean": tensor("float32", rm), "running_var": tensor("float32", rv)},
        "steps": [{"mode": "eval", "inputs": {"x": tensor("float32", x), "dy": tensor("float32", dy)},
                   "expected": expected}],
        "framework_call": {"module": "linen", "use_running_average": True, "epsilon": epsilon,
                           "vjp": ["x", "params", "batch_stats"]},
    }


def stat_gradient_cases():
    return [
        stat_gradient_case(
            "flax linen.BatchNorm float32 2x4x5x3 NHWC use_running_average gradients with respect to batch_stats",
            "Inference with the running statistics (use_running_average=True); jax.vjp differentiates y with respect "
            "to x, scale, bias and the batch_stats mean and var: dmean and dvar (format 1.3).",
            ["inference", "backward"], [2, 4, 5, 3], 1e-5),
        stat_gradient_case(
            "flax linen.BatchNorm float32 4x4x4x3 NHWC epsilon=0.75 gradients with respect to batch_stats",
            "epsilon comparable to the variance: dvar shows epsilon inside the root (rsqrt(var + epsilon)).",
            ["inference", "backward", "epsilon-placement", "epsilon-value"], [4, 4, 4, 3], 0.75),
    ]


def main():
    os.makedirs(OUT, exist_ok=True)
    if SYNC:
        assert len(jax.devices()) == DEVICES, jax.devices()
        cs = sync_cases()
        prov = {
            "source": "flax",
            "framework": "Flax",
            "version": flax.__version__,
            "api": "flax.linen.BatchNorm(axis_name='batch', mask) under jax.pmap over 4 host CPU devices",
            "generator": GENERATOR,
            "command": "deno task fixtures",
            "seed": SEED,
            "composed": False,
            "environment": f"flax {flax.__version__}, jax {jax.__version__}, jaxlib {jaxlib.__version__}, CPU, "
                           f"XLA_FLAGS=--xla_force_host_platform_device_count={DEVICES} (4 host devices), Python "
                           f"{sys.version_info.major}.{sys.version_info.minor}, numpy {np.__version__}",
            "notes": [
                "Each case is recorded as the global batch its shards make (x: every device's valid rows, device by "
                "device; y: the same rows of the devices' outputs); the running statistics were identical on every "
                "device (checked). No gradients are recorded.",
                "expected_float64 is COMPOSED in numpy float64 from the global batch (scripts/generators/"
                "_witness_common.py formula_twin): what one big batch gives.",
            ],
        }
        emit(os.path.join(OUT, "sync_batch_norm.json"), document(prov, cs))
        print(f"fixtures/flax/sync_batch_norm.json: {len(cs)} cases")
        finish()
        return
    cs = cases()
    prov = {
        "source": "flax",
        "framework": "Flax",
        "version": flax.__version__,
        "api": "flax.linen.BatchNorm, flax.nnx.BatchNorm; gradients by jax.vjp",
        "generator": GENERATOR,
        "command": "deno task fixtures",
        "seed": SEED,
        "composed": False,
        "environment": f"flax {flax.__version__}, jax {jax.__version__}, jaxlib {jaxlib.__version__} from PyPI in .venv/ "
                       f"(requirements.txt), CPU, one Eigen thread (XLA_FLAGS), Python "
                       f"{sys.version_info.major}.{sys.version_info.minor}, numpy {np.__version__}",
        "notes": [
            "expected: what Flax computed (float32); running_mean and running_var are the module's batch_stats "
            "(linen) or BatchStat variables (nnx) after the call.",
            "expected_float64 is COMPOSED in numpy float64 (scripts/generators/_witness_common.py formula_twin) from "
            "flax/linen/normalization.py's formulas with the two-pass variance, and their analytic gradients.",
            "use_fast_variance (default True in linen and nnx, flax 0.12.8) computes var = max(0, E[x^2] - E[x]^2): "
            "the same convention as the biased two-pass variance, with cancellation at large |mean|/std.",
        ],
    }
    emit(os.path.join(OUT, "batch_norm.json"), document(prov, cs))
    print(f"fixtures/flax/batch_norm.json: {len(cs)} cases")
    notes_1_3 = [
        "Format 1.3: `dtypes` gives each tensor group its dtype. expected: what Flax computed; running_mean and "
        "running_var are the module's batch_stats (linen) or BatchStat variables (nnx) after the call. No "
        "expected_float64: the exact values judge every output, each by its own group's dtype.",
        "Half precision: the module's dtype is the data's (x, y, dx); param_dtype (default float32) the parameters'; "
        "_compute_stats promotes to at least float32 (flax/linen/normalization.py, flax/nnx/nn/normalization.py), and "
        "the running statistics are float32.",
        "center/scale: use_bias and use_scale; config records them as center and scale (format 1.3).",
    ]
    for name, cases_1_3 in [("mixed_precision.json", mixed_cases()), ("center_scale.json", center_scale_cases())]:
        emit(os.path.join(OUT, name), document_1_3({**prov, "notes": notes_1_3}, cases_1_3))
        print(f"fixtures/flax/{name}: {len(cases_1_3)} cases (format 1.3)")
    stat_notes = [
        "Format 1.3: dmean and dvar, the gradients of sum(y * dy) with respect to the running mean and variance a "
        "use_running_average=True call normalizes with (the batch_stats collection, passed to jax.vjp beside x and "
        "params). expected: what Flax computed (float32). No expected_float64: the exact values judge every output.",
        "linen's _normalize: y = (x - mean) * (rsqrt(var + epsilon) * scale) + bias; epsilon enters as a float32 value.",
    ]
    cs = stat_gradient_cases()
    emit(os.path.join(OUT, "statistics_gradients.json"), document_1_3({**prov, "notes": stat_notes}, cs))
    print(f"fixtures/flax/statistics_gradients.json: {len(cs)} cases (format 1.3)")
    finish()


if __name__ == "__main__":
    main()
