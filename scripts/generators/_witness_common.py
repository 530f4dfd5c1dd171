"""Shared by the .venv/ generators for layers without a float64 run of their own (Keras 3 on JAX, Flax).

- Inputs: Python's random.Random seeded per case with SEED ^ crc32(name), channel c drawn around its own mean and
  spread, as scripts/generators/gen_tensorflow.py and gen_pytorch.py do.
- `formula_twin`: the float64 twin of a float32 step, COMPOSED in numpy float64 from the textbook formulas every
  framework here documents (mean, biased variance, (x - mean) / sqrt(var + eps) * gamma + beta, the running update of
  the stated kind), with the analytic gradients of sum(y * dy). Deviations are taken from a corrected mean
  (mean0 + mean(x - mean0)), as scripts/generators/compose_torch.py does. Used only where the framework's own float64
  call is not a float64 computation (Keras 3 and Flax compute statistics in float32 or keep float32 state).
"""

import random
import struct
import zlib

import numpy as np

from _fixture_json import dump

SEED = 20261122


def fround(v):
    return struct.unpack("f", struct.pack("f", v))[0]


def prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def seed_of(name):
    return SEED ^ zlib.crc32(name.encode())


def rng_of(name):
    return random.Random(seed_of(name))


def tensor(dtype, values):
    a = np.asarray(values)
    return {"dtype": dtype, "shape": list(a.shape), "data": [float(v) for v in a.astype(np.float64).flatten()]}


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


def as_f32(values, shape):
    return np.asarray(values, dtype=np.float64).astype(np.float32).reshape(shape)


def formula_twin(x, dy, state, mode, eps, axis, momentum_old, keys):
    """numpy float64: outputs named in `keys` for one step from `state` (gamma, beta, running_mean, running_var)."""
    x = np.asarray(x, np.float64)
    rank = x.ndim
    ax = axis % rank
    red = tuple(d for d in range(rank) if d != ax)
    bshape = [x.shape[d] if d == ax else 1 for d in range(rank)]
    g = np.asarray(state["gamma"], np.float64).reshape(bshape)
    b = np.asarray(state["beta"], np.float64).reshape(bshape)
    n = x.size // x.shape[ax]
    out = {}
    with np.errstate(all="ignore"):
        if mode == "train":
            m0 = x.mean(axis=red, keepdims=True)
            corr = (x - m0).mean(axis=red, keepdims=True)
            centered = (x - m0) - corr
            mean = m0 + corr
            var = (centered ** 2).mean(axis=red, keepdims=True)
            out["batch_mean"], out["batch_var"] = mean.flatten(), var.flatten()
        else:
            mean = np.asarray(state["running_mean"], np.float64).reshape(bshape)
            var = np.asarray(state["running_var"], np.float64).reshape(bshape)
            centered = x - mean
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = centered * invstd
        out["y"] = xhat * g + b
        if dy is not None:
            dy = np.asarray(dy, np.float64)
            sdy = dy.sum(axis=red, keepdims=True)
            sdyx = (dy * xhat).sum(axis=red, keepdims=True)
            out["dgamma"], out["dbeta"] = sdyx.flatten(), sdy.flatten()
            if mode == "train":
                out["dx"] = g * invstd / n * (n * dy - sdy - xhat * sdyx)
            else:
                out["dx"] = dy * g * invstd
        if mode == "train" and "running_mean" in keys:
            m = momentum_old
            out["running_mean"] = m * np.asarray(state["running_mean"], np.float64) + (1 - m) * out["batch_mean"]
            out["running_var"] = m * np.asarray(state["running_var"], np.float64) + (1 - m) * out["batch_var"]
    return {k: tensor("float64", out[k]) for k in keys}


def document_1_3(provenance, cases):
    """A fixture file of format 1.3 (a dtype per tensor group, center/scale): _fixture_json.document's layout."""
    return dump({"format": "batchnorm-conformance-fixture", "format_version": "1.3", "provenance": provenance,
                 "cases": cases}) + "\n"


def dtypes_of(data, params, running, saved, compute=None):
    """The case field `dtypes` (format 1.3)."""
    return {"data": data, "params": params, "running": running, "saved": saved, **({"compute": compute} if compute else {})}
