#!/usr/bin/python3
"""A protocol 1.1 program that goes wrong on purpose inside a batch, for tests/batch_protocol_test.ts. It answers
with the numpy third party's arithmetic (tests/third_party/numpy_batchnorm.py), one line per case, and:

    --crash-at NAME    exits with code 3 instead of answering case NAME (the answers before it are written)
    --garbage-at NAME  writes a line that is not JSON instead of case NAME's answer, then goes on
    --wrong-id NAME    answers case NAME under an id that is not in the batch
    --hang-at NAME     stops answering at case NAME (sleeps)
    --reverse          answers each batch's cases last first
    --slow-ms M        sleeps M milliseconds before each answer
    --max-cases N      declares at most N cases a batch in its hello
"""
import importlib.util
import json
import os
import sys
import time

spec = importlib.util.spec_from_file_location(
    "numpy_batchnorm", os.path.join(os.path.dirname(__file__), "third_party", "numpy_batchnorm.py"))
numpy_batchnorm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(numpy_batchnorm)


def arg(flag):
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else None


def main():
    slow = float(arg("--slow-ms") or 0) / 1000
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "hello":
            out = [{"type": "hello", "protocol": "batchnorm-conformance", "version": "1.1", "name": "batch faults",
                    "supports": {"errors": True},
                    **({"batch": {"max_cases": int(arg("--max-cases"))}} if arg("--max-cases") else {})}]
        elif msg["type"] == "batch":
            if arg("--max-cases") and len(msg["cases"]) > int(arg("--max-cases")):
                sys.exit(f"a batch of {len(msg['cases'])} cases, over the declared {arg('--max-cases')}")
            cases = msg["cases"][::-1] if "--reverse" in sys.argv else msg["cases"]
            out = []
            for c in cases:
                time.sleep(slow)
                if c["name"] == arg("--crash-at"):
                    sys.stdout.flush()
                    sys.exit(3)
                if c["name"] == arg("--hang-at"):
                    sys.stdout.flush()
                    time.sleep(60)
                if c["name"] == arg("--garbage-at"):
                    sys.stdout.write("this is not json\n")
                    continue
                answer = numpy_batchnorm.answer_case(c)
                if c["name"] == arg("--wrong-id"):
                    answer["id"] = 10 ** 9
                sys.stdout.write(json.dumps(answer, allow_nan=False) + "\n")
                sys.stdout.flush()
            continue
        elif msg["type"] == "case":
            out = [numpy_batchnorm.answer_case(msg)]
        elif msg["type"] == "bye":
            break
        else:
            continue
        for o in out:
            sys.stdout.write(json.dumps(o, allow_nan=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
