#!/usr/bin/env python3
"""OpenCV DNN behind the subprocess protocol (fixtures/PROTOCOL.md), version 1.0.

    deno task conform --exec "/usr/bin/python3 scripts/peers/opencv_peer.py"

Each step builds a one-node ONNX BatchNormalization model (opset 15) with the
suite's builder, scripts/runners/onnx_model.ts (run once, as a line server, by
`deno`, from $DENO or PATH), with scale, B, mean and var as initializers: cv2.dnn.readNetFromONNX
refuses them as graph inputs ("Blob mean not found in const blobs"). OpenCV 4.6
runs BatchNormalization in inference only: with training_mode=1 it silently
returns the inference output (docs/findings.md), so this peer declares eval
mode only. float32, channels-first, no gradients. Logs go to stderr; stdout
carries protocol lines only.

    /usr/bin/python3 scripts/peers/opencv_peer.py --run-model

reads one JSON line {"model": base64, "x": {"shape", "data"}, "outputs": [names]}
and prints {"outputs": {name: {"shape", "data"}}} or {"error": message}: the
evidence tests (tests/opencv_test.ts) run models through it.
"""

import base64
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
from _protocol import num, serve, values

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def encode(a, dtype_name="float32"):
    return {"dtype": dtype_name, "shape": list(a.shape), "data": [num(float(v)) for v in a.astype(np.float64).ravel()]}


class ModelBuilder:
    """scripts/runners/onnx_model.ts behind a pipe: one JSON spec in, one base64 model out."""

    def __init__(self):
        self.proc = None

    def build(self, spec):
        if self.proc is None:
            deno = os.environ.get("DENO") or shutil.which("deno")
            if deno is None:
                raise RuntimeError("the ONNX model builder needs deno: not on PATH (set DENO to its path)")
            self.proc = subprocess.Popen(
                [deno, "run", "--quiet", "--no-prompt", "--allow-read=.", "scripts/runners/onnx_model_server.ts"],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the ONNX model builder (deno scripts/runners/onnx_model_server.ts) exited")
        if line.startswith("{"):
            raise RuntimeError("the ONNX model builder refused the spec: " + json.loads(line)["error"])
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


def run_model(model, x, outputs):
    """Runs a serialized ONNX model in OpenCV DNN on x (float32) and returns the named outputs."""
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model, dtype=np.uint8))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(x)
    got = net.forward(outputs)
    return dict(zip(outputs, got))


def step(builder, dtype_name, config, s):
    if s["mode"] != "eval":
        return {"error": {"code": "invalid_option", "message": "OpenCV DNN runs BatchNormalization in inference only"}}
    cfg = config or {}
    x = np.array(values(s["x"]), dtype=np.float32).reshape(s["x"]["shape"])
    C = x.shape[1]
    # cv2's binding reads a 3-D numpy array as a 2-D image with channels (ismultichannel in cv2's ndarray
    # conversion), so (N, C, L) reaches the net as an N x C image of L channels: feed (N, C, L, 1) instead.
    xin = x.reshape(x.shape + (1,)) if x.ndim == 3 else x
    state = s["state"]
    per = lambda name, fill: state[name]["data"] if state.get(name) is not None else [fill] * C
    spec = {
        "opset": 15, "dtype": "float32", "shape": list(xin.shape), "training": False,
        "epsilon": cfg.get("epsilon", 1e-5),
        "initializers": {"scale": per("gamma", 1.0), "B": per("beta", 0.0), "mean": per("running_mean", 0.0), "var": per("running_var", 1.0)},
    }
    try:
        y = run_model(builder.build(spec), xin, ["Y"])["Y"]
    except cv2.error as e:
        return {"error": {"code": "invalid_shape", "message": "OpenCV refused the model: " + str(e).strip().splitlines()[-1]}}
    return {"outputs": {"y": encode(y.reshape(x.shape), dtype_name)}}


def hello():
    return {
        "type": "hello", "protocol": "batchnorm-conformance", "version": "1.0",
        "name": f"OpenCV {cv2.__version__} DNN (readNetFromONNX, subprocess)",
        "supports": {
            "modes": ["eval"], "dtypes": ["float32"], "layouts": ["channels-first"], "backward": False, "errors": False,
            "outputs": ["y"],
            "conventions": {"epsilon_placement": ["inside"], "epsilon_floor": [0], "track_running_stats": [True]},
        },
    }


def main():
    if sys.argv[1:] == ["--run-model"]:
        req = json.loads(sys.stdin.readline())
        x = np.array(values(req["x"]), dtype=np.float32).reshape(req["x"]["shape"])
        try:
            got = run_model(base64.b64decode(req["model"]), x, req["outputs"])
            print(json.dumps({"outputs": {k: encode(v) for k, v in got.items()}}, allow_nan=False))
        except cv2.error as e:
            print(json.dumps({"error": str(e).strip()}))
        return
    builder = ModelBuilder()
    try:
        serve(hello, lambda dtype, config, s: step(builder, dtype, config, s))
    finally:
        builder.close()


if __name__ == "__main__":
    main()
