"""The subprocess protocol's Python side, shared by the Python peers (fixtures/PROTOCOL.md).

Standard library only, so every interpreter a peer runs under (Debian's /usr/bin/python3, each .envs/NAME/bin/python)
imports it: numbers as the protocol writes them (the three non-finite values are strings), and the message loop.
"""

import json
import math
import sys

SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def num(v):
    """A float as the protocol writes it: NaN and the infinities as strings."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def values(t):
    """A protocol tensor's data as floats."""
    return [SPECIAL.get(v, v) if isinstance(v, str) else v for v in t["data"]]


def serve(hello, step):
    """Answers messages on stdin until `bye` or end of input: `hello()` gives the hello reply; a case's steps are
    answered by `step(dtype, config, step_message)`, one at a time, in order."""
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "hello":
            reply = hello()
        elif msg["type"] == "case":
            reply = {"type": "result", "id": msg["id"], "steps": [step(msg["dtype"], msg["config"], s) for s in msg["steps"]]}
        elif msg["type"] == "bye":
            return
        else:
            print(f"unknown message type {msg['type']!r}", file=sys.stderr)
            continue
        sys.stdout.write(json.dumps(reply, allow_nan=False) + "\n")
        sys.stdout.flush()
