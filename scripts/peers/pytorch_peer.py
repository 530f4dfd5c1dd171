#!/usr/bin/env python3
"""PyTorch behind the subprocess protocol (fixtures/PROTOCOL.md), version 1.0.

    deno task conform --exec "/usr/bin/python3 scripts/peers/pytorch_peer.py"

Each step runs torch.nn.BatchNorm{1,2,3}d on CPU with the step's state, in the case's
dtype; gradients by autograd; saved statistics by torch.native_batch_norm. Logs go to
stderr; stdout carries protocol lines only.
"""

import torch
from _protocol import num, serve, values

torch.set_num_threads(1)
DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}
MODULES = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}


def tensor(t, dtype):
    return torch.tensor(values(t), dtype=torch.float64).reshape(t["shape"]).to(dtype)


def encode(t, dtype_name):
    return {"dtype": dtype_name, "shape": list(t.shape), "data": [num(v) for v in t.detach().to(torch.float64).flatten().tolist()]}


def step(dtype_name, config, s):
    dtype = DTYPES[dtype_name]
    x = tensor(s["x"], dtype)
    state = s["state"]
    cfg = config or {}
    eps = cfg.get("epsilon", 1e-5)
    momentum = cfg.get("momentum", 0.1) if cfg.get("momentum_kind", "new") != "cumulative" else None
    affine = cfg.get("affine", True)
    track = cfg.get("track_running_stats", True)
    m = MODULES[x.dim()](x.shape[1], eps=eps, momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
    with torch.no_grad():
        if affine:
            m.weight.copy_(tensor(state["gamma"], dtype))
            m.bias.copy_(tensor(state["beta"], dtype))
        if track:
            m.running_mean.copy_(tensor(state["running_mean"], dtype))
            m.running_var.copy_(tensor(state["running_var"], dtype))
            m.num_batches_tracked.fill_(state.get("num_batches_tracked", 0))
    m.train(s["mode"] == "train")
    before = (None if not track else m.running_mean.clone(), None if not track else m.running_var.clone())
    xx = x.clone().requires_grad_(True)
    try:
        y = m(xx)
    except ValueError as e:
        return {"error": {"code": "single_value_per_channel", "message": str(e)}}
    out = {"y": encode(y, dtype_name)}
    if s["mode"] == "train" and x.numel() > 0:
        w = None if not affine else m.weight.detach()
        b = None if not affine else m.bias.detach()
        _, save_mean, save_invstd = torch.native_batch_norm(x, w, b, None if not track else before[0].clone(), None if not track else before[1].clone(), True, 0.0, eps)
        out["batch_mean"] = encode(save_mean, dtype_name)
        out["batch_var"] = encode(torch.var(x, dim=[0] + list(range(2, x.dim())), unbiased=False), dtype_name)
        out["saved_invstd"] = encode(save_invstd, dtype_name)
    answer = {"outputs": out}
    if s["mode"] == "train" and track:
        out["running_mean"] = encode(m.running_mean, dtype_name)
        out["running_var"] = encode(m.running_var, dtype_name)
        answer["num_batches_tracked"] = int(m.num_batches_tracked.item())
    # On an empty batch too: autograd gives an empty dx and zero dgamma, dbeta (empty sums), as PyTorch recorded.
    # (Only torch.native_batch_norm above needs x.numel() > 0: it dies with SIGFPE on an empty input.)
    if s.get("dy") is not None:
        y.backward(tensor(s["dy"], dtype))
        out["dx"] = encode(xx.grad, dtype_name)
        if affine:
            out["dgamma"] = encode(m.weight.grad, dtype_name)
            out["dbeta"] = encode(m.bias.grad, dtype_name)
    return answer


def main():
    def hello():
        return {
            "type": "hello", "protocol": "batchnorm-conformance", "version": "1.0", "name": f"PyTorch {torch.__version__} (subprocess)",
            "supports": {
                "dtypes": ["float64", "float32", "bfloat16"], "layouts": ["channels-first"], "backward": True, "errors": True,
                "conventions": {
                    "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["new", "cumulative"],
                    "running_variance": ["bessel"], "single_value_training": ["error"], "zero_variance_invstd": ["zero"],
                    "empty_batch": ["unchanged"],
                },
            },
        }

    serve(hello, step)


if __name__ == "__main__":
    main()
