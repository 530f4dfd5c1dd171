#!/usr/bin/env python3
"""Golden BatchNorm fixtures from real PyTorch (CPU): Debian's python3-torch 1.13, or PyTorch 2 from envs/torch2.txt.

Run by `deno task fixtures` twice: with /usr/bin/python3 (PyTorch 1.13) it writes fixtures/pytorch/*.json; with
.envs/torch2/bin/python and `--source pytorch2` (PyTorch 2.15) the same cases, from the same inputs (each case's seed
is that of its PyTorch 1.13 name), into fixtures/pytorch2/*.json, named "pytorch2 ..." and with float16 added where
PyTorch 2 runs it on CPU. A call PyTorch 2 refuses where 1.13 computed (epsilon 0 in training) is recorded in the
provenance's `refused`, with its message and the module's num_batches_tracked after it. Files are in
the format of fixtures/FORMAT.md. Every expected value is what torch computed here;
nothing comes from this project's TypeScript reference.

Determinism: inputs come from Python's `random.Random` (Mersenne Twister, stable
across Python versions) seeded per case with SEED ^ crc32(case name); torch runs on
one thread; numbers are written as Python's shortest round-trip repr; files are
written to a temporary name and renamed. Re-running gives identical bytes.
"""

import os
import random
import sys
import zlib

import torch
import torch.nn.functional as F

from _fixture_json import dump, num, write_atomic  # noqa: F401 (num and write_atomic are used by gen_tf_fused.py and gen_sweep.py)

SEED = 20261122
GENERATOR = "scripts/generators/gen_pytorch.py"
FORMAT = "batchnorm-conformance-fixture"
# The format version whose fields these files use: 1.1 for framework_call, framework_defect, the config field
# empty_batch and the edge-case features (FORMAT_ADDITIONS in src/conformance/fixture.ts; a reader refuses a file
# that uses fields newer than it declares).
FORMAT_VERSION = "1.1"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")
OUT_DIR = os.path.join(FIXTURES, "pytorch")
# The fixture sources this generator writes: the PyTorch major version each requires and how its environment is named.
SOURCES = {
    "pytorch": {"major": 1, "environment": "Debian python3-torch {version}"},
    "pytorch2": {"major": 2, "environment": "PyPI torch {version} (envs/torch2.txt, installed into .envs/torch2/)"},
}
SOURCE = "pytorch"

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODULES = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def configure(argv):
    """Reads `--source pytorch|pytorch2` (default pytorch) and checks that the running PyTorch is that source's."""
    global SOURCE, OUT_DIR
    source = "pytorch"
    if argv:
        if len(argv) != 2 or argv[0] != "--source" or argv[1] not in SOURCES:
            sys.exit(f"usage: {os.path.basename(sys.argv[0])} [--source {'|'.join(SOURCES)}]; got {' '.join(argv)}")
        source = argv[1]
    major = int(torch.__version__.split(".")[0])
    if major != SOURCES[source]["major"]:
        sys.exit(f"source {source} needs PyTorch {SOURCES[source]['major']}.x; this interpreter ({sys.executable}) has {torch.__version__}")
    SOURCE, OUT_DIR = source, os.path.join(FIXTURES, source)
    return source


def named(name):
    """The case's name in this source: "pytorch ..." becomes "pytorch2 ..." under PyTorch 2 (the seed keeps the 1.13 name)."""
    return SOURCE + name[len("pytorch"):] if SOURCE != "pytorch" and name.startswith("pytorch ") else name


def environment():
    return (SOURCES[SOURCE]["environment"].format(version=torch.__version__) +
            f", CPU, 1 thread, Python {sys.version_info.major}.{sys.version_info.minor}")


def case_dtypes(dtypes):
    """The dtypes of the main sequences: PyTorch 2 runs float16 on CPU too (1.13 refuses it: provenance.unsupported)."""
    return dtypes + (["float16"] if SOURCE != "pytorch" else [])


# ---------------------------------------------------------------- JSON output

# num, dump and write_atomic: the one fixture writer of the Python generators (scripts/generators/_fixture_json.py).


def enc(t):
    """A torch tensor as a fixture tensor: dtype, shape, exact values."""
    name = next(k for k, v in TORCH_DTYPES.items() if v == t.dtype)
    return {"dtype": name, "shape": list(t.shape), "data": t.detach().to(torch.float64).flatten().tolist()}


# ---------------------------------------------------------------- inputs


def values(rng, count, mean=0.0, std=1.0):
    return [mean + std * rng.gauss(0.0, 1.0) for _ in range(count)]


def channel_data(rng, shape, channel_means, channel_stds):
    """Row-major values whose channel (axis 1) c has the given mean and spread."""
    n, c = shape[0], shape[1]
    inner = 1
    for d in shape[2:]:
        inner *= d
    out = []
    for _ in range(n):
        for ch in range(c):
            out.extend(values(rng, inner, channel_means[ch], channel_stds[ch]))
    return out


def make(vals, shape, dtype):
    return torch.tensor(vals, dtype=torch.float64).reshape(shape).to(TORCH_DTYPES[dtype])


# ---------------------------------------------------------------- one case


def config_of(eps, momentum, affine, track):
    return {
        "axis": 1,
        "epsilon": eps,
        "epsilon_floor": 0.0,
        "epsilon_placement": "inside",
        "momentum": momentum,
        "momentum_kind": "cumulative" if momentum is None else "new",
        "running_variance": "bessel",
        "affine": affine,
        "track_running_stats": track,
        "single_value_training": "error",
        "zero_variance_invstd": "zero",
        "empty_batch": "unchanged",
    }


def snapshot(m):
    return {
        "weight": None if m.weight is None else m.weight.detach().clone(),
        "bias": None if m.bias is None else m.bias.detach().clone(),
        "running_mean": None if m.running_mean is None else m.running_mean.clone(),
        "running_var": None if m.running_var is None else m.running_var.clone(),
        "num_batches_tracked": None if m.num_batches_tracked is None else int(m.num_batches_tracked.item()),
    }


def build_module(rank, channels, eps, momentum, affine, track, state, dtype):
    cls = getattr(torch.nn, MODULES[rank])
    m = cls(channels, eps=eps, momentum=momentum, affine=affine, track_running_stats=track, dtype=torch.float64).to(TORCH_DTYPES[dtype])
    with torch.no_grad():
        if affine:
            m.weight.copy_(state["weight"].to(TORCH_DTYPES[dtype]))
            m.bias.copy_(state["bias"].to(TORCH_DTYPES[dtype]))
        if track:
            m.running_mean.copy_(state["running_mean"].to(TORCH_DTYPES[dtype]))
            m.running_var.copy_(state["running_var"].to(TORCH_DTYPES[dtype]))
            m.num_batches_tracked.fill_(state["num_batches_tracked"])
    return m


def run_step(m, mode, x, dy, eps):
    """One call of the module, with autograd backward; returns the expected outputs."""
    m.train(mode == "train")
    before = snapshot(m)
    xx = x.clone().requires_grad_(True)
    y = m(xx)
    out = {"y": y}
    if mode == "train" and x.numel() > 0:
        # The same CPU kernel the module dispatches to, called directly for its saved statistics.
        # (Not for an empty input: torch.native_batch_norm dies with SIGFPE there; the module returns early.)
        rm = None if before["running_mean"] is None else before["running_mean"].clone()
        rv = None if before["running_var"] is None else before["running_var"].clone()
        ref_y, save_mean, save_invstd = torch.native_batch_norm(x, before["weight"], before["bias"], rm, rv, True, 0.0, eps)
        torch.testing.assert_close(ref_y, y.detach(), rtol=0, atol=0, equal_nan=True, msg="native_batch_norm disagrees with the module")
        reduce_dims = [0] + list(range(2, x.dim()))
        out["batch_mean"] = save_mean
        out["batch_var"] = torch.var(x, dim=reduce_dims, unbiased=False)
        out["saved_invstd"] = save_invstd
    if mode == "train" and m.track_running_stats:
        out["running_mean"] = m.running_mean.detach().clone()
        out["running_var"] = m.running_var.detach().clone()
    if dy is not None:
        y.backward(dy)
        out["dx"] = xx.grad
        if m.weight is not None:
            out["dgamma"] = m.weight.grad.clone()
            out["dbeta"] = m.bias.grad.clone()
            m.weight.grad = None
            m.bias.grad = None
    expected = {k: enc(v) for k, v in out.items()}
    if mode == "train" and m.track_running_stats:
        expected["num_batches_tracked"] = int(m.num_batches_tracked.item())
    return expected


def module_case(name, description, features, shape, dtype, steps, eps=1e-5, momentum=0.1, affine=True, track=True, initial_running=False,
                x_fn=None, init=None, defect=None, scenario=None):
    """A sequence of module calls; `steps` lists "train"/"eval", with backward on each.

    x_fn(rng, shape, means, stds) overrides the inputs; init overrides initial state entries (lists)."""
    seed = SEED ^ zlib.crc32(name.encode())
    rng = random.Random(seed)
    rank, channels = len(shape), shape[1]
    state = {
        "weight": make([rng.uniform(0.5, 1.5) for _ in range(channels)], [channels], "float64"),
        "bias": make(values(rng, channels, 0.0, 0.5), [channels], "float64"),
        "running_mean": make(values(rng, channels) if initial_running else [0.0] * channels, [channels], "float64"),
        "running_var": make([rng.uniform(0.5, 2.0) for _ in range(channels)] if initial_running else [1.0] * channels, [channels], "float64"),
        "num_batches_tracked": 0,
    }
    for k, v in (init or {}).items():
        state[k] = make(v, [channels], "float64")
    m = build_module(rank, channels, eps, momentum, affine, track, state, dtype)
    means = values(rng, channels, 0.0, 2.0)
    stds = [rng.uniform(0.5, 2.0) for _ in range(channels)]
    initial = initial_state(m)
    out_steps = []
    for i, mode in enumerate(steps):
        x = make((x_fn or channel_data)(rng, shape, means, stds), shape, dtype)
        dy = make(values(rng, x.numel()), shape, dtype)
        before = snapshot(m)
        try:
            expected = run_step(m, mode, x, dy, eps)
        except ValueError as e:
            if SOURCE == "pytorch" or "eps must be" not in str(e):
                raise
            # PyTorch 2 refuses epsilon <= 0 in training (torch/nn/functional.py batch_norm): no case, a record for
            # the file's provenance.refused (split_refused).
            return {"refused": {
                "call": f"{named(name)}: step {i} ({mode}) of torch.nn.{MODULES[rank]}(eps={eps})",
                "type": type(e).__name__,
                "message": str(e),
                "num_batches_tracked_before": before["num_batches_tracked"],
                "num_batches_tracked_after": snapshot(m)["num_batches_tracked"],
                **({"scenario": scenario} if scenario else {}),
            }}
        step = {"mode": mode, "inputs": {"x": enc(x), "dy": enc(dy)}, "expected": expected}
        if dtype != "float64":
            # The same call in float64, from this step's state and inputs widened exactly.
            twin = build_module(rank, channels, eps, momentum, affine, track, widen(before), "float64")
            step["expected_float64"] = run_step(twin, mode, x.to(torch.float64), dy.to(torch.float64), eps)
        out_steps.append(step)
    return {
        "name": named(name),
        "description": description,
        "features": features,
        "api": f"torch.nn.{MODULES[rank]}",
        "seed": seed,
        "dtype": dtype,
        "config": config_of(eps, momentum, affine, track),
        "initial_state": initial,
        "steps": out_steps,
        **({"framework_call": {"scenario": scenario}} if scenario else {}),
        **({"framework_defect": defect} if defect else {}),
    }


KERNEL_CANCELLATION = {
    "issue": "https://github.com/pytorch/pytorch/blob/v1.13.0/aten/src/ATen/native/cpu/batch_norm_kernel.cpp",
    "summary": "The CPU kernel evaluates y as x*alpha + beta' with alpha = gamma*invstd and beta' = beta - mean*alpha. "
    "When |mean|*alpha is large against |y| the two terms cancel: a constant channel (y = beta exactly) comes out "
    "1e-14 off in float64 (23 ULP of the peak), beyond rounding of the formula.",
}


def widen(state):
    return {k: (v.to(torch.float64) if isinstance(v, torch.Tensor) else (0 if v is None and k == "num_batches_tracked" else v)) for k, v in state.items()}


def initial_state(m):
    s = snapshot(m)
    out = {}
    if s["weight"] is not None:
        out["gamma"] = enc(s["weight"])
        out["beta"] = enc(s["bias"])
    if s["running_mean"] is not None:
        out["running_mean"] = enc(s["running_mean"])
        out["running_var"] = enc(s["running_var"])
        out["num_batches_tracked"] = s["num_batches_tracked"]
    return out


def error_case(name, description, shape, dtype, mode, track=True, scenario=None, extra_features=()):
    """A call PyTorch refuses; records the exception and what the module looked like after it."""
    seed = SEED ^ zlib.crc32(name.encode())
    rng = random.Random(seed)
    rank, channels = len(shape), shape[1]
    m = getattr(torch.nn, MODULES[rank])(channels, track_running_stats=track, dtype=TORCH_DTYPES[dtype])
    initial = initial_state(m)
    x = make(values(rng, torch.Size(shape).numel()), shape, dtype)
    m.train(mode == "train")
    try:
        m(x)
    except Exception as e:  # noqa: BLE001 - recorded as data
        error = {"code": "single_value_per_channel", "type": type(e).__name__, "message": str(e)}
    else:
        raise AssertionError(f"{name}: PyTorch accepted the call")
    after = {"num_batches_tracked": int(m.num_batches_tracked.item())} if track else {}
    if track:
        after["running_mean"] = enc(m.running_mean)
        after["running_var"] = enc(m.running_var)
    step = {"mode": mode, "inputs": {"x": enc(x)}, "expected_error": error}
    if after:
        step["framework_state_after"] = after
    return {
        "name": named(name),
        "description": description,
        "features": list(extra_features) + ["single-value-per-channel", "expected-error"] + (["untracked-stats"] if not track else []),
        "api": f"torch.nn.{MODULES[rank]}",
        "seed": seed,
        "dtype": dtype,
        "config": config_of(1e-5, 0.1, True, track),
        "initial_state": initial,
        "steps": [step],
        **({"framework_call": {"scenario": scenario}} if scenario else {}),
    }


def functional_epsilon_case():
    """F.batch_norm in eval with eps comparable to the variance: inside vs outside the root differ by 20%+."""
    name = "pytorch F.batch_norm float64 eval epsilon=0.75 shows epsilon inside the square root"
    seed = SEED ^ zlib.crc32(name.encode())
    rng = random.Random(seed)
    shape = [4, 3]
    gamma = make([1.0, 1.0, 1.0], [3], "float64")
    beta = make([0.0, 0.0, 0.0], [3], "float64")
    rm = make([0.0, 0.0, 0.0], [3], "float64")
    rv = make([0.25, 1.0, 0.0625], [3], "float64")
    x = make(values(rng, 12), shape, "float64")
    eps = 0.75
    y = F.batch_norm(x, rm, rv, gamma, beta, training=False, momentum=0.1, eps=eps)
    cfg = config_of(eps, 0.1, True, True)
    return {
        "name": named(name),
        "description": (
            "torch.nn.functional.batch_norm(training=False, eps=0.75) with running_var 0.25, 1, 0.0625. "
            "Epsilon inside the root gives x/sqrt(var+0.75) = x/1, x/1.3229, x/0.9014; outside it would give "
            "x/(sqrt(var)+0.75) = x/1.25, x/1.75, x/1.0. An implementation with epsilon outside fails this case."
        ),
        "features": ["inference", "epsilon-placement", "functional-api"],
        "api": "torch.nn.functional.batch_norm",
        "seed": seed,
        "dtype": "float64",
        "config": cfg,
        "initial_state": {"gamma": enc(gamma), "beta": enc(beta), "running_mean": enc(rm), "running_var": enc(rv), "num_batches_tracked": 0},
        "steps": [{"mode": "eval", "inputs": {"x": enc(x)}, "expected": {"y": enc(y)}}],
    }


# ---------------------------------------------------------------- the suite


SHAPES = {
    "BatchNorm1d (N,C)": [6, 3],
    "BatchNorm1d (N,C,L)": [4, 3, 5],
    "BatchNorm2d": [2, 3, 4, 5],
    "BatchNorm3d": [2, 2, 3, 2, 3],
}
SEQUENCE = ["train", "train", "train", "eval"]


def dims(shape):
    return "x".join(str(d) for d in shape)


def suite():
    files = {"batchnorm1d": [], "batchnorm2d": [], "batchnorm3d": [], "functional": []}
    for label, shape in SHAPES.items():
        file = "batchnorm" + label[9:11].lower()
        for dtype in case_dtypes(["float32", "float64", "bfloat16"]):
            files[file].append(module_case(
                f"pytorch {label} {dtype} {dims(shape)} train x3 then eval momentum=0.1",
                "Three training calls that update the running statistics with momentum 0.1 (weight of the new batch value), then an inference call; backward through autograd at every step.",
                ["training", "inference", "multi-step", "backward"], shape, dtype, SEQUENCE))
    bn2 = SHAPES["BatchNorm2d"]
    for dtype in ["float32", "float64"]:
        variants = [
            ("momentum=None (cumulative average)", dict(momentum=None), ["momentum-cumulative"],
             "momentum=None: the running statistics are the plain average of all batch statistics so far (factor 1/num_batches_tracked)."),
            ("momentum=0 (frozen)", dict(momentum=0.0), ["momentum-extreme"],
             "momentum=0: the running statistics never move from their initial values; num_batches_tracked still counts."),
            ("momentum=1 (replaced)", dict(momentum=1.0), ["momentum-extreme"],
             "momentum=1: the running statistics become the last batch's (mean, Bessel-corrected variance)."),
            ("affine=False", dict(affine=False), ["no-affine"],
             "No weight or bias: y is the plain normalized x, and there are no dgamma/dbeta."),
            ("track_running_stats=False", dict(track=False), ["untracked-stats"],
             "No running statistics: training keeps none, and inference normalizes with the batch's own statistics (gradient included)."),
            ("eps=1e-3", dict(eps=1e-3), ["epsilon-value"], "Epsilon 1e-3, TensorFlow's default, under PyTorch's conventions."),
            ("eps=0.1", dict(eps=0.1), ["epsilon-value"], "A large epsilon, so its placement and value visibly change y."),
            ("eps=0", dict(eps=0.0), ["epsilon-value"], "Epsilon 0 on channels with non-zero variance."),
            ("initial running stats momentum=0.3", dict(momentum=0.3, initial_running=True), ["initial-running-stats"],
             "Running statistics that start away from (0, 1), updated with momentum 0.3."),
        ]
        for label, kwargs, feats, desc in variants:
            files["batchnorm2d"].append(module_case(
                f"pytorch BatchNorm2d {dtype} {dims(bn2)} {label}", desc,
                ["training", "inference", "multi-step", "backward"] + feats, bn2, dtype, SEQUENCE, **kwargs))
        files["batchnorm2d"].append(module_case(
            f"pytorch BatchNorm2d {dtype} 1x3x2x2 batch size 1 with spatial size 4",
            "N=1 is valid in training when each channel still has several values (here 4).",
            ["training", "inference", "backward", "batch-size-1"], [1, 3, 2, 2], dtype, ["train", "eval"]))
        files["batchnorm1d"].append(module_case(
            f"pytorch BatchNorm1d {dtype} 1x3 eval with one value per channel",
            "Inference with one value per channel is fine: it uses the running statistics.",
            ["inference", "backward", "batch-size-1"], [1, 3], dtype, ["eval"], initial_running=True))
    files["batchnorm2d"].append(module_case(
        "pytorch BatchNorm2d bfloat16 2x3x1x2 momentum=1 eps=0.5 conventions visible at bfloat16 precision",
        "At 6 bfloat16 ULP (2-5% relative) the default sequences cannot tell a biased running variance from a "
        "Bessel-corrected one, nor epsilon 1e-3 from 1e-5. Here n=4 per channel and momentum 1 make the Bessel factor "
        "4/3 visible in running_var, and epsilon 0.5 makes its value visible in y.",
        ["training", "inference", "backward", "momentum-extreme", "epsilon-value"], [2, 3, 1, 2], "bfloat16",
        ["train", "eval"], eps=0.5, momentum=1.0))
    files["batchnorm1d"].append(error_case(
        "pytorch BatchNorm1d float32 1x3 train refuses one value per channel",
        "Training with one value per channel: the Python API raises before computing. PyTorch surprise: "
        "num_batches_tracked was already incremented when it raises (framework_state_after).",
        [1, 3], "float32", "train"))
    files["batchnorm2d"].append(error_case(
        "pytorch BatchNorm2d float32 1x3x1x1 train refuses one value per channel",
        "Rank 4 with N=1 and a 1x1 image: one value per channel, refused as in (N,C).",
        [1, 3, 1, 1], "float32", "train"))
    files["batchnorm1d"].append(error_case(
        "pytorch BatchNorm1d float32 1x3 eval untracked refuses one value per channel",
        "track_running_stats=False normalizes with batch statistics in eval too, so eval is refused like training.",
        [1, 3], "float32", "eval", track=False))
    files["functional"].append(functional_epsilon_case())
    return files


def edge_suite():
    """Edge cases: each shows one behaviour at the limits, under PyTorch's conventions."""
    def constant_channel(value):
        def fn(rng, shape, means, stds):
            data = channel_data(rng, shape, means, stds)
            inner = len(data) // (shape[0] * shape[1])
            for n in range(shape[0]):
                for i in range(inner):
                    data[(n * shape[1]) * inner + i] = value
            return data
        return fn

    def poke(value, index=1):
        def fn(rng, shape, means, stds):
            data = channel_data(rng, shape, means, stds)
            data[index] = value
            return data
        return fn

    def spread(center, scale, limit=3.0e38):
        """center + scale * noise, kept within +-limit so float32 rounding cannot make an infinity."""
        return lambda rng, shape, means, stds: [max(-limit, min(limit, center + scale * rng.gauss(0, 1))) for _ in range(torch.Size(shape).numel())]

    E = ["edge-case"]
    cases = []
    for dtype in ["float32", "float64"]:
        cases.append(module_case(
            f"pytorch edge BatchNorm1d {dtype} 4x2x3 constant channel eps=1e-5",
            "Channel 0 is constant (3.0): variance 0, so y should be beta exactly and dx = gamma/sqrt(eps)*(dy - mean(dy)), "
            "not 0. PyTorch's float32 kernel computes y as x*alpha + beta' and misses beta by the cancellation of 3*alpha.",
            E + ["zero-variance", "training", "inference", "backward"] + (["known-framework-defect"] if dtype == "float64" else []),
            [4, 2, 3], dtype, ["train", "eval"], x_fn=constant_channel(3.0), defect=KERNEL_CANCELLATION if dtype == "float64" else None, scenario="constant-channel"))
        cases.append(module_case(
            f"pytorch edge BatchNorm1d {dtype} 4x2x3 constant channel eps=0",
            "Constant channel with epsilon 0: PyTorch defines invstd as 0 there (ATen InvStd), so y = beta and dx = 0, no NaN.",
            E + ["zero-variance", "epsilon-value", "training", "backward"], [4, 2, 3], dtype, ["train"], eps=0.0, x_fn=constant_channel(3.0), scenario="constant-channel-eps0"))
    for m in [-0.5, 1.5]:
        cases.append(module_case(
            f"pytorch edge BatchNorm1d float64 6x2 momentum={m}",
            f"Momentum {m}, outside [0, 1]: PyTorch accepts it and extrapolates the running statistics.",
            E + ["momentum-out-of-range", "training", "inference", "multi-step"], [6, 2], "float64", ["train", "train", "eval"], momentum=m,
            scenario="momentum-negative" if m < 0 else "momentum-above-1"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 4x2x3 NaN in x",
        "One NaN in channel 0 of a training input: that channel's y, statistics and gradients are NaN; channel 1 is untouched.",
        E + ["non-finite", "training", "backward"], [4, 2, 3], "float32", ["train"], x_fn=poke(float("nan")), scenario="nan-x"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 4x2x3 Infinity in x",
        "One +Infinity in channel 0: its mean is Infinity, its variance and y NaN; the running mean becomes Infinity.",
        E + ["non-finite", "training", "backward"], [4, 2, 3], "float32", ["train"], x_fn=poke(float("inf")), scenario="inf-x"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 4x2 NaN gamma and Infinity running variance in eval",
        "Inference with gamma[0] NaN and running_var[1] Infinity: channel 0 is NaN, channel 1 is beta (x/sqrt(inf) = 0).",
        E + ["non-finite", "inference", "backward"], [4, 2], "float32", ["eval"], init={"weight": [float("nan"), 1.0], "running_var": [1.0, float("inf")]},
        scenario="nan-gamma-inf-var-eval"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 4x2 NaN running mean in training",
        "Training ignores the running mean for y, so y is finite; the NaN carries into the updated running mean.",
        E + ["non-finite", "training", "backward"], [4, 2], "float32", ["train"], init={"running_mean": [float("nan"), 0.0]}, scenario="nan-running-mean-train"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 64x2 large mean tiny spread",
        "x = 1e4 + 1e-3*noise: |mean|/std is about 1e7. E[x^2]-E[x]^2 cancels to garbage in float32. PyTorch's variance is "
        "fine (double accumulation) but its y = x*alpha + beta' cancels: its float32 y is off by about 2% of the output scale.",
        E + ["large-mean", "training", "inference", "backward"], [64, 2], "float32", ["train", "eval"], eps=1e-5, x_fn=spread(1e4, 1e-3), scenario="large-mean"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 6x2 denormal inputs",
        "Values around 1e-40 (float32 subnormals): the variance (about 1e-80) underflows to 0 in float32, so the channel "
        "behaves as constant: y = beta.",
        E + ["denormal", "training", "backward"], [6, 2], "float32", ["train"], x_fn=spread(0.0, 1e-40), scenario="denormal"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 6x2 values near float32 overflow",
        "Finite values up to 3e38 (float32's largest is 3.4e38): the variance overflows float32 to Infinity, invstd becomes 0 "
        "and y = beta; the running variance becomes Infinity. In float64 nothing overflows.",
        E + ["overflow", "training", "backward"], [6, 2], "float32", ["train"], x_fn=spread(0.0, 1.5e38, 3.0e38), scenario="near-overflow"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 0x3x2 empty batch",
        "N = 0: the module returns an empty y, leaves the running statistics untouched and still counts the call. "
        "(torch.native_batch_norm itself dies with SIGFPE on this input, so no saved statistics are recorded.)",
        E + ["empty-batch", "training", "inference"], [0, 3, 2], "float32", ["train", "eval"], scenario="empty-batch"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 8x1 one channel",
        "C = 1.", E + ["channel-count", "training", "inference", "backward"], [8, 1], "float32", ["train", "eval"], scenario="one-channel"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 4x256 many channels",
        "C = 256 with N = 4.", E + ["channel-count", "training", "inference", "backward"], [4, 256], "float32", ["train", "eval"],
        scenario="many-channels"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 6x2 eps=1e-8",
        "Epsilon below TensorFlow's 1.001e-5 floor: PyTorch takes it as given.",
        E + ["epsilon-value", "training", "backward"], [6, 2], "float32", ["train"], eps=1e-8, scenario="eps-1e-8"))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 1x2x4 N=1 with 4 values per channel",
        "N = 1 is fine in training while each channel has several values.",
        E + ["batch-size-1", "training", "inference", "backward"], [1, 2, 4], "float32", ["train", "eval"], scenario="n1-spatial"))
    cases.append(error_case(
        "pytorch edge BatchNorm1d float32 1x2 one value per channel in training",
        "One value per channel in training: refused by the Python API (num_batches_tracked already incremented).",
        [1, 2], "float32", "train", scenario="one-value-train", extra_features=["edge-case", "batch-size-1"]))
    cases.append(module_case(
        "pytorch edge BatchNorm1d float32 1x3 one value per channel in eval",
        "One value per channel in inference: normal, it uses the running statistics.",
        E + ["batch-size-1", "inference", "backward"], [1, 3], "float32", ["eval"], initial_running=True, scenario="one-value-eval"))
    return cases


def unsupported():
    """What torch's CPU kernels refuse here, recorded from a live call."""
    out = []
    for dtype in ["float16"]:
        try:
            torch.nn.BatchNorm2d(2, dtype=TORCH_DTYPES[dtype])(torch.ones(2, 2, 2, 2, dtype=TORCH_DTYPES[dtype]))
        except Exception as e:  # noqa: BLE001 - recorded as data
            out.append({"dtype": dtype, "type": type(e).__name__, "message": str(e)})
    return out


def split_refused(cases):
    """The cases, and the records of the calls refused in their place (module_case's {"refused": ...})."""
    return [c for c in cases if "refused" not in c], [c["refused"] for c in cases if "refused" in c]


def main():
    configure(sys.argv[1:])
    os.makedirs(OUT_DIR, exist_ok=True)
    limits = unsupported()
    apis = {
        "batchnorm1d": "torch.nn.BatchNorm1d",
        "batchnorm2d": "torch.nn.BatchNorm2d",
        "batchnorm3d": "torch.nn.BatchNorm3d",
        "functional": "torch.nn.functional.batch_norm",
    }
    files = suite()
    files["edge_cases"] = edge_suite()
    apis["edge_cases"] = "torch.nn.BatchNorm1d"
    for file, cases in files.items():
        cases, refused = split_refused(cases)
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "provenance": {
                "source": SOURCE,
                "framework": "PyTorch",
                "version": torch.__version__,
                "api": apis[file] + "; torch.native_batch_norm (saved statistics); torch.var (batch variance); torch.autograd (gradients)",
                "generator": GENERATOR,
                "command": "deno task fixtures",
                "seed": SEED,
                "composed": False,
                "environment": environment(),
                "notes": [
                    "expected: what PyTorch computed in the case's dtype. expected_float64: the same call in float64 from the same state and inputs widened exactly.",
                    "batch_mean and saved_invstd are torch.native_batch_norm's save_mean and save_invstd; batch_var is torch.var(unbiased=False) of the same input.",
                ],
                "unsupported": limits,
                **({"refused": refused} if refused else {}),
            },
            "cases": cases,
        }
        write_atomic(os.path.join(OUT_DIR, file + ".json"), dump(doc) + "\n")
        print(f"fixtures/{SOURCE}/{file}.json: {len(cases)} cases")


if __name__ == "__main__":
    main()
