"""Native peers of `deno task bench`, timed in their own process.

Reads one JSON request on stdin: {"shapes": [{"label", "shape": [N, C, H, W],
"models": {"inference": base64 ONNX, "training": base64 ONNX}}], "runs": R}, the
same float32 NCHW data recipe as tests/batch_norm_bench.ts, and prints one JSON
line: {"peer", "version", "results": [{"label", "what", "ms": [median, min, max]}]}.

Peers (argv[1]):
- onnxruntime: InferenceSession on the bench's own ONNX models (inference, and
  training_mode for the training forward), from .envs/bench (envs/bench.txt).
- pytorch: torch.nn.functional.batch_norm (inference; training forward) and
  aten's native_batch_norm_backward (the backward kernel autograd calls), under
  whichever interpreter runs this: .envs/torch2 (PyTorch 2, envs/torch2.txt) or
  Debian's python3-torch 1.13 at /usr/bin/python3 (scripts/bench/native.ts runs both).

Each timing: 3 warm-up calls, then `runs` calls; median, min and max in ms.
"""

import base64
import json
import statistics
import sys
import time

import numpy as np


def data(shape):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.float64)
    x = (np.sin(i * 0.37) * 2 + (i % 7) * 0.25).astype(np.float32).reshape(shape)
    dy = np.cos(i * 0.11).astype(np.float32).reshape(shape)
    return x, dy


def timed(fn, runs):
    for _ in range(3):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return [statistics.median(out), min(out), max(out)]


def onnxruntime_peer(req):
    import onnxruntime as ort

    results = []
    for s in req["shapes"]:
        x, _ = data(s["shape"])
        C = s["shape"][1]
        feeds = {"X": x, "scale": np.ones(C, np.float32), "B": np.zeros(C, np.float32),
                 "input_mean": np.zeros(C, np.float32), "input_var": np.ones(C, np.float32)}
        for what in ("inference", "training"):
            sess = ort.InferenceSession(base64.b64decode(s["models"][what]), providers=["CPUExecutionProvider"])
            results.append({"label": s["label"], "what": what, "ms": timed(lambda: sess.run(None, feeds), req["runs"])})
    return "onnxruntime (Python)", ort.__version__, results


def pytorch_peer(req):
    import torch
    import torch.nn.functional as F

    results = []
    for s in req["shapes"]:
        x, dy = data(s["shape"])
        x, dy = torch.from_numpy(x), torch.from_numpy(dy)
        C = s["shape"][1]
        w, b = torch.ones(C), torch.zeros(C)
        rm, rv = torch.zeros(C), torch.ones(C)
        with torch.no_grad():
            results.append({"label": s["label"], "what": "inference",
                            "ms": timed(lambda: F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5), req["runs"])})
            results.append({"label": s["label"], "what": "training",
                            "ms": timed(lambda: F.batch_norm(x, rm.clone(), rv.clone(), w, b, True, 0.1, 1e-5),
                                        req["runs"])})
            _, mean, invstd = torch.ops.aten.native_batch_norm(x, w, b, rm.clone(), rv.clone(), True, 0.1, 1e-5)
            backward = lambda: torch.ops.aten.native_batch_norm_backward(
                dy, x, w, rm, rv, mean, invstd, True, 1e-5, [True, True, True])
            results.append({"label": s["label"], "what": "backward", "ms": timed(backward, req["runs"])})
    return "PyTorch (Python)", torch.__version__, results


def main():
    req = json.load(sys.stdin)
    peer, version, results = {"onnxruntime": onnxruntime_peer, "pytorch": pytorch_peer}[sys.argv[1]](req)
    print(json.dumps({"peer": peer, "version": version, "results": results}))


if __name__ == "__main__":
    main()
