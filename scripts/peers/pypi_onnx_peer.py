#!/usr/bin/env python3
"""The ONNX-family engines from PyPI behind the subprocess protocol (fixtures/PROTOCOL.md), version 1.0.

    .envs/onnx/bin/python     scripts/peers/pypi_onnx_peer.py onnx-reference   # onnx 1.23's onnx.reference
    .envs/onnx/bin/python     scripts/peers/pypi_onnx_peer.py onnx-reference-opset9  # the same at opset 9 (its defect)
    .envs/onnx/bin/python     scripts/peers/pypi_onnx_peer.py onnxruntime      # onnxruntime 1.31 (Python), CPU
    .envs/onnx/bin/python     scripts/peers/pypi_onnx_peer.py onnxruntime-unoptimized  # the same, ORT_DISABLE_ALL
    .envs/openvino/bin/python scripts/peers/pypi_onnx_peer.py openvino         # OpenVINO CPU, its default precision hint
    .envs/openvino/bin/python scripts/peers/pypi_onnx_peer.py openvino-f32     # OpenVINO CPU, INFERENCE_PRECISION_HINT=f32
    .envs/litert/bin/python   scripts/peers/pypi_onnx_peer.py litert           # LiteRT, models from TF 2.21's converter
    .envs/litert/bin/python   scripts/peers/pypi_onnx_peer.py litert-fp16      # the same, float16 weight quantisation

The ONNX engines run one BatchNormalization node built by the suite's builder (scripts/runners/onnx_model.ts, served by
scripts/runners/onnx_model_server.ts through `deno` from $DENO or PATH), opset 15, training with training_mode=1 (outputs
Y, running_mean, running_var); onnx-reference-opset9 builds opset 9 (training: the five outputs). onnx.reference and onnxruntime take scale, B, mean and var as graph inputs; OpenVINO as
initializers (how a deployed model carries them; its CPU plugin then treats them as constants). LiteRT's models come the
way users get them: a Keras BatchNormalization layer (channels-last) with the step's weights, converted by
tf.lite.TFLiteConverter in .venv/ (TensorFlow 2.21, scripts/peers/_tflite_convert.py, a line server), which folds the
layer into MUL+ADD; channels-first cases are transposed in and out (exact). Every output is computed by the engine;
nothing is computed here but the transposes.

    PYTHON scripts/peers/pypi_onnx_peer.py ENGINE --bench N C H W [REPEATS]

times the engine inside this process on an N×C×H×W float32 batch (inference, and training where the engine trains):
the median of REPEATS (default 30) runs after 3 warm-up runs, one thread, model built and compiled once, no copies
counted but the engine's own; prints one JSON line.

    .envs/litert/bin/python scripts/peers/pypi_onnx_peer.py litert --fold C SEED

converts a C-channel layer with random weights and prints how the converter folded it (the MUL and ADD constants
against candidate formulas, y against x·sc + sh with one or two roundings): the evidence of the fold finding.

    .envs/litert/bin/python scripts/peers/pypi_onnx_peer.py litert --conv-bn < case.json

runs a Keras Conv2D (1×1, or k×k with "same" padding) → BatchNormalization pair converted by TF's converter (scripts/generators/exact_conv_bn.py
describes the case JSON) and prints {"ops": the model's operators, "y": NCHW}.

    PYTHON scripts/peers/pypi_onnx_peer.py ENGINE --run-model

reads one JSON line {"model": base64, "feeds": {name: {"dtype", "shape", "data"}}, "outputs": [names],
"initializers": bool} and prints {"outputs": {name: {"shape", "data"}}} or {"error": message}: the evidence tests
(tests/pypi_onnx_engines_test.ts) run their own models (opset 9, Conv→BN) through it.
Logs go to stderr; stdout carries protocol lines only.
"""

import base64
import json
import re
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _protocol import num, serve, values

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NP = {"float32": np.float32, "float64": np.float64, "float16": np.float16}
ENGINES = ("onnx-reference", "onnxruntime", "openvino", "openvino-f32", "litert", "litert-fp16", "onnxruntime-unoptimized", "onnx-reference-opset9")


def array(t, dtype):
    return np.array(values(t), dtype=np.float64).astype(dtype).reshape(t["shape"])


def plain(a):
    """A vector as JSON numbers, NaN and infinities as the strings the model builder reads."""
    return [num(float(v)) for v in np.asarray(a, dtype=np.float64).ravel()]


def encode(a, dtype_name):
    a = np.asarray(a)
    return {"dtype": dtype_name, "shape": list(a.shape), "data": [num(float(v)) for v in a.astype(np.float64).ravel()]}


class LineServer:
    """A child process that answers one JSON line with one line (the ONNX builder, the TFLite converter)."""

    def __init__(self, argv, what):
        self.argv, self.what, self.proc = argv, what, None

    def ask(self, spec):
        if self.proc is None:
            self.proc = subprocess.Popen(self.argv(), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.what} exited")
        if line.startswith("{"):
            raise RuntimeError(f"{self.what} refused: " + json.loads(line)["error"])
        return base64.b64decode(line)

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def deno_builder():
    def argv():
        deno = os.environ.get("DENO") or shutil.which("deno")
        if deno is None:
            raise RuntimeError("the ONNX model builder needs deno: not on PATH (set DENO to its path)")
        return [deno, "run", "--quiet", "--no-prompt", "--allow-read=.", "scripts/runners/onnx_model_server.ts"]

    return LineServer(argv, "the ONNX model builder (deno scripts/runners/onnx_model_server.ts)")


def tflite_converter():
    def argv():
        py = os.path.join(ROOT, ".venv", "bin", "python")
        if not os.path.exists(py):
            raise RuntimeError("the TFLite converter needs TensorFlow 2.21 in .venv/ (deno task venv)")
        return [py, os.path.join(ROOT, "scripts", "peers", "_tflite_convert.py")]

    return LineServer(argv, "the TFLite converter (.venv/bin/python scripts/peers/_tflite_convert.py)")


# ---- the engines: each runs a serialized ONNX model on float feeds ----


def onnx_engine(name):
    """(version string, run(model_bytes, feeds, output_names) -> list of arrays, dtypes)."""
    if name in ("onnx-reference", "onnx-reference-opset9"):
        import onnx
        from onnx.reference import ReferenceEvaluator

        def run(model, feeds, outputs):
            return ReferenceEvaluator(onnx.load_from_string(model)).run(outputs, feeds)

        return f"onnx {onnx.__version__} onnx.reference.ReferenceEvaluator{' (opset 9)' if name.endswith('-opset9') else ''}", run
    if name in ("onnxruntime", "onnxruntime-unoptimized"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        if name == "onnxruntime-unoptimized":  # no graph rewrites (ConvBNFusion runs from ORT_ENABLE_BASIC on)
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL

        def run(model, feeds, outputs):
            return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run(outputs, feeds)

        return f"onnxruntime {ort.__version__} (Python, CPUExecutionProvider)", run
    if name in ("openvino", "openvino-f32"):
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": 1}
        if name == "openvino-f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"

        def compile_(model):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "model.onnx")
                with open(path, "wb") as f:
                    f.write(model)
                return core.compile_model(core.read_model(path), "CPU", config)

        def run(model, feeds, outputs):
            compiled = compile_(model)
            got = compiled.create_infer_request().infer(feeds)
            by_name = {}
            for port, v in got.items():
                for n in port.get_names():
                    by_name[n] = v
            return [np.array(by_name[o]) for o in outputs]

        run.compile = compile_
        precision = compile_probe(compile_)
        return f"OpenVINO {ov.get_version()} CPU (INFERENCE_PRECISION_HINT {precision})", run
    raise ValueError(name)


def compile_probe(compile_):
    """The precision hint the CPU plugin resolves for a float32 model (bf16 on CPUs with AMX-BF16, unless set)."""
    builder = deno_builder()
    try:
        model = builder.ask({"opset": 15, "dtype": "float32", "shape": [1, 1], "training": False})
        return str(compile_(model).get_property("INFERENCE_PRECISION_HINT"))
    finally:
        builder.close()


# ---- one protocol step ----


def refusal(e):
    """An engine's exception as a protocol error: invalid_epsilon where the engine's check names epsilon (OpenVINO's
    `m_epsilon >= 0`), else invalid_option; the message is the telling lines (the epsilon check, or the first line)."""
    lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
    eps = [l for l in lines if re.search(r"m_epsilon|'epsilon' must", l)]
    code = "invalid_epsilon" if eps else "invalid_option"
    telling = eps or [l[:300] for l in lines[:1]]
    return {"code": code, "message": f"{type(e).__name__}: {' / '.join(telling) if telling else type(e).__name__}"}



def conv(config):
    return config or {}


class OnnxPeer:
    def __init__(self, name):
        self.name = name
        self.version, self.run = onnx_engine(name)
        self.builder = deno_builder()
        self.initializers = name.startswith("openvino")

    def step(self, dtype_name, config, s):
        cfg = conv(config)
        dtype = NP[dtype_name]
        x = array(s["x"], dtype)
        C = x.shape[1]
        state = s["state"]
        per = lambda k, fill: array(state[k], dtype) if state.get(k) is not None else np.full([C], fill, dtype)
        params = {"scale": per("gamma", 1), "B": per("beta", 0), "input_mean": per("running_mean", 0), "input_var": per("running_var", 1)}
        train = s["mode"] == "train"
        opset = 9 if self.name.endswith("-opset9") else 15
        spec = {"opset": opset, "dtype": dtype_name, "shape": list(x.shape), "training": train}
        if cfg.get("epsilon") is not None:
            spec["epsilon"] = cfg["epsilon"]
        if cfg.get("momentum") is not None:
            spec["momentum"] = cfg["momentum"]
        feeds = {"X": x}
        if self.initializers:
            spec["initializers"] = {k: plain(params[p]) for k, p in (("scale", "scale"), ("B", "B"), ("mean", "input_mean"), ("var", "input_var"))}
        else:
            feeds.update(params)
        # opset 9 says "training" by declaring five outputs (the builder names them Y, running_mean, running_var,
        # saved_mean, saved_var); opset 15 by training_mode=1 with three.
        names = (["Y", "running_mean", "running_var"] + (["saved_mean", "saved_var"] if opset == 9 else [])) if train else ["Y"]
        try:
            got = self.run(self.builder.ask(spec), feeds, names)
        except Exception as e:  # the engine refused the model or the call
            return {"error": refusal(e)}
        out = {"y": encode(np.asarray(got[0]).reshape(x.shape), dtype_name)}
        answer = {"outputs": out}
        if train:
            out["running_mean"] = encode(np.asarray(got[1]).reshape([C]), dtype_name)
            out["running_var"] = encode(np.asarray(got[2]).reshape([C]), dtype_name)
            if "num_batches_tracked" in state:
                answer["num_batches_tracked"] = state["num_batches_tracked"] + 1
        return answer

    def close(self):
        self.builder.close()


class LiteRTPeer:
    def __init__(self, name):
        from ai_edge_litert import interpreter as lit

        self.lit = lit
        self.fp16 = name == "litert-fp16"
        self.converter = tflite_converter()
        import importlib.metadata as md

        self.version = f"LiteRT {md.version('ai-edge-litert')} Interpreter, TF 2.21 converter{' (float16 weights)' if self.fp16 else ''}"

    def convert(self, shape, eps, params, conv=None):
        spec = {"shape": shape, "epsilon": eps, "float16": self.fp16, **{k: plain(v) for k, v in params.items()}}
        if conv is not None:
            spec["conv"] = conv
        return self.converter.ask(spec)

    def invoke(self, model, x):
        it = self.lit.Interpreter(model_content=model, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"]).copy()

    def step(self, dtype_name, config, s):
        cfg = conv(config)
        x = array(s["x"], np.float32)
        axis = cfg.get("axis", 1 if x.ndim > 1 else -1)
        axis = axis % x.ndim
        C = x.shape[axis]
        state = s["state"]
        per = lambda k, fill: array(state[k], np.float32) if state.get(k) is not None else np.full([C], fill, np.float32)
        params = {"gamma": per("gamma", 1), "beta": per("beta", 0), "mean": per("running_mean", 0), "var": per("running_var", 1)}
        order = [i for i in range(x.ndim) if i != axis] + [axis]
        xl = np.ascontiguousarray(np.transpose(x, order))
        try:
            y = self.invoke(self.convert(list(xl.shape), cfg.get("epsilon", 1e-3), params), xl)
        except Exception as e:
            return {"error": refusal(e)}
        return {"outputs": {"y": encode(np.transpose(y, np.argsort(order)), dtype_name)}}

    def close(self):
        self.converter.close()


def hello(name, version):
    onnx_conventions = {
        "epsilon_placement": ["inside"], "epsilon_floor": [0], "momentum_kind": ["old"], "running_variance": ["biased"],
        "affine": [True], "track_running_stats": [True], "zero_variance_invstd": ["ieee"], "empty_batch": ["nan"],
    }
    if name.startswith("litert"):
        supports = {"modes": ["eval"], "dtypes": ["float32"], "layouts": ["channels-first", "channels-last"], "backward": False,
                    "errors": False, "outputs": ["y"],
                    "conventions": {"epsilon_placement": ["inside"], "epsilon_floor": [0], "affine": [True], "track_running_stats": [True]}}
    elif name.startswith("openvino"):
        supports = {"dtypes": ["float32"], "layouts": ["channels-first"], "backward": False, "errors": False,
                    "outputs": ["y", "running_mean", "running_var"], "conventions": onnx_conventions}
    else:
        supports = {"dtypes": ["float32", "float64", "float16"], "layouts": ["channels-first"], "backward": False, "errors": False,
                    "outputs": ["y", "running_mean", "running_var"], "conventions": onnx_conventions}
    return {"type": "hello", "protocol": "batchnorm-conformance", "version": "1.0", "name": f"{version} (subprocess)", "supports": supports}


# ---- timing inside the process ----


def bench(name, shape, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    C = shape[1]
    p = {k: (rng.random(C, dtype=np.float32) + 0.5) for k in ("scale", "B", "input_mean", "input_var")}
    result = {"engine": name, "shape": shape, "repeats": repeats, "threads": 1}

    def median_ms(call):
        for _ in range(3):
            call()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1e3)
        return round(statistics.median(times), 3)

    if name.startswith("litert"):
        peer = LiteRTPeer(name)
        try:
            xl = np.ascontiguousarray(np.transpose(x, [0, 2, 3, 1]))
            model = peer.convert(list(xl.shape), 1e-3, {"gamma": p["scale"], "beta": p["B"], "mean": p["input_mean"], "var": p["input_var"]})
        finally:
            peer.close()
        it = peer.lit.Interpreter(model_content=model, num_threads=1)
        it.allocate_tensors()
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        it.set_tensor(i, xl)
        result["version"] = peer.version
        result["eval_ms"] = median_ms(lambda: (it.set_tensor(i, xl), it.invoke(), it.get_tensor(o)))
        return result
    version, run = onnx_engine(name)
    result["version"] = version
    builder = deno_builder()
    try:
        for mode in ("eval", "train"):
            spec = {"opset": 15, "dtype": "float32", "shape": shape, "training": mode == "train"}
            names = ["Y", "running_mean", "running_var"] if mode == "train" else ["Y"]
            feeds = {"X": x}
            if name.startswith("openvino"):
                spec["initializers"] = {"scale": p["scale"].tolist(), "B": p["B"].tolist(), "mean": p["input_mean"].tolist(), "var": p["input_var"].tolist()}
            else:
                feeds.update(p)
            model = builder.ask(spec)
            if name == "onnxruntime":
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
                call = lambda: sess.run(names, feeds)
            elif name.startswith("openvino"):
                req = run.compile(model).create_infer_request()
                call = lambda: req.infer(feeds)
            else:
                import onnx
                from onnx.reference import ReferenceEvaluator

                ev = ReferenceEvaluator(onnx.load_from_string(model))
                call = lambda: ev.run(names, feeds)
            result[f"{mode}_ms"] = median_ms(call)
    finally:
        builder.close()
    return result


def fold_evidence(channels, seed):
    """LiteRT's converted BatchNormalization on random weights: its MUL and ADD constants and y against candidate formulas."""
    rng = np.random.default_rng(seed)
    f = np.float32
    g, b = (rng.standard_normal(channels) * 2).astype(f), rng.standard_normal(channels).astype(f)
    m, v = (rng.standard_normal(channels) * 3).astype(f), (rng.random(channels) * 5 + 1e-3).astype(f)
    eps = 1e-3
    peer = LiteRTPeer("litert")
    try:
        model = peer.convert([1, channels], eps, {"gamma": g, "beta": b, "mean": m, "var": v})
    finally:
        peer.close()
    it = peer.lit.Interpreter(model_content=model, num_threads=1)
    it.allocate_tensors()
    ops = it._get_ops_details()
    kinds = [o["op_name"] for o in ops if o["op_name"] != "DELEGATE"]
    mul = next(o for o in ops if o["op_name"] == "MUL")
    add = next(o for o in ops if o["op_name"] == "ADD")
    sc, sh = it.get_tensor(mul["inputs"][1]).astype(f), it.get_tensor(add["inputs"][1]).astype(f)
    ve = (v + f(eps)).astype(f)  # the float32 sum var + eps
    sc_cr = ((1 / np.sqrt(ve.astype(np.float64))).astype(f) * g).astype(f)  # correctly rounded rsqrt, then · gamma
    sc_exact = g.astype(np.float64) / np.sqrt(v.astype(np.float64) + np.float64(f(eps)))
    x = rng.standard_normal((1, channels)).astype(f)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])[0]
    return {
        "ops": kinds,
        "sh_is_beta_minus_mean_sc": float(np.mean(sh == (b - (m * sc).astype(f)).astype(f))),
        "sc_equals_correctly_rounded_rsqrt_times_gamma": float(np.mean(sc == sc_cr)),
        "sc_max_ulp_from_exact": float(np.max(np.abs(sc.astype(np.float64) - sc_exact) / np.spacing(np.abs(sc)).astype(np.float64))),
        "y_is_two_roundings": float(np.mean(y == ((x[0] * sc).astype(f) + sh).astype(f))),
        "y_is_fma": float(np.mean(y == (x[0].astype(np.float64) * sc + sh).astype(f))),
    }


def conv_bn(name, case):
    """LiteRT on a Conv → BatchNormalization graph converted from Keras (the converter fuses the pair): y, NCHW."""
    peer = LiteRTPeer(name)
    x = np.array(case["x"], dtype=np.float32)
    xl = np.ascontiguousarray(np.transpose(x, [0, 2, 3, 1]))
    try:
        model = peer.convert(list(xl.shape), case["epsilon"], {k: np.array(case[k], np.float32) for k in ("gamma", "beta", "mean", "var")},
                             conv={"w": case["w"], "b": case["b"], "pads": case.get("pads", [0, 0])})
    finally:
        peer.close()
    it = peer.lit.Interpreter(model_content=model, num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], xl)
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])
    ops = [o["op_name"] for o in it._get_ops_details() if o["op_name"] != "DELEGATE"]
    return {"engine": peer.version, "ops": ops, "y": np.transpose(y, [0, 3, 1, 2]).astype(np.float64).tolist()}


def run_model(name, req):
    feeds = {k: array(v, NP[v.get("dtype", "float32")]) for k, v in req["feeds"].items()}
    version, run = onnx_engine(name)
    got = run(base64.b64decode(req["model"]), feeds, req["outputs"])
    return {"engine": version, "outputs": {k: {"shape": list(np.asarray(v).shape), "data": [num(float(e)) for e in np.asarray(v, dtype=np.float64).ravel()]}
                        for k, v in zip(req["outputs"], got)}}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ENGINES:
        print(f"usage: pypi_onnx_peer.py ENGINE [--bench N C H W [REPEATS] | --run-model]; ENGINE one of {', '.join(ENGINES)}", file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1]
    if sys.argv[2:3] == ["--bench"]:
        dims = [int(v) for v in sys.argv[3:7]]
        repeats = int(sys.argv[7]) if len(sys.argv) > 7 else 30
        print(json.dumps(bench(name, dims, repeats)))
        return
    if sys.argv[2:3] == ["--conv-bn"]:
        print(json.dumps(conv_bn(name, json.loads(sys.stdin.readline()))))
        return
    if sys.argv[2:3] == ["--fold"]:
        print(json.dumps(fold_evidence(int(sys.argv[3]), int(sys.argv[4]))))
        return
    if sys.argv[2:3] == ["--run-model"]:
        req = json.loads(sys.stdin.readline())
        try:
            print(json.dumps(run_model(name, req), allow_nan=False))
        except Exception as e:
            print(json.dumps({"error": f"{type(e).__name__}: {str(e).strip()}"}))
        return
    peer = LiteRTPeer(name) if name.startswith("litert") else OnnxPeer(name)
    try:
        serve(lambda: hello(name, peer.version), peer.step)
    finally:
        peer.close()


if __name__ == "__main__":
    main()
