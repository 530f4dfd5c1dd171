#!/usr/bin/env python3
"""TensorFlow 2.21's TFLite converter as a line server, for the LiteRT peer (scripts/peers/pypi_onnx_peer.py litert).

Run by .venv/bin/python (deno task venv). Each stdin line is {"shape": [N, ..., C] (channels-last), "epsilon",
"gamma", "beta", "mean", "var", "float16": bool, and optionally "conv": {"w": [Cout, Cin, kH, kW], "b": [Cout], "pads": [pH, pW]
optional} (a Conv2D before the layer, stride 1: "valid" without pads, "same" with the pads "same" gives)}; each stdout line the .tflite flatbuffer in base64, or
{"error": "..."}. The model is what users convert: a Keras BatchNormalization layer (axis -1) holding the weights,
called in inference, traced by tf.function and converted by tf.lite.TFLiteConverter (which folds the layer into a
MUL and an ADD by constants); with "float16", post-training float16 quantisation (Optimize.DEFAULT, supported type
float16: weights stored as float16, dequantized at load). Exits at the end of stdin. Logs go to stderr.
"""

import base64
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def vec(v):
    return np.array([SPECIAL.get(e, e) if isinstance(e, str) else e for e in v], dtype=np.float32)


def convert(spec):
    shape = [int(d) for d in spec["shape"]]
    layer = tf.keras.layers.BatchNormalization(axis=-1, epsilon=float(spec["epsilon"]))
    conv = spec.get("conv")
    if conv is None:
        model = tf.keras.Sequential([tf.keras.Input(shape=shape[1:], batch_size=shape[0]), layer])
    else:  # a Conv2D with bias before the layer; w in ONNX's [Cout, Cin, kH, kW] layout
        w = np.array(conv["w"], dtype=np.float32)
        pads = conv.get("pads", [0, 0])
        if list(pads) not in ([0, 0], [(w.shape[2] - 1) // 2, (w.shape[3] - 1) // 2]):
            raise ValueError(f"pads {pads}: only none or Keras's 'same' (odd kernels) are expressible")
        padding = "valid" if list(pads) == [0, 0] else "same"
        conv_layer = tf.keras.layers.Conv2D(w.shape[0], (w.shape[2], w.shape[3]), padding=padding)
        model = tf.keras.Sequential([tf.keras.Input(shape=shape[1:], batch_size=shape[0]), conv_layer, layer])
        conv_layer.set_weights([np.transpose(w, [2, 3, 1, 0]), vec(conv["b"])])
    layer.set_weights([vec(spec["gamma"]), vec(spec["beta"]), vec(spec["mean"]), vec(spec["var"])])

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if spec.get("float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def main():
    # The converter prints (Keras's export: "Saved artifact at ..."): protocol lines go to the real stdout, fd 1 to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = base64.b64encode(convert(json.loads(line))).decode()
        except Exception as e:  # a spec the converter refuses
            reply = json.dumps({"error": f"{type(e).__name__}: {str(e).strip()}"})
        out.write(reply + "\n")
        out.flush()


if __name__ == "__main__":
    main()
