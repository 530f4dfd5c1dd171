#!/usr/bin/env python3
"""Conv → BatchNormalization on engines that are not ONNX runtimes, for scripts/generators/gen_conv_bn.py.

    .envs/torch2/bin/python scripts/generators/_conv_bn_engines.py torch-unfused < case.json
    .envs/torch2/bin/python scripts/generators/_conv_bn_engines.py torch-fused < case.json
    .envs/ncnn/bin/python   scripts/generators/_conv_bn_engines.py ncnn-unfused < case.json
    .envs/ncnn/bin/python   scripts/generators/_conv_bn_engines.py ncnn-pnnx MODEL.onnx < case.json
    .envs/ncnn/bin/python   scripts/generators/_conv_bn_engines.py ncnn-pnnx-fp32 MODEL.onnx < case.json

case.json is the case of scripts/generators/exact_conv_bn.py (x [N, Cin, H, W], w [Cout, Cin, kH, kW], b, gamma,
beta, mean, var [Cout], epsilon, pads [pH, pW]); prints one JSON line {"framework", "version", "route", "y": nested
NCHW}. Every y is computed by the engine, float32, one thread; numpy only moves data in and out.

- torch-unfused: torch.nn.Conv2d then torch.nn.BatchNorm2d in eval(), as modules (two kernels).
- torch-fused: the same modules folded by torch.nn.utils.fusion.fuse_conv_bn_eval (what torch.ao quantisation and
  torch.fx's fuser call): one Conv2d with w' = w·(gamma·rsqrt(var + eps)) and b' = (b − mean)·that + beta.
- ncnn-unfused: an ncnn param with a Convolution layer and a BatchNorm layer (ncnn's runtime does not fuse them; its
  offline ncnnoptimize and pnnx do), ncnn's default options but one thread.
- ncnn-pnnx: the ONNX model converted by pnnx (the pnnx wheel's own binary), which folds BatchNormalization into the
  convolution; then run by ncnn as above. The param pnnx wrote is checked to hold no BatchNorm layer. pnnx's default
  is fp16=1 (its usage text): the .bin stores the folded weights as float16, tagged 0x01306B47 (ncnn's
  ModelBinFromDataReader reads the tag); the route says which tag the file holds.
- ncnn-pnnx-fp32: the same with fp16=0 (float32 weights, tag 0).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def arrays(case):
    a = {k: np.array(case[k], dtype=np.float32) for k in ("x", "w", "b", "gamma", "beta", "mean", "var")}
    return a, [int(p) for p in case.get("pads", [0, 0])]


def torch_route(name, case):
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    torch.set_num_threads(1)
    a, (ph, pw) = arrays(case)
    cout, cin, kh, kw = a["w"].shape
    conv = torch.nn.Conv2d(cin, cout, (kh, kw), padding=(ph, pw), bias=True)
    bn = torch.nn.BatchNorm2d(cout, eps=float(np.float32(case["epsilon"])))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(a["w"]))
        conv.bias.copy_(torch.from_numpy(a["b"]))
        bn.weight.copy_(torch.from_numpy(a["gamma"]))
        bn.bias.copy_(torch.from_numpy(a["beta"]))
        bn.running_mean.copy_(torch.from_numpy(a["mean"]))
        bn.running_var.copy_(torch.from_numpy(a["var"]))
    conv.eval()
    bn.eval()
    x = torch.from_numpy(a["x"])
    with torch.no_grad():
        if name == "torch-unfused":
            y = bn(conv(x))
            route = "torch.nn.Conv2d then torch.nn.BatchNorm2d, eval(), two modules"
        else:
            y = fuse_conv_bn_eval(conv, bn)(x)
            route = "torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn): one Conv2d with the folded weight and bias"
    return {"framework": "PyTorch", "version": torch.__version__, "route": route, "y": y.double().numpy().tolist()}


def ncnn_net(param, weights):
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = 1
    if net.load_param_mem(param) != 0:
        raise RuntimeError(f"ncnn: load_param_mem refused {param!r}")
    net.load_model_mem(weights)  # returns 0 or the bytes read, depending on the build
    return net


def ncnn_run(net, x, inp, out):
    import ncnn

    ys = []
    for n in range(x.shape[0]):
        sample = np.ascontiguousarray(x[n])
        m = ncnn.Mat(sample).clone()  # the binding crashes at extract without the clone (scripts/peers/pypi_framework_peer.py)
        ex = net.create_extractor()
        ex.input(inp, m)
        ret, o = ex.extract(out)
        if ret != 0:
            raise RuntimeError(f"ncnn: extract returned {ret}")
        ys.append(np.array(o).astype(np.float64))
    return np.stack(ys)


def ncnn_unfused(case):
    import ncnn

    a, (ph, pw) = arrays(case)
    cout, cin, kh, kw = a["w"].shape
    eps = float(np.float32(case["epsilon"]))
    param = ("7767517\n3 3\nInput in0 0 1 in0\n"
             f"Convolution conv0 1 1 in0 z0 0={cout} 1={kw} 11={kh} 2=1 3=1 4={pw} 14={ph} 5=1 6={a['w'].size}\n"
             f"BatchNorm bn0 1 1 z0 out0 0={cout} 1={eps!r}\n")
    # The weight blob starts with a 4-byte tag (0: raw float32); bias and BatchNorm's slope, mean, var, bias follow raw.
    weights = (np.zeros(1, np.int32).tobytes() + a["w"].tobytes() + a["b"].tobytes() +
               np.concatenate([a["gamma"], a["mean"], a["var"], a["beta"]]).tobytes())
    net = ncnn_net(param, weights)
    y = ncnn_run(net, a["x"], "in0", "out0")
    route = "ncnn Net, a Convolution layer then a BatchNorm layer (not fused at run time), default options, one thread"
    return {"framework": "ncnn", "version": ncnn.__version__, "route": route, "y": y.tolist()}


def ncnn_pnnx(case, onnx_path, fp16):
    import importlib.metadata as md
    import importlib.util

    import ncnn

    # The wheel's binary, found without importing the package (its __init__ imports torch, which this env lacks).
    exe = os.path.join(importlib.util.find_spec("pnnx").submodule_search_locations[0], "pnnx")

    a, _ = arrays(case)
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "conv_bn.onnx")
        with open(onnx_path, "rb") as src, open(model, "wb") as dst:
            dst.write(src.read())
        shape = ",".join(str(v) for v in a["x"].shape)
        done = subprocess.run([exe, model, f"inputshape=[{shape}]", f"fp16={1 if fp16 else 0}"], cwd=d, capture_output=True, text=True)
        param_path = os.path.join(d, "conv_bn.ncnn.param")
        if done.returncode != 0 or not os.path.exists(param_path):
            raise RuntimeError(f"pnnx failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
        with open(param_path) as f:
            param = f.read()
        with open(os.path.join(d, "conv_bn.ncnn.bin"), "rb") as f:
            weights = f.read()
    tag = int.from_bytes(weights[:4], "little")  # the Convolution's weight blob comes first
    stored = {0x01306B47: "float16", 0: "float32"}.get(tag, f"tag {tag:#010x}")
    layers = [line.split()[0] for line in param.splitlines()[2:] if line.strip()]
    if "BatchNorm" in layers:
        raise RuntimeError(f"pnnx kept a BatchNorm layer: {layers}")
    net = ncnn_net(param, weights)
    lines = [line.split() for line in param.splitlines()[2:] if line.strip()]
    inp = next(l[4] for l in lines if l[0] == "Input")
    out = lines[-1][4 + int(lines[-1][2])]
    y = ncnn_run(net, a["x"], inp, out)
    route = (f"pnnx {md.version('pnnx')} (fp16={1 if fp16 else 0}) converts the ONNX model (layers {' + '.join(layers)}: "
             f"BatchNormalization folded into the convolution; weights stored as {stored}), ncnn Net, default options, one thread")
    return {"framework": "ncnn", "version": ncnn.__version__, "route": route, "y": y.tolist()}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    case = json.loads(sys.stdin.read())
    if name in ("torch-unfused", "torch-fused"):
        out = torch_route(name, case)
    elif name == "ncnn-unfused":
        out = ncnn_unfused(case)
    elif name in ("ncnn-pnnx", "ncnn-pnnx-fp32") and len(sys.argv) == 3:
        out = ncnn_pnnx(case, sys.argv[2], name == "ncnn-pnnx")
    else:
        print("usage: _conv_bn_engines.py torch-unfused|torch-fused|ncnn-unfused|ncnn-pnnx[-fp32] MODEL.onnx < case.json", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
