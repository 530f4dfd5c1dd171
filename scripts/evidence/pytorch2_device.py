#!/usr/bin/env python3
"""Run the PyTorch fixture generator under another PyTorch (2.x) on CPU and CUDA.

Evidence, not fixtures: a machine with PyTorch 2.x and a GPU is not something CI has, so
what this writes is compared with the recorded PyTorch 1.13 fixtures by
scripts/evidence/compare_pytorch.py and reported in docs/findings.md; it never becomes a
fixture. Writes $OUT/pytorch2.tar.gz holding <run>/<file>.json (run: cpu, cuda, cuda-no-cudnn) (same format as
fixtures/pytorch/) and probes.json.

    OUT=/tmp/out python3 scripts/evidence/pytorch2_device.py
"""

import io
import json
import os
import sys
import tarfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "generators"))

import torch  # noqa: E402

import gen_pytorch as g  # noqa: E402


def guarded(fn):
    """A case that raises under this PyTorch is recorded with its exception instead of aborting the file."""

    def run(name, *args, **kwargs):
        try:
            return fn(name, *args, **kwargs)
        except Exception as e:  # recorded, compared later
            return {"name": name, "generator_exception": f"{type(e).__name__}: {e}"}

    return run


g.module_case = guarded(g.module_case)
g.error_case = guarded(g.error_case)

out = os.environ.get("OUT", "/tmp/out")
work = os.path.join("/tmp", "pytorch2_evidence")
files = {}
disagreements = []
_assert_close = torch.testing.assert_close


def recording_assert_close(actual, expected, *args, msg=None, **kwargs):
    """On CUDA the module may take cuDNN while native_batch_norm takes PyTorch's own kernel: record, don't stop."""
    try:
        _assert_close(actual, expected, *args, msg=msg, **kwargs)
    except AssertionError:
        d = (actual.double() - expected.double()).abs().max().item()
        disagreements.append({"device": current, "what": msg, "max_abs_difference": d,
                              "peak": expected.double().abs().max().item(), "dtype": str(expected.dtype)})


torch.testing.assert_close = recording_assert_close
probes = {"torch": torch.__version__, "cuda_version": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
for current in ["cpu", "cuda", "cuda-no-cudnn"]:
    device = "cuda" if current.startswith("cuda") else "cpu"
    torch.backends.cudnn.enabled = current != "cuda-no-cudnn"
    if device == "cuda" and not torch.cuda.is_available():
        probes["cuda_unavailable"] = True
        continue
    probes[f"{current}_name"] = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    if hasattr(torch, "set_default_device"):  # PyTorch >= 2.0
        torch.set_default_device(device)
    torch.use_deterministic_algorithms(device == "cpu")
    g.OUT_DIR = os.path.join(work, current)
    try:
        g.main()
    except Exception:
        probes[f"{current}_main_exception"] = traceback.format_exc()
    for name in sorted(os.listdir(g.OUT_DIR)) if os.path.isdir(g.OUT_DIR) else []:
        with open(os.path.join(g.OUT_DIR, name), "rb") as f:
            files[f"{current}/{name}"] = f.read()
    # Single probes of behaviours that changed or may differ by device.
    p = {}
    for eps in [0.0, -1e-5]:
        try:
            m = torch.nn.BatchNorm2d(3, eps=eps).train()
            y = m(torch.ones(2, 3, 2, 2))
            p[f"train_eps_{eps}"] = "ok: y[0,0,0,0]=" + repr(y[0, 0, 0, 0].item())
        except Exception as e:
            p[f"train_eps_{eps}"] = f"{type(e).__name__}: {e}"
    for dt in ["float16", "bfloat16"]:
        try:
            m = torch.nn.BatchNorm2d(3).train()
            x = torch.randn(4, 3, 2, 2).to(getattr(torch, dt))
            y = m(x)
            p[f"{dt}_data_float32_params"] = f"ok: y {y.dtype}, running_var {m.running_var.dtype}"
        except Exception as e:
            p[f"{dt}_data_float32_params"] = f"{type(e).__name__}: {e}"
    try:
        m = torch.nn.SyncBatchNorm(3).train()
        m(torch.randn(4, 3, 2, 2))
        p["sync_batchnorm_no_group"] = "ok"
    except Exception as e:
        p["sync_batchnorm_no_group"] = f"{type(e).__name__}: {e}"
    probes[current] = p

probes["module_vs_native_batch_norm"] = disagreements
files["probes.json"] = (json.dumps(probes, indent=2, sort_keys=True) + "\n").encode()
os.makedirs(out, exist_ok=True)
with tarfile.open(os.path.join(out, "pytorch2.tar.gz"), "w:gz") as tar:
    for name, data in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
print(json.dumps(probes, indent=2, sort_keys=True))
print("files:", len(files))
