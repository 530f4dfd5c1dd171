#!/usr/bin/env python3
"""Framework engines from PyPI behind the subprocess protocol (fixtures/PROTOCOL.md), version 1.0.

    .envs/paddle/bin/python scripts/peers/pypi_framework_peer.py paddle
    .envs/mlx/bin/python scripts/peers/pypi_framework_peer.py mlx
    .envs/tinygrad/bin/python scripts/peers/pypi_framework_peer.py tinygrad
    .envs/ncnn/bin/python scripts/peers/pypi_framework_peer.py ncnn
    .envs/torch2/bin/python scripts/peers/pypi_framework_peer.py torch
    ... ENGINE --bench 32,64,56,56 [--repeat 30]   # median times inside this process, one JSON line

Every output is computed by the engine itself, in the case's dtype: its BatchNorm layer for y and the running
statistics, its autograd for dx, dgamma and dbeta (ncnn runs inference only). numpy only moves data in and out:
casting exact binary64 inputs to the case's dtype and moving the channel axis (both exact). Each engine declares
the conventions it has (its momentum reading, its running variance, its own refusals); the runner skips the rest.
Logs go to stderr; stdout carries protocol lines only.
"""

import json
import statistics
import sys
import time

import numpy as np
from _protocol import num, serve, values

class Refusal(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def array(t):
    return np.array(values(t), dtype=np.float64).reshape(t["shape"])


def encode(a, dtype_name):
    a = np.asarray(a, dtype=np.float64)
    return {"dtype": dtype_name, "shape": list(a.shape), "data": [num(float(v)) for v in a.reshape(-1)]}


# The engines' own refusals, by their messages (each quoted from the engine's source): only these become the refusal
# codes a fixture can expect. Any other exception (a bug here, numpy's "zero-size array" on an empty batch, an engine
# crash) is answered as invalid_option, which no fixture expects, so it fails the case instead of passing as a refusal.
REFUSALS = (
    # torch/nn/functional.py _verify_batch_size; mlx/nn/layers/normalization.py BatchNorm.__call__
    ("single_value_per_channel", ("Expected more than 1 value per channel when training",
                                  "BatchNorm training requires more than one value per channel")),
    # torch/nn/functional.py batch_norm (2.x); mlx/nn/layers/normalization.py BatchNorm.__init__
    ("invalid_epsilon", ("batch_norm eps must be", "[BatchNorm] 'eps' must be positive")),
)


def refusal_code(message):
    for code, messages in REFUSALS:
        if any(m in message for m in messages):
            return code
    return "invalid_option"


def reduce_axes(rank):
    return (0,) + tuple(range(2, rank))


# ---------------------------------------------------------------------------------------------------------------------
# Engines. Each takes the case's dtype, the config (engine defaults for absent fields), the mode, x and dy (float64
# numpy, channels on axis 1) and the state, and returns outputs as numpy arrays already holding values of the dtype.


class Torch:
    """PyTorch (2.15 from PyPI in .envs/torch2): torch.nn.BatchNorm{1,2,3}d, autograd, native_batch_norm's saves."""

    def __init__(self):
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.version = torch.__version__
        self.dtypes = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}
        self.modules = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}
        self.supports = {
            "dtypes": list(self.dtypes), "backward": True, "errors": True,
            "conventions": {
                "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["new", "cumulative"],
                "running_variance": ["bessel"], "single_value_training": ["error"], "zero_variance_invstd": ["zero"],
                "empty_batch": ["unchanged"],
            },
        }

    def t(self, a, dtype):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    def np(self, t):
        return t.detach().to(self.torch.float64).numpy()

    def step(self, dtype_name, cfg, mode, x, dy, state):
        torch = self.torch
        dtype = self.dtypes[dtype_name]
        eps = cfg.get("epsilon", 1e-5)
        momentum = cfg.get("momentum", 0.1) if cfg.get("momentum_kind", "new") != "cumulative" else None
        affine, track = cfg.get("affine", True), cfg.get("track_running_stats", True)
        m = self.modules[x.ndim](x.shape[1], eps=eps, momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
        with torch.no_grad():
            if affine:
                m.weight.copy_(self.t(state["gamma"], dtype))
                m.bias.copy_(self.t(state["beta"], dtype))
            if track:
                m.running_mean.copy_(self.t(state["running_mean"], dtype))
                m.running_var.copy_(self.t(state["running_var"], dtype))
                m.num_batches_tracked.fill_(state.get("num_batches_tracked", 0))
        m.train(mode == "train")
        before = (m.running_mean.clone(), m.running_var.clone()) if track else (None, None)
        xx = self.t(x, dtype).requires_grad_(True)
        try:
            y = m(xx)
        except (ValueError, RuntimeError) as e:
            raise Refusal(refusal_code(str(e)), f"torch: {e}")
        out = {"y": self.np(y)}
        nbt = None
        if mode == "train" and x.size > 0:
            w = m.weight.detach() if affine else None
            b = m.bias.detach() if affine else None
            xd = xx.detach()
            _, save_mean, save_invstd = torch.native_batch_norm(
                xd, w, b, before[0] if track else None, before[1].clone() if track else None, True, 0.0, eps)
            out["batch_mean"] = self.np(save_mean)
            out["batch_var"] = self.np(torch.var(xd, dim=list(reduce_axes(x.ndim)), unbiased=False))
            out["saved_invstd"] = self.np(save_invstd)
        if mode == "train" and track:
            out["running_mean"], out["running_var"] = self.np(m.running_mean), self.np(m.running_var)
            nbt = int(m.num_batches_tracked.item())
        if dy is not None:  # autograd also answers an empty batch (empty dx, zero dgamma and dbeta)
            y.backward(self.t(dy, dtype))
            out["dx"] = self.np(xx.grad)
            if affine:
                out["dgamma"], out["dbeta"] = self.np(m.weight.grad), self.np(m.bias.grad)
        return out, nbt

    def bench(self, shape, repeat):
        torch = self.torch
        x = torch.randn(*shape)
        m = self.modules[len(shape)](shape[1])
        timings = {}
        with torch.no_grad():
            m.eval()
            timings["eval"] = timed(lambda: m(x), repeat)
            m.train()
            timings["train"] = timed(lambda: m(x), repeat)
        return timings


class Paddle:
    """PaddlePaddle 3.3.1: paddle.nn.functional.batch_norm (momentum read as old: r = m·r + (1 − m)·batch; biased
    running variance), paddle.grad for the gradients. CPU kernels for float32 and float64."""

    def __init__(self):
        import paddle

        paddle.set_device("cpu")
        self.paddle = paddle
        self.version = paddle.__version__
        self.supports = {
            "dtypes": ["float64", "float32"], "backward": True, "errors": True,
            "outputs": ["y", "running_mean", "running_var", "dx", "dgamma", "dbeta"],
            "conventions": {
                "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["old"],
                "running_variance": ["biased"], "single_value_training": ["allow"], "zero_variance_invstd": ["ieee"],
                "empty_batch": ["unchanged"],
            },
        }

    def t(self, a, dtype_name, grad=False):
        t = self.paddle.to_tensor(np.ascontiguousarray(a).astype(dtype_name))
        t.stop_gradient = not grad
        return t

    def step(self, dtype_name, cfg, mode, x, dy, state):
        paddle = self.paddle
        F = paddle.nn.functional
        eps = cfg.get("epsilon", 1e-5)
        momentum = cfg.get("momentum", 0.9)
        affine, track = cfg.get("affine", True), cfg.get("track_running_stats", True)
        C = x.shape[1]
        fmt = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}[x.ndim]
        xx = self.t(x, dtype_name, grad=True)
        w = self.t(state["gamma"], dtype_name, grad=True) if affine else None
        b = self.t(state["beta"], dtype_name, grad=True) if affine else None
        # Without tracking, eval normalizes with the batch's statistics: Paddle's training path, buffers thrown away.
        rm = self.t(state["running_mean"] if track else np.zeros(C), dtype_name)
        rv = self.t(state["running_var"] if track else np.ones(C), dtype_name)
        training = mode == "train" or not track
        try:
            y = F.batch_norm(xx, rm, rv, weight=w, bias=b, training=training, momentum=momentum, epsilon=eps, data_format=fmt)
        except (ValueError, RuntimeError) as e:
            raise Refusal(refusal_code(str(e)), f"paddle: {e}")
        out = {"y": y.numpy().astype(np.float64)}
        nbt = None
        if mode == "train" and track:
            out["running_mean"], out["running_var"] = rm.numpy().astype(np.float64), rv.numpy().astype(np.float64)
            nbt = state.get("num_batches_tracked", 0) + 1
        if dy is not None:
            inputs = [xx] + ([w, b] if affine else [])
            grads = paddle.grad([y], inputs, grad_outputs=[self.t(dy, dtype_name)])
            out["dx"] = grads[0].numpy().astype(np.float64)
            if affine:
                out["dgamma"], out["dbeta"] = grads[1].numpy().astype(np.float64), grads[2].numpy().astype(np.float64)
        return out, nbt

    def bench(self, shape, repeat):
        paddle = self.paddle
        F = paddle.nn.functional
        x = paddle.randn(shape)
        C = shape[1]
        w, b, rm, rv = paddle.ones([C]), paddle.zeros([C]), paddle.zeros([C]), paddle.ones([C])
        with paddle.no_grad():
            return {
                "eval": timed(lambda: F.batch_norm(x, rm, rv, w, b, training=False), repeat),  # CPU kernels run synchronously
                "train": timed(lambda: F.batch_norm(x, rm, rv, w, b, training=True), repeat),
            }


class Mlx:
    """MLX 0.32.4 (mlx[cpu]): mlx.nn.BatchNorm, channels last (the channel axis is moved there and back, exactly),
    momentum read as new, Bessel running variance; mx.vjp for the gradients."""

    def __init__(self):
        import mlx.core as mx
        import mlx.nn as nn

        mx.set_default_device(mx.cpu)
        self.mx, self.nn = mx, nn
        self.version = mx.__version__
        self.dtypes = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
        self.supports = {
            "dtypes": list(self.dtypes), "backward": True, "errors": True,
            "outputs": ["y", "running_mean", "running_var", "dx", "dgamma", "dbeta"],
            "conventions": {
                "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["new"],
                "running_variance": ["bessel"], "single_value_training": ["error"], "zero_variance_invstd": ["ieee"],
                "empty_batch": ["nan"],
            },
        }

    def t(self, a, dtype_name):
        return self.mx.array(np.ascontiguousarray(a).astype(np.float32)).astype(self.dtypes[dtype_name])

    def np(self, t):
        return np.array(t.astype(self.mx.float32)).astype(np.float64)

    @staticmethod
    def rank4(a):
        """MLX's BatchNorm takes ranks 2 to 4 ("Expected input tensor to have 2, 3 or 4 dimensions"): a rank-5
        (N, D, H, W, C) input goes in as (N, D·H, W, C), a reshape with the same values per channel."""
        return a.reshape(a.shape[0], a.shape[1] * a.shape[2], *a.shape[3:]) if a.ndim == 5 else a

    def layer(self, C, cfg, dtype_name, state, track):
        bn = self.nn.BatchNorm(C, eps=cfg.get("epsilon", 1e-5), momentum=cfg.get("momentum", 0.1),
                               affine=cfg.get("affine", True), track_running_stats=track)
        if cfg.get("affine", True):
            bn.weight, bn.bias = self.t(state["gamma"], dtype_name), self.t(state["beta"], dtype_name)
        if track:
            bn.running_mean = self.t(state["running_mean"], dtype_name)
            bn.running_var = self.t(state["running_var"], dtype_name)
        return bn

    def step(self, dtype_name, cfg, mode, x, dy, state):
        mx = self.mx
        affine, track = cfg.get("affine", True), cfg.get("track_running_stats", True)
        C = x.shape[1]
        xl = self.t(self.rank4(np.moveaxis(x, 1, -1)), dtype_name)
        bn = self.layer(C, cfg, dtype_name, state, track)
        bn.train(mode == "train")
        y = bn(xl)
        mx.eval(y)
        shape_last = np.moveaxis(x, 1, -1).shape
        out = {"y": np.moveaxis(self.np(y).reshape(shape_last), -1, 1)}
        nbt = None
        if mode == "train" and track:
            out["running_mean"], out["running_var"] = self.np(bn.running_mean), self.np(bn.running_var)
            nbt = state.get("num_batches_tracked", 0) + 1
        if dy is not None:
            def f(xv, *wb):
                g = self.layer(C, cfg, dtype_name, state, track)
                if affine:
                    g.weight, g.bias = wb
                g.train(mode == "train")
                return g(xv)

            primals = [xl] + ([bn.weight, bn.bias] if affine else [])
            _, grads = mx.vjp(f, primals, [self.t(self.rank4(np.moveaxis(dy, 1, -1)), dtype_name)])
            mx.eval(grads)
            out["dx"] = np.moveaxis(self.np(grads[0]).reshape(shape_last), -1, 1)
            if affine:
                out["dgamma"], out["dbeta"] = self.np(grads[1]), self.np(grads[2])
        return out, nbt

    def bench(self, shape, repeat):
        mx = self.mx
        x = mx.random.normal(tuple(shape[:1]) + tuple(shape[2:]) + (shape[1],))
        bn = self.nn.BatchNorm(shape[1])
        result = {}
        for mode in ("eval", "train"):
            bn.train(mode == "train")
            result[mode] = timed(lambda: mx.eval(bn(x)), repeat)
        return result


class Tinygrad:
    """tinygrad 0.14.0 (CPU device, compiled by clang): tinygrad.nn.BatchNorm, momentum read as new, Bessel running
    variance; Tensor.backward for the gradients."""

    def __init__(self):
        import tinygrad
        from tinygrad import Device, Tensor, dtypes, nn
        from tinygrad.helpers import Context

        self.Tensor, self.nn, self.Context = Tensor, nn, Context
        self.version = getattr(tinygrad, "__version__", None) or _dist_version("tinygrad")
        self.device = Device.DEFAULT
        self.dtypes = {"float64": dtypes.float64, "float32": dtypes.float32, "float16": dtypes.float16}
        self.supports = {
            "dtypes": list(self.dtypes), "backward": True, "errors": True,
            "outputs": ["y", "running_mean", "running_var", "dx", "dgamma", "dbeta"],
            "conventions": {
                "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["new"],
                "running_variance": ["bessel"], "single_value_training": ["allow"], "zero_variance_invstd": ["ieee"],
                "empty_batch": ["nan"],
            },
        }

    def t(self, a, dtype_name, grad=False):
        # tinygrad 0.14's backward fills .grad of every float tensor in scope that is not marked is_param_(False).
        return self.Tensor(np.ascontiguousarray(a).astype(dtype_name), dtype=self.dtypes[dtype_name])

    def np(self, t):
        return t.numpy().astype(np.float64)

    def step(self, dtype_name, cfg, mode, x, dy, state):
        Tensor = self.Tensor
        affine, track = cfg.get("affine", True), cfg.get("track_running_stats", True)
        C = x.shape[1]
        bn = self.nn.BatchNorm(C, eps=cfg.get("epsilon", 1e-5), affine=affine, track_running_stats=track,
                               momentum=cfg.get("momentum", 0.1))
        if affine:
            bn.weight, bn.bias = self.t(state["gamma"], dtype_name, True), self.t(state["beta"], dtype_name, True)
        if track:
            bn.running_mean = self.t(state["running_mean"], dtype_name)
            bn.running_var = self.t(state["running_var"], dtype_name)
            bn.running_mean.is_param_(False)
            bn.running_var.is_param_(False)
        xx = self.t(x, dtype_name, True)
        with self.Context(TRAINING=int(mode == "train")):
            y = bn(xx)
            # Tensor.gradient on the graph before anything is realized (a realized y no longer reaches x).
            params = [xx] + ([bn.weight, bn.bias] if affine else [])
            grads = y.gradient(*params, gradient=self.t(dy, dtype_name)) if dy is not None else []
            Tensor.realize(y, *grads, *([bn.running_mean, bn.running_var] if track else []))
        out = {"y": self.np(y)}
        nbt = None
        if mode == "train" and track:
            out["running_mean"], out["running_var"] = self.np(bn.running_mean), self.np(bn.running_var)
            nbt = state.get("num_batches_tracked", 0) + 1
        if grads:
            out["dx"] = self.np(grads[0])
            if affine:
                out["dgamma"], out["dbeta"] = self.np(grads[1]), self.np(grads[2])
        return out, nbt

    def bench(self, shape, repeat):
        Tensor = self.Tensor
        x = Tensor.randn(*shape).realize()
        bn = self.nn.BatchNorm(shape[1])
        result = {}
        for mode in ("eval", "train"):
            with self.Context(TRAINING=int(mode == "train")):
                bn(x).realize()  # compile once; the timings are of the compiled kernels
                result[mode] = timed(lambda: bn(x).realize(), repeat)
        return result


class Ncnn:
    """ncnn 1.0.20261020: a BatchNorm layer (slope, mean, var, bias; the layer pnnx writes for torch.nn.BatchNorm2d),
    inference only, float32, one sample (C, ...) at a time as ncnn has no batch axis. The input Mat is cloned: a Mat
    made from a numpy array borrows its memory, and the Python binding crashes at extract without the clone."""

    def __init__(self):
        import ncnn

        self.ncnn = ncnn
        self.version = ncnn.__version__
        self.supports = {
            "modes": ["eval"], "dtypes": ["float32"], "backward": False, "errors": True,
            "outputs": ["y"],
            "conventions": {"epsilon_floor": [0], "epsilon_placement": ["inside"], "track_running_stats": [True]},
        }

    def net(self, C, eps, gamma, beta, mean, var):
        ncnn = self.ncnn
        net = ncnn.Net()
        for name in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_packing_layout"):
            setattr(net.opt, name, False)
        net.opt.num_threads = 1
        param = f"7767517\n2 2\nInput in0 0 1 in0\nBatchNorm bn0 1 1 in0 out0 0={C} 1={float(np.float32(eps))!r}\n"
        if net.load_param_mem(param) != 0:
            raise RuntimeError(f"ncnn: load_param_mem refused {param!r}")
        weights = np.concatenate([gamma, mean, var, beta]).astype(np.float32)
        self._weights = weights  # load_model_mem reads the bytes in place
        if net.load_model_mem(weights.tobytes()) != 0:  # returns 0 or the bytes read, depending on the build
            pass
        return net

    def run(self, net, sample):
        ncnn = self.ncnn
        a = np.ascontiguousarray(sample.astype(np.float32))
        inp = ncnn.Mat(a).clone()
        ex = net.create_extractor()
        ex.input("in0", inp)
        ret, o = ex.extract("out0")
        if ret != 0:
            raise RuntimeError(f"ncnn: extract returned {ret}")
        return np.array(o).reshape(sample.shape).astype(np.float64)

    def step(self, dtype_name, cfg, mode, x, dy, state):
        if mode != "eval" or not cfg.get("track_running_stats", True):
            raise Refusal("invalid_option", "ncnn: BatchNorm is inference with given statistics only")
        C = x.shape[1]
        ones, zeros = np.ones(C), np.zeros(C)
        g = state["gamma"] if cfg.get("affine", True) else ones
        b = state["beta"] if cfg.get("affine", True) else zeros
        net = self.net(C, cfg.get("epsilon", 1e-5), g, b, state["running_mean"], state["running_var"])
        y = np.stack([self.run(net, x[n]) for n in range(x.shape[0])]) if x.shape[0] else x.astype(np.float64)
        return {"y": y.reshape(x.shape)}, None

    def bench(self, shape, repeat):
        C = shape[1]
        net = self.net(C, 1e-5, np.ones(C), np.zeros(C), np.zeros(C), np.ones(C))
        ncnn = self.ncnn
        # Each numpy array must outlive the clone: ncnn.Mat(array) borrows its memory without a reference, and a freed
        # large array (unmapped at once) crashes the clone (measured on 64x56x56 samples).
        arrays = [np.random.randn(*shape[1:]).astype(np.float32) for _ in range(shape[0])]
        mats = [ncnn.Mat(a).clone() for a in arrays]

        def once():
            for m in mats:
                ex = net.create_extractor()
                ex.input("in0", m)
                ex.extract("out0")

        return {"eval": timed(once, repeat)}


ENGINES = {"torch": Torch, "paddle": Paddle, "mlx": Mlx, "tinygrad": Tinygrad, "ncnn": Ncnn}
NAMES = {"torch": "PyTorch", "paddle": "PaddlePaddle", "mlx": "MLX", "tinygrad": "tinygrad", "ncnn": "ncnn"}


def _dist_version(name):
    from importlib.metadata import version

    return version(name)


def timed(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def step(engine, dtype_name, config, s):
    cfg = {k: v for k, v in (config or {}).items() if v is not None or k == "momentum"}
    if cfg.get("momentum") is None:
        cfg.pop("momentum", None)
    x = array(s["x"])
    dy = array(s["dy"]) if s.get("dy") is not None else None
    axis = cfg.get("axis", 1)
    if axis not in (1, 1 - x.ndim) and x.ndim > 1:  # channels last: move to axis 1 and back (exact)
        x = np.moveaxis(x, axis, 1)
        dy = None if dy is None else np.moveaxis(dy, axis, 1)
        back = lambda a: np.moveaxis(a, 1, axis) if a.ndim == x.ndim else a  # noqa: E731
    else:
        back = lambda a: a  # noqa: E731
    try:
        state = {k: array(v) if isinstance(v, dict) else v for k, v in (s.get("state") or {}).items()}
        out, nbt = engine.step(dtype_name, cfg, s["mode"], x, dy, state)
    except Refusal as e:
        return {"error": {"code": e.code, "message": str(e)}}
    except Exception as e:  # noqa: BLE001 - any engine exception is a refusal, reported with its message
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return {"error": {"code": refusal_code(str(e)), "message": f"{type(e).__name__}: {e}"}}
    answer = {"outputs": {k: encode(back(v), dtype_name) for k, v in out.items()}}
    if nbt is not None:
        answer["num_batches_tracked"] = nbt
    return answer


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in ENGINES:
        print(f"usage: pypi_framework_peer.py {{{','.join(ENGINES)}}} [--bench N,C,H,W [--repeat R]]", file=sys.stderr)
        sys.exit(2)
    engine = ENGINES[name]()
    if "--bench" in sys.argv:
        shape = [int(v) for v in sys.argv[sys.argv.index("--bench") + 1].split(",")]
        repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 30
        timings = engine.bench(shape, repeat)
        print(json.dumps({"engine": f"{NAMES[name]} {engine.version}", "shape": shape, "repeat": repeat,
                          "median_ms": {k: round(v, 3) for k, v in timings.items()}}))
        return

    def hello():
        supports = {"layouts": ["channels-first", "channels-last"], **engine.supports}
        return {"type": "hello", "protocol": "batchnorm-conformance", "version": "1.0",
                "name": f"{NAMES[name]} {engine.version} (subprocess)", "supports": supports}

    serve(hello, lambda dtype, config, s: step(engine, dtype, config, s))


if __name__ == "__main__":
    main()
