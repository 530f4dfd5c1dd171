#!/usr/bin/env python3
"""Batch statistics across devices in PyTorch 2 (SyncBatchNorm), witnessed on CPU over torch.distributed's gloo backend.

Run by `deno task fixtures` with .envs/torch2/bin/python (PyTorch 2.15). Writes fixtures/pytorch2/sync_batchnorm.json:
training steps whose batch is split into shards (format 1.3's step field `shards`, rows per device along the batch
axis, uneven and empty ones included), one process per shard.

What PyTorch 2.15 does, read in torch/nn/modules/batchnorm.py (SyncBatchNorm.forward) and
torch/nn/modules/_functions.py (SyncBatchNorm.forward), and probed live here (provenance `probes` and `refused`):
- Without an initialized process group, SyncBatchNorm is plain batch norm (F.batch_norm): the probe checks y bit for bit.
- With one (gloo, world size > 1), it refuses CPU input: "SyncBatchNorm expected input tensor to be on GPU or XPU or
  privateuseone".
- Its arithmetic (torch.batch_norm_stats per device, all_gather of [mean, invstd, count], devices with count 0 masked
  out, torch.batch_norm_gather_stats_with_counts combining them, torch.batch_norm_elemt) has CUDA kernels only:
  torch.batch_norm_stats on CPU raises NotImplementedError.

So the cases replay that arithmetic with CPU tensor operations over a real gloo all_gather between processes on
127.0.0.1: each rank computes its shard's count, mean and invstd = 1/sqrt(biased variance + eps) (torch.var_mean, as
batch_norm_stats returns them), the ranks all_gather [mean, invstd, count], drop empty shards, and combine them in order
as batch_norm_gather_stats_with_counts's CUDA kernel does (variance recovered as (1/invstd)² − eps, then Chan et al.'s
update with the counts, in the kernel's order of operations); each rank normalizes its rows with the combined
statistics, the running statistics take the combined mean and the Bessel-corrected variance (its n/(n−1) with the
total count), and the rows are gathered back in batch order. The file says `composed: true`: the collective is real,
the kernels are replayed. Expected values are judged against exact values, which for a split batch are those of the
whole batch.
"""

import os
import random
import socket
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen_pytorch as g  # noqa: E402

torch = g.torch
SEED = 20261201
WORLD = 4
GENERATOR = "scripts/generators/gen_sync_pytorch.py"
# (label, dtype, shape, shards per training step, x_fn kind, momentum)
CASES = [
    ("uneven with an empty shard", "float64", [8, 3, 4], [3, 0, 5, 0], "ordinary", 0.1),
    ("uneven with an empty shard", "float32", [8, 3, 4], [3, 0, 5, 0], "ordinary", 0.1),
    ("one row per shard but one", "float64", [7, 2, 3], [1, 1, 1, 4], "ordinary", 0.3),
    ("even shards large mean", "float64", [8, 2], [2, 2, 2, 2], "large-mean", 0.1),
    ("even shards large mean", "float32", [8, 2], [2, 2, 2, 2], "large-mean", 0.1),
    ("all rows on one device", "float32", [5, 2, 2, 2], [0, 5, 0, 0], "ordinary", None),
    ("one value per shard", "float64", [4, 2], [1, 1, 1, 1], "ordinary", 0.1),
]
STEPS = ["train", "train", "eval"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inputs():
    """Every case's inputs and initial state, drawn in the main process (seeded per case name)."""
    out = []
    for label, dtype, shape, shards, kind, momentum in CASES:
        name = f"pytorch2 SyncBatchNorm arithmetic {dtype} {g.dims(shape)} shards {'+'.join(map(str, shards))} {label}"
        seed = SEED ^ zlib.crc32(name.encode())
        rng = random.Random(seed)
        channels = shape[1]
        state = {
            "weight": g.make([rng.uniform(0.5, 1.5) for _ in range(channels)], [channels], dtype),
            "bias": g.make(g.values(rng, channels, 0.0, 0.5), [channels], dtype),
            "running_mean": g.make(g.values(rng, channels), [channels], dtype),
            "running_var": g.make([rng.uniform(0.5, 2.0) for _ in range(channels)], [channels], dtype),
        }
        means = [1e4 + rng.uniform(-1, 1) for _ in range(channels)] if kind == "large-mean" else g.values(rng, channels, 0.0, 2.0)
        stds = [1e-2] * channels if kind == "large-mean" else [rng.uniform(0.5, 2.0) for _ in range(channels)]
        xs = [g.make(g.channel_data(rng, shape, means, stds), shape, dtype) for _ in STEPS]
        out.append({"name": name, "seed": seed, "dtype": dtype, "shards": shards, "momentum": momentum, "state": state, "xs": xs,
                    "label": label})
    return out


def combine(mean_all, invstd_all, count_all, eps):
    """batch_norm_gather_stats_with_counts's combination (aten/src/ATen/native/cuda/Normalization.cuh,
    batch_norm_reduce_statistics_kernel), in its order of operations: each device's variance recovered from its invstd
    as (1/invstd)² − eps, then a running (avg, var_n, n) updated device by device (Chan et al.)."""
    avg = torch.zeros_like(mean_all[0])
    var_n = torch.zeros_like(mean_all[0])
    n = torch.zeros((), dtype=mean_all.dtype)
    for m, inv, c in zip(mean_all, invstd_all, count_all):
        v = 1.0 / inv
        v = (v * v - eps) * c
        factor = 1.0 / (n + c)
        var_n = var_n + v + (avg - m) * (avg - m) * n * c * factor
        avg = n * factor * avg + c * factor * m
        n = n + c
    return avg, var_n, n


def worker(rank, cases, port, out_path):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    results = {"cases": [], "refused": None}
    if rank == 0:
        # SyncBatchNorm itself on CPU with a process group: refused before any collective.
        try:
            torch.nn.SyncBatchNorm(2)(torch.ones(4, 2, dtype=torch.float32))
        except Exception as e:  # noqa: BLE001 - recorded as data
            results["refused"] = {"type": type(e).__name__, "message": str(e)}
    for case in cases:
        dtype = g.TORCH_DTYPES[case["dtype"]]
        eps = 1e-5
        st = {k: v.clone() for k, v in case["state"].items()}
        nbt = 0
        steps = []
        for mode, x in zip(STEPS, case["xs"]):
            if mode == "eval":
                shape = [1, -1] + [1] * (x.dim() - 2)
                invstd = 1.0 / torch.sqrt(st["running_var"] + eps)
                y = (x - st["running_mean"].reshape(shape)) * (invstd * st["weight"]).reshape(shape) + st["bias"].reshape(shape)
                steps.append({"y": y})
                continue
            shards = case["shards"]
            start = sum(shards[:rank])
            local = x[start:start + shards[rank]]
            dims = [0] + list(range(2, x.dim()))
            count = local.numel() // x.shape[1]
            if count > 0:
                # batch_norm_stats: the shard's mean and invstd = 1/sqrt(biased var + eps).
                var, mean = torch.var_mean(local, dim=dims, unbiased=False)
                invstd_local = 1.0 / torch.sqrt(var + eps)
            else:
                invstd_local = mean = torch.zeros(x.shape[1], dtype=dtype)
            combined = torch.cat([mean, invstd_local, torch.full((1,), float(count), dtype=dtype)])
            gathered = [torch.empty_like(combined) for _ in range(WORLD)]
            dist.all_gather(gathered, combined)
            stacked = torch.stack(gathered)
            c = x.shape[1]
            mean_all, invstd_all, count_all = stacked[:, :c], stacked[:, c:2 * c], stacked[:, 2 * c]
            mask = count_all >= 1
            gmean, var_n, n = combine(mean_all[mask], invstd_all[mask], count_all[mask], eps)
            gvar = var_n / n
            invstd = 1.0 / torch.sqrt(gvar + eps)
            shape = [1, -1] + [1] * (x.dim() - 2)
            y_local = (local - gmean.reshape(shape)) * (invstd * st["weight"]).reshape(shape) + st["bias"].reshape(shape)
            # Rows back in batch order: all_gather needs equal sizes, so pad each shard to the largest.
            rows = max(shards)
            padded = torch.zeros([rows] + list(x.shape[1:]), dtype=dtype)
            padded[:shards[rank]] = y_local
            ys = [torch.empty_like(padded) for _ in range(WORLD)]
            dist.all_gather(ys, padded)
            y = torch.cat([ys[r][:shards[r]] for r in range(WORLD)])
            nbt += 1
            w = case["momentum"] if case["momentum"] is not None else 1.0 / nbt
            unbiased = var_n / (n - 1)
            st["running_mean"] = (1 - w) * st["running_mean"] + w * gmean
            st["running_var"] = (1 - w) * st["running_var"] + w * unbiased
            steps.append({"y": y, "batch_mean": gmean, "batch_var": gvar, "saved_invstd": invstd,
                          "running_mean": st["running_mean"].clone(), "running_var": st["running_var"].clone(),
                          "num_batches_tracked": nbt})
        results["cases"].append(steps)
    dist.barrier()
    if rank == 0:
        torch.save(results, out_path)
    dist.destroy_process_group()


def probes():
    """What SyncBatchNorm and its kernels do on CPU without a process group, recorded live."""
    out = []
    x = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    sync = torch.nn.SyncBatchNorm(2)
    plain = torch.nn.BatchNorm1d(2)
    same = torch.equal(sync(x), plain(x))
    out.append({"call": "torch.nn.SyncBatchNorm(2) training on CPU, no process group initialized",
                "result": f"computes plain batch norm (F.batch_norm): y equal to BatchNorm1d's bit for bit: {same}"})
    try:
        torch.batch_norm_stats(x, 1e-5)
        out.append({"call": "torch.batch_norm_stats on CPU", "result": "ok"})
    except Exception as e:  # noqa: BLE001 - recorded as data
        out.append({"call": "torch.batch_norm_stats on CPU (SyncBatchNorm's per-device statistics)",
                    "result": f"{type(e).__name__}: {str(e).split('. ')[0]}."})
    return out


def main():
    g.configure(["--source", "pytorch2"])
    import torch.multiprocessing as mp

    cases = inputs()
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "results.pt")
        mp.spawn(worker, args=(cases, free_port(), out_path), nprocs=WORLD, join=True)
        results = torch.load(out_path)
    fixture_cases = []
    for case, steps in zip(cases, results["cases"]):
        channels = case["state"]["weight"].numel()
        initial = {"gamma": g.enc(case["state"]["weight"]), "beta": g.enc(case["state"]["bias"]),
                   "running_mean": g.enc(case["state"]["running_mean"]), "running_var": g.enc(case["state"]["running_var"]),
                   "num_batches_tracked": 0}
        out_steps = []
        for mode, x, got in zip(STEPS, case["xs"], steps):
            step = {"mode": mode, "inputs": {"x": g.enc(x)}}
            if mode == "train":
                step["shards"] = case["shards"]
            step["expected"] = {k: (v if k == "num_batches_tracked" else g.enc(v)) for k, v in got.items()}
            out_steps.append(step)
        fixture_cases.append({
            "name": case["name"],
            "description": (
                f"A training batch split over {WORLD} processes as rows {case['shards']} ({case['label']}), statistics "
                "combined over a gloo all_gather the way SyncBatchNorm combines devices; then inference with the "
                "running statistics. The statistics of the split batch are those of the whole batch."
            ),
            "features": ["training", "inference", "multi-step", "group-statistics"]
            + (["large-mean"] if "large mean" in case["label"] else [])
            + (["momentum-cumulative"] if case["momentum"] is None else []),
            "api": "torch.nn.SyncBatchNorm arithmetic (torch/nn/modules/_functions.py) over torch.distributed gloo",
            "seed": case["seed"],
            "dtype": case["dtype"],
            "config": g.config_of(1e-5, case["momentum"], True, True),
            "initial_state": initial,
            "steps": out_steps,
        })
        assert channels == len(fixture_cases[-1]["initial_state"]["gamma"]["data"])
    doc = {
        "format": g.FORMAT,
        "format_version": "1.3",
        "provenance": {
            "source": "pytorch2",
            "framework": "PyTorch",
            "version": torch.__version__,
            "api": "torch.distributed (gloo all_gather over processes on 127.0.0.1); torch.var_mean per shard; "
                   "SyncBatchNorm's combination replayed with tensor operations",
            "generator": GENERATOR,
            "command": "deno task fixtures",
            "seed": SEED,
            "composed": True,
            "environment": g.environment() + f", {WORLD} processes (torch.multiprocessing.spawn), gloo backend",
            "notes": [
                "SyncBatchNorm refuses CPU input once a process group is initialized, and its kernels "
                "(torch.batch_norm_stats, batch_norm_gather_stats_with_counts, batch_norm_elemt) are CUDA-only: "
                "the collective here is real, the per-device statistics and their combination are SyncBatchNorm's "
                "arithmetic replayed with CPU tensor operations (see the generator).",
                "shards: rows per process along the batch axis, in batch order; an empty shard joins the all_gather "
                "with count 0 and is masked out, as in SyncBatchNorm.forward.",
            ],
            "probes": probes(),
            "refused": [{"call": "torch.nn.SyncBatchNorm on CPU input with a gloo process group of 4",
                         **(results["refused"] or {"type": "none", "message": "accepted"})}],
        },
        "cases": fixture_cases,
    }
    os.makedirs(g.OUT_DIR, exist_ok=True)
    g.write_atomic(os.path.join(g.OUT_DIR, "sync_batchnorm.json"), g.dump(doc) + "\n")
    print(f"fixtures/pytorch2/sync_batchnorm.json: {len(fixture_cases)} cases")


if __name__ == "__main__":
    main()
