#!/usr/bin/env python3
"""Builds a Conv (k×k, stride 1, optional symmetric zero padding, with bias) → BatchNormalization ONNX model (opset 15, every weight an initializer, float32), as
exported models carry them, for tests/pypi_onnx_engines_test.ts. Run by .envs/onnx/bin/python (onnx 1.23.2's helper).

Reads {"shape": [N, Cin, H, W], "w": [Cout, Cin, kH, kW], "b", "gamma", "beta", "mean", "var": [Cout], "epsilon",
optionally "pads": [pH, pW]} on stdin; prints the model in base64 (tests/pypi_onnx_engines_test.ts,
scripts/generators/gen_conv_bn.py).
"""

import base64
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    s = json.loads(sys.stdin.read())
    f = lambda k: numpy_helper.from_array(np.array(s[k], dtype=np.float32), k)
    cout = len(s["w"])
    n, _, h, w = s["shape"]
    kh, kw = len(s["w"][0][0]), len(s["w"][0][0][0])
    ph, pw = s.get("pads", [0, 0])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["X", "w", "b"], ["Z"], kernel_shape=[kh, kw], pads=[ph, pw, ph, pw]),
         helper.make_node("BatchNormalization", ["Z", "gamma", "beta", "mean", "var"], ["Y"], epsilon=float(s["epsilon"]))],
        "conv_bn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, s["shape"])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, cout, h + 2 * ph - kh + 1, w + 2 * pw - kw + 1])],
        [f(k) for k in ("w", "b", "gamma", "beta", "mean", "var")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], producer_name="batchnorm-conformance _conv_bn_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    print(base64.b64encode(model.SerializeToString()).decode())


if __name__ == "__main__":
    main()
