"""onnxruntime from Python, profiled as scripts/bench/ort_node_profile.ts profiles onnxruntime-node.

Reads {"model": base64 ONNX, "shape": [N, C, H, W], "runs": R, "threads": [0, 1, 2], "dir": path} on stdin; for each
intra-op thread count (0: onnxruntime's default) runs the model R times after 3 warm-ups with onnxruntime's own
profiler on, and prints one JSON line per count: the median wall time of `sess.run` as Python sees it, and the
medians of the profiler's `model_run` (the whole run inside onnxruntime) and of the BatchNormalization node's
`kernel_time`, in ms. The bench's data recipe (scripts/bench/native_peers.py).
"""

import base64
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

from native_peers import data


def main():
    req = json.load(sys.stdin)
    model = base64.b64decode(req["model"])
    x, _ = data(req["shape"])
    C = req["shape"][1]
    feeds = {"X": x, "scale": np.ones(C, np.float32), "B": np.zeros(C, np.float32),
             "input_mean": np.zeros(C, np.float32), "input_var": np.ones(C, np.float32)}
    for threads in req["threads"]:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(req["dir"], f"py_{threads}")
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        wall = []
        for i in range(3 + req["runs"]):
            t = time.perf_counter()
            sess.run(None, feeds)
            if i >= 3:
                wall.append((time.perf_counter() - t) * 1e3)
        trace = json.load(open(sess.end_profiling()))
        runs = [e["dur"] / 1e3 for e in trace if e.get("name") == "model_run"][3:]
        kernels = [e["dur"] / 1e3 for e in trace if e.get("name", "").endswith("_kernel_time")][3:]
        print(json.dumps({"engine": "onnxruntime (Python)", "version": ort.__version__, "threads": threads,
                          "wall_ms": statistics.median(wall), "model_run_ms": statistics.median(runs),
                          "kernel_ms": statistics.median(kernels)}), flush=True)


if __name__ == "__main__":
    main()
