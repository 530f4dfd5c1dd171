#!/usr/bin/env python3
"""Writes fixtures/graphs/conv_bn.json: Conv → BatchNormalization graph cases (fixtures/FORMAT.md, "Graph cases").

    /usr/bin/python3 scripts/generators/gen_conv_bn.py        # run by `deno task fixtures`

Each case is a float32 Conv (stride 1, groups 1, with bias) followed by an inference BatchNormalization with running
statistics. The file holds the inputs, the exact y of the UNFUSED graph (scripts/generators/exact_conv_bn.py: exact
rational sums, square root at 400 bits, independent of the suite's reference and of every engine), each output channel's
error scale and the budget, then every engine's recorded output on the routes users take (fused and unfused), with its
distance from the exact values and the verdict the budget gives, and composed wrong folds (controls that must fail).

Engines run in their own pinned environments (envs/*.txt, `deno task envs NAME`): onnx (onnx.reference, onnxruntime),
openvino, litert (with TensorFlow 2.21's converter from .venv/), torch2, ncnn. A missing environment stops the run with
the command that installs it: a route is never silently left out. Inputs come from a seeded mulberry32 generator
(the one tests/pypi_onnx_engines_test.ts uses), so the file is byte-identical on a second run on the same machine.
"""

import base64
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_json import dump, write_atomic  # noqa: E402
from exact_conv_bn import exact_y  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fixtures", "graphs", "conv_bn.json")
U32 = 2.0 ** -24  # float32 unit roundoff
EXTRA_ROUNDINGS = 8  # beyond the K products and sums: bias, mean, the root (or an rsqrt within 2 ULP), gamma, beta, the fold


def f32(v):
    return struct.unpack("f", struct.pack("f", v))[0]


class Mulberry32:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def rand(self):
        self.s = (self.s + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.s

        def imul(a, b):
            return (a * b) & 0xFFFFFFFF

        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    def normal(self):
        return math.sqrt(-2 * math.log(1 - self.rand())) * math.cos(2 * math.pi * self.rand())


def nest(flat, shape):
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def make_case(cid, seed, n, cin, h, w, cout, k, pad, eps):
    """Inputs drawn in a fixed order: x, w, b, gamma, beta, mean, var. The variances span 10^-3.5..10^0.5 so that
    epsilon matters on some channels, and the running statistics are drawn apart from the batch's."""
    r = Mulberry32(seed)
    vec = lambda m, f: [f32(f()) for _ in range(m)]
    x = vec(n * cin * h * w, r.normal)
    wt = vec(cout * cin * k * k, lambda: r.normal() / math.sqrt(cin * k * k))
    return {
        "id": cid, "seed": seed, "shape": [n, cin, h, w], "pads": [pad, pad], "epsilon": f32(eps),
        "x": nest(x, [n, cin, h, w]), "w": nest(wt, [cout, cin, k, k]),
        "b": vec(cout, lambda: r.normal() * 0.1),
        "gamma": vec(cout, lambda: r.rand() + 0.5),
        "beta": vec(cout, lambda: r.normal() * 0.1),
        "mean": vec(cout, lambda: r.normal() * 0.3),
        "var": vec(cout, lambda: 10 ** (r.rand() * 4 - 3.5)),
    }


CASES = [
    # A 1×1 convolution (K = 16 terms) and a 3×3 one with zero padding 1 (K = 144, border outputs fewer).
    make_case("conv1x1_bn", 20, 2, 16, 4, 4, 8, 1, 0, 1e-5),
    make_case("conv3x3_pad1_bn", 21, 1, 16, 6, 6, 8, 3, 1, 1e-3),
]


def ulp32(v):
    v = min(abs(v), 3.4028234663852886e38)
    e = -126 if v < 2.0 ** -126 else math.frexp(v)[1] - 1
    return 2.0 ** (e - 23)


def channel_scales(c):
    """Per output channel: |gamma|·u·(max over outputs of Σ|w·x| + |b| + |mean|) + |beta|, u = 1/sqrt(var + eps); the
    magnitude of the terms every form (unfused, or folded into w' = w·gamma·u and b' = (b − mean)·gamma·u + beta)
    must round. float64 is ample for a scale."""
    x = np.array(c["x"], np.float64)
    w = np.array(c["w"], np.float64)
    p = c["pads"][0]
    xp = np.pad(np.abs(x), ((0, 0), (0, 0), (p, p), (p, p)))
    cout, _, kh, kw = w.shape
    n, _, hp, wp = xp.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    absum = np.zeros((n, cout, ho, wo))
    for i in range(kh):
        for j in range(kw):
            absum += np.einsum("oc,nchw->nohw", np.abs(w[:, :, i, j]), xp[:, :, i:i + ho, j:j + wo])
    scales = []
    for co in range(cout):
        u = 1 / math.sqrt(c["var"][co] + c["epsilon"])
        s = abs(c["gamma"][co]) * u * (float(absum[:, co].max()) + abs(c["b"][co]) + abs(c["mean"][co])) + abs(c["beta"][co])
        scales.append(float(f"{s:.6g}"))
    return scales


def judge(y, exact, scales, shape, budget):
    """(max error in float32 ULP of max(|t|, the channel's scale), verdict): FORMAT.md "Graph cases"."""
    n, cout, ho, wo = shape
    worst = 0.0
    for idx, (a, t) in enumerate(zip(y, exact)):
        if not math.isfinite(a):
            return None, "fail"
        if a == t:
            continue
        co = (idx // (ho * wo)) % cout
        worst = max(worst, abs(a - t) / ulp32(max(abs(t), scales[co])))
    return round(worst, 3), "pass" if worst <= budget else "fail"


def flat(v):
    return np.array(v, dtype=np.float64).ravel().tolist()


def tensor(v, dtype="float32"):
    a = np.array(v, dtype=np.float64)
    return {"dtype": dtype, "shape": list(a.shape), "data": a.ravel().tolist()}


def python(env):
    return os.path.join(ROOT, ".envs", env, "bin", "python") if env != ".venv" else os.path.join(ROOT, ".venv", "bin", "python")


def call(argv, stdin):
    env = dict(os.environ)
    env.setdefault("DENO", shutil.which("deno") or "deno")
    env["PYTHONHASHSEED"] = "0"
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


PEER = "scripts/peers/pypi_onnx_peer.py"
ENGINES = "scripts/generators/_conv_bn_engines.py"

# (route id, environment, fused?, precision, what the route is, why it fails where it does)
ROUTES = [
    ("onnx-reference", "onnx", False, "float32", "onnx.reference.ReferenceEvaluator, node by node", None),
    ("onnxruntime", "onnx", True, "float32",
     "onnxruntime default session (ORT_ENABLE_ALL): ConvBNFusion rewrites Conv + BatchNormalization into one Conv "
     "(onnxruntime/core/optimizer/conv_bn_fusion.cc)", None),
    ("onnxruntime-unoptimized", "onnx", False, "float32", "onnxruntime, graph_optimization_level ORT_DISABLE_ALL", None),
    ("openvino-f32", "openvino", True, "float32",
     "OpenVINO CPU, INFERENCE_PRECISION_HINT f32 (the CPU plugin fuses the BatchNormInference into the convolution)", None),
    ("openvino", "openvino", True, "default",
     "OpenVINO CPU, its default INFERENCE_PRECISION_HINT", "bf16"),
    ("litert", "litert", True, "float32",
     "TF 2.21 TFLiteConverter from a Keras Conv2D + BatchNormalization, LiteRT Interpreter (one CONV_2D: the converter "
     "folds the layer into the convolution)", None),
    ("litert-fp16", "litert", True, "float16 weights",
     "the same converter with Optimize.DEFAULT and supported type float16 (weights stored as float16)", "float16"),
    ("torch-unfused", "torch2", False, "float32", None, None),
    ("torch-fused", "torch2", True, "float32", None, None),
    ("ncnn-unfused", "ncnn", False, "float32", None, None),
    ("ncnn-pnnx", "ncnn", True, "float16 weights (pnnx default fp16=1)", None, "pnnx-fp16"),
    ("ncnn-pnnx-fp32", "ncnn", True, "float32", None, None),
]

CAUSES = {
    "bf16": "the resolved hint is bf16 (CPUs with AMX-BF16 default to it): the fused convolution runs with bfloat16 "
            "inputs and weights, 8 significant bits, about 2^15 float32 ULP relative",
    "float16": "the folded weights and bias are stored as float16 (11 significant bits), about 2^13 float32 ULP relative",
    "pnnx-fp16": "pnnx writes the ncnn weights as float16 by default (fp16=1 in its usage text; the .bin's weight blob "
                 "carries ncnn's float16 tag 0x01306B47): the folded weights keep 11 significant bits",
}


def run_route(route, env, case, model_b64, model_path):
    spec = {k: case[k] for k in ("x", "w", "b", "gamma", "beta", "mean", "var", "epsilon", "pads", "shape")}
    if env in ("onnx", "openvino"):
        req = {"model": model_b64, "feeds": {"X": {"dtype": "float32", "shape": case["shape"], "data": flat(case["x"])}},
               "outputs": ["Y"]}
        got = call([python(env), PEER, route, "--run-model"], json.dumps(req) + "\n")
        if "outputs" not in got:
            raise RuntimeError(f"{route}: {got.get('error')}")
        return got["engine"], got["outputs"]["Y"]["data"], None
    if env == "litert":
        got = call([python(env), PEER, route, "--conv-bn"], json.dumps(spec) + "\n")
        return got["engine"], flat(got["y"]), [o for o in got["ops"] if o != "DEQUANTIZE"]
    argv = [python(env), ENGINES, route] + ([model_path] if route.startswith("ncnn-pnnx") else [])
    got = call(argv, json.dumps(spec))
    return got, flat(got["y"]), None


def wrong_folds(case, shape):
    """Composed wrong folds (numpy float32, the fold as engines write it: w' = f32(w·s), b' = f32((b − m)·s + beta),
    y = f32(Σ w'·x + b') summed in float64): each is a mistake the budget must catch."""
    x = np.array(case["x"], np.float32)
    w = np.array(case["w"], np.float32)
    b, g, beta, m, v = (np.array(case[k], np.float32) for k in ("b", "gamma", "beta", "mean", "var"))
    eps = np.float32(case["epsilon"])
    p = case["pads"][0]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    cout, _, kh, kw = w.shape
    n, _, ho, wo = shape

    def conv(wf, bf):
        z = np.zeros(shape)
        for i in range(kh):
            for j in range(kw):
                z += np.einsum("oc,nchw->nohw", wf[:, :, i, j].astype(np.float64), xp[:, :, i:i + ho, j:j + wo])
        return (z + bf.astype(np.float64)[None, :, None, None]).astype(np.float32)

    def fold(s, mean, bias=True):
        wf = (w * s[:, None, None, None]).astype(np.float32)
        bf = ((((b if bias else np.zeros_like(b)) - mean) * s).astype(np.float32) + beta).astype(np.float32)
        return conv(wf, bf)

    z = conv(w, b).astype(np.float64)
    bmean = z.mean(axis=(0, 2, 3)).astype(np.float32)
    bvar = z.var(axis=(0, 2, 3)).astype(np.float32)
    return [
        ("epsilon-outside-root", "s = gamma / (sqrt(var) + eps) instead of gamma / sqrt(var + eps)",
         fold((g / (np.sqrt(v) + eps)).astype(np.float32), m)),
        ("batch-statistics", "folded with this batch's mean and biased variance instead of the running statistics",
         fold((g / np.sqrt(bvar + eps)).astype(np.float32), bmean)),
        ("conv-bias-dropped", "b' = beta − mean·s: the convolution's own bias left out of the fold",
         fold((g / np.sqrt(v + eps)).astype(np.float32), m, bias=False)),
        ("variance-as-std", "s = gamma / (var + eps): the root forgotten",
         fold((g / (v + eps)).astype(np.float32), m)),
    ]


def main():
    for env in ("onnx", "openvino", "litert", "torch2", "ncnn", ".venv"):
        if not os.path.exists(python(env)):
            what = "deno task venv" if env == ".venv" else f"deno task envs {env}"
            sys.exit(f"gen_conv_bn.py: {python(env)} not found: run `{what}` first")
    cases = []
    for c in CASES:
        print(f"  {c['id']}: exact values", file=sys.stderr)
        exact = flat(exact_y(c))
        cout, _, kh, kw = np.array(c["w"]).shape
        n, cin, h, wd = c["shape"]
        p = c["pads"][0]
        shape = [n, cout, h + 2 * p - kh + 1, wd + 2 * p - kw + 1]
        scales = channel_scales(c)
        terms = cin * kh * kw
        budget = terms + EXTRA_ROUNDINGS
        done = subprocess.run([python("onnx"), "scripts/peers/_conv_bn_model.py"], input=json.dumps(c), capture_output=True,
                              text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"_conv_bn_model.py: {done.stderr[-2000:]}")
        model_b64 = done.stdout.strip()
        runs = []
        with tempfile.TemporaryDirectory() as d:
            model_path = os.path.join(d, "conv_bn.onnx")
            with open(model_path, "wb") as f:
                f.write(base64.b64decode(model_b64))
            for route, env, fused, precision, what, cause in ROUTES:
                print(f"  {c['id']}: {route}", file=sys.stderr)
                engine, y, ops = run_route(route, env, c, model_b64, model_path)
                if isinstance(engine, dict):  # _conv_bn_engines.py's answer
                    version = f"{engine['framework']} {engine['version']}"
                    what = engine["route"]
                else:
                    version = engine
                if ops is not None:
                    what = f"{what}; operators {' + '.join(ops)}"
                if any(f32(v) != v for v in y):
                    raise RuntimeError(f"{route}: an output is not a float32 value")
                err, verdict = judge(y, exact, scales, shape, budget)
                run = {"route": route, "engine": version, "how": what, "fused": fused, "precision": precision,
                       "y": {"dtype": "float32", "shape": shape, "data": y}, "max_error_ulp": err, "verdict": verdict}
                if route == "openvino":
                    resolved = "bf16" if "bf16" in version or "bfloat16" in version else "f32"
                    run["precision"] = f"default hint, resolved {resolved}"
                    cause = cause if resolved == "bf16" else None
                if verdict == "fail":
                    run["cause"] = CAUSES.get(cause, "not traced: a finding to investigate")
                runs.append(run)
        controls = []
        for name, what, y in wrong_folds(c, shape):
            y = flat(y)
            err, verdict = judge(y, exact, scales, shape, budget)
            controls.append({"mistake": name, "how": what, "y": {"dtype": "float32", "shape": shape, "data": y},
                             "max_error_ulp": err, "verdict": verdict})
        cases.append({
            "id": c["id"], "dtype": "float32", "layout": "NCHW",
            "graph": [
                {"op": "Conv", "kernel_shape": [kh, kw], "pads": [p, p, p, p], "strides": [1, 1], "dilations": [1, 1],
                 "group": 1, "inputs": ["x", "w", "b"], "output": "z"},
                {"op": "BatchNormalization", "mode": "inference", "epsilon": c["epsilon"],
                 "inputs": ["z", "gamma", "beta", "mean", "var"], "output": "y"},
            ],
            "seed": c["seed"],
            "inputs": {k: tensor(c[k]) for k in ("x", "w", "b", "gamma", "beta", "mean", "var")},
            "expected_exact": {"dtype": "float64", "shape": shape, "data": exact},
            "exact_scale": scales,
            "terms": terms,
            "budget_ulp": budget,
            "runs": runs,
            "wrong_folds": controls,
        })
    doc = {
        "format": "batchnorm-conformance-graph",
        "format_version": "1.0",
        "provenance": {
            "source": "graphs",
            "generator": "scripts/generators/gen_conv_bn.py",
            "command": "deno task fixtures",
            "exact": "scripts/generators/exact_conv_bn.py: exact rational convolution sums, sqrt and division at 400 "
                     "bits (mpmath), rounded once to binary64; independent of the suite's reference and of every engine",
            "notes": "Engine outputs are recorded on this machine's CPU (x86-64 with AVX-512 and AMX-BF16 when generated); "
                     "another CPU can change an engine's last bits, or OpenVINO's default hint, never expected_exact.",
        },
        "judge": {
            "error": "|a − t| / ulp_float32(max(|t|, exact_scale[channel])), 0 where a == t; a non-finite a fails",
            "pass": "every element's error <= budget_ulp",
            "budget_ulp": "terms + 8: terms = Cin·kH·kW products and sums of the convolution (the dot-product bound "
                          "γ_K·Σ|w·x|), 8 more for the bias, the mean, the root or an rsqrt within 2 ULP, gamma, beta and "
                          "the rounding of folded weights",
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_atomic(OUT, dump(doc) + "\n")
    print(f"fixtures/graphs/conv_bn.json: {len(cases)} cases, {sum(len(c['runs']) for c in cases)} engine runs", file=sys.stderr)


if __name__ == "__main__":
    main()
