#!/usr/bin/env python3
"""A seeded random sweep of BatchNorm cases from real PyTorch (CPU), with the machinery of
scripts/generators/gen_pytorch.py (the same module calls, autograd, float64 twins, JSON layout).

Run by `deno task fixtures` before the exact oracle annotates every file: with /usr/bin/python3 (Debian's PyTorch 1.13)
it writes fixtures/pytorch-sweep/random.json; with .envs/torch2/bin/python and `--source pytorch2` (PyTorch 2.15) the
same draws into fixtures/pytorch2/sweep.json, the calls PyTorch 2 refuses (epsilon 0 in training) in the provenance's
`refused`. Each case draws, from Python's `random.Random(SEED + i)`: the module (rank 2 to 5),
the dtype (float32, float64, bfloat16), epsilon (1e-5, 1e-3, 0.1, 0), momentum (0.1, 0.3, 0, 1, None), affine,
track_running_stats, initial running statistics, a step sequence (training and inference, one to three calls) and a
data kind, chosen to be ill-conditioned as often as ordinary: ordinary; a large |mean|/std (10 to 1e6); two values per
channel (with epsilon 0 often: dx is identically 0); a constant channel (with epsilon 0 often: invstd 0); an empty
batch; and four calls PyTorch refuses (one value per channel). Shapes stay small (at most 12 values) to keep the file a few hundred KB. Re-running gives identical bytes.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen_pytorch as g  # noqa: E402

SEED = 20261130
COUNT = 40
REFUSALS = 4
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "pytorch-sweep")
RANK_SHAPES = {
    2: lambda r: [r.choice([3, 4, 6]), r.choice([1, 2])],
    3: lambda r: [r.choice([2, 3]), r.choice([1, 2]), r.choice([1, 2])],
    4: lambda r: [r.choice([1, 2]), r.choice([1, 2]), 1, r.choice([2, 3])],
    5: lambda r: [r.choice([1, 2]), 2, 1, 1, r.choice([2, 3])],
}
KINDS = ["ordinary", "large-mean", "two-values", "constant-channel", "empty-batch"]


def data_fn(kind, ratio):
    """x_fn for gen_pytorch.module_case: (rng, shape, means, stds) -> values."""

    def large_mean(rng, shape, means, stds):
        sign = [rng.choice([-1.0, 1.0]) for _ in means]
        return g.channel_data(rng, shape, [s * ratio * st for s, st in zip(sign, stds)], stds)

    def constant(rng, shape, means, stds):
        data = g.channel_data(rng, shape, means, stds)
        inner = len(data) // max(1, shape[0] * shape[1])
        for n in range(shape[0]):
            for i in range(inner):
                data[(n * shape[1]) * inner + i] = round(means[0], 3)
        return data

    return {"large-mean": large_mean, "constant-channel": constant}.get(kind)


def draw(i):
    r = random.Random(SEED + i)
    kind = KINDS[i % len(KINDS)] if i < len(KINDS) else r.choices(KINDS, weights=[3, 4, 2, 2, 1])[0]
    rank = r.choice([2, 3, 4, 5])
    shape = RANK_SHAPES[rank](r)
    dtype = r.choice(["float32", "float64", "bfloat16"])
    eps = r.choice([1e-5, 1e-3, 0.1, 0.0])
    momentum = r.choice([0.1, 0.3, 0.0, 1.0, None])
    affine = r.random() < 0.8
    track = r.random() < 0.8
    initial_running = track and r.random() < 0.5
    ratio = 10.0 ** r.uniform(1, 6)
    if kind == "two-values":
        shape = [2, r.choice([1, 2])] + [1] * (rank - 2)
        eps = r.choice([0.0, 0.0, 1e-5])
    if kind == "constant-channel" and r.random() < 0.5:
        eps = 0.0
    if kind == "empty-batch":
        shape = [0] + shape[1:]
    steps = [r.choice(["train", "eval"]) for _ in range(r.choice([1, 2, 3]))]
    if kind == "empty-batch":
        steps = ["train"] + steps[:1]
    if not track and kind == "empty-batch":
        track = True  # untracked eval on an empty batch normalizes with no statistics: nothing PyTorch defines
    count = 1
    for d in shape:
        count *= d
    per_channel = count // max(1, shape[1])
    if per_channel == 1 or (not track and per_channel <= 1):
        steps = ["eval"] if track else steps
    if per_channel <= 1 and not track:
        shape[0] = 2
    features = ["training" if "train" in steps else "inference"] + (["inference"] if "eval" in steps and "train" in steps else [])
    features += ["backward"] + (["multi-step"] if len(steps) > 1 else [])
    features += {"large-mean": ["large-mean"], "two-values": ["edge-case"], "constant-channel": ["zero-variance"],
                 "empty-batch": ["empty-batch"]}.get(kind, [])
    if momentum is None:
        features.append("momentum-cumulative")
    if not affine:
        features.append("no-affine")
    if not track:
        features.append("untracked-stats")
    if initial_running:
        features.append("initial-running-stats")
    label = f"ratio={ratio:.3g}" if kind == "large-mean" else kind
    name = (f"pytorch sweep {i:03d} {g.MODULES[rank]} {dtype} {g.dims(shape)} {'+'.join(steps)} eps={eps} "
            f"momentum={momentum} affine={affine} track={track} {label}")
    description = (f"Random sweep case {i} (seed {SEED + i}): {kind} data under PyTorch's conventions, drawn by "
                   "scripts/generators/gen_sweep.py.")
    return g.module_case(name, description, sorted(set(features), key=features.index), shape, dtype, steps, eps=eps,
                         momentum=momentum, affine=affine, track=track, initial_running=initial_running,
                         x_fn=data_fn(kind, ratio), scenario=f"sweep-{kind}")


def refusal(i):
    """Training with one value per channel, which PyTorch refuses (gen_pytorch.error_case): the accepting mistake fails it."""
    r = random.Random(SEED + i)
    rank = r.choice([2, 3, 4])
    shape = [1, r.choice([1, 2, 3])] + [1] * (rank - 2)
    dtype = r.choice(["float32", "float64", "bfloat16"])
    track = r.random() < 0.7
    mode = "train" if track else r.choice(["train", "eval"])
    name = f"pytorch sweep {i:03d} {g.MODULES[rank]} {dtype} {g.dims(shape)} {mode} track={track} one-value refused"
    return g.error_case(name, f"Random sweep case {i} (seed {SEED + i}): one value per channel, refused by PyTorch.",
                        shape, dtype, mode, track=track, scenario="sweep-one-value")


def main():
    source = g.configure(sys.argv[1:])
    out_dir, file = (OUT_DIR, "random.json") if source == "pytorch" else (g.OUT_DIR, "sweep.json")
    cases, refused = g.split_refused([draw(i) for i in range(COUNT)] + [refusal(i) for i in range(COUNT, COUNT + REFUSALS)])
    doc = {
        "format": g.FORMAT,
        "format_version": "1.2",
        "provenance": {
            "source": source,
            "framework": "PyTorch",
            "version": g.torch.__version__,
            "api": "torch.nn.BatchNorm1d/2d/3d; torch.native_batch_norm (saved statistics); torch.var (batch variance); "
                   "torch.autograd (gradients)",
            "generator": "scripts/generators/gen_sweep.py",
            "command": "deno task fixtures",
            "seed": SEED,
            "composed": False,
            "environment": g.environment(),
            "notes": [
                "A seeded random sweep: conventions, shapes, step sequences and ill-conditioned data drawn per case "
                "(see the generator). expected: what PyTorch computed in the case's dtype; expected_float64: the same "
                "call in float64 from the same state; expected_exact: the exact oracle's values, which implementations "
                "are judged against.",
            ],
            **({"refused": refused} if refused else {}),
        },
        "cases": cases,
    }
    os.makedirs(out_dir, exist_ok=True)
    g.write_atomic(os.path.join(out_dir, file), g.dump(doc) + "\n")
    print(f"fixtures/{os.path.basename(os.path.normpath(out_dir))}/{file}: {len(cases)} cases")


if __name__ == "__main__":
    main()
