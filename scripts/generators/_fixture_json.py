"""The fixture file writer of the Python generators (gen_pytorch.py and the .venv/ witnesses), without torch.

Same layout byte for byte: objects indented by two spaces, numeric arrays on one line, every number as the shortest
decimal that reads back to it (Python repr), the non-finite values as the strings "NaN", "Infinity", "-Infinity",
files written to a temporary name and renamed.
"""

import json
import os
import re


def num(v):
    if v != v:
        return '"NaN"'
    if v == float("inf"):
        return '"Infinity"'
    if v == float("-inf"):
        return '"-Infinity"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def dump(value, indent=0):
    """JSON with objects indented and numeric arrays on one line."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return "[" + ", ".join(num(v) for v in value) + "]"
        if not value:
            return "[]"
        return "[\n" + ",\n".join(pad + dump(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return num(value)
    return json.dumps(value)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def document(provenance, cases):
    return dump({"format": "batchnorm-conformance-fixture", "format_version": "1.1", "provenance": provenance, "cases": cases}) + "\n"


_MISMATCHED = []  # (path, fresh text) of every file --check found different


def emit(path, text):
    """Writes `text` to `path` atomically, or with --check on the command line compares it with the file there."""
    import sys

    if "--check" not in sys.argv:
        write_atomic(path, text)
        return
    # `deno task fixtures` annotates every file with exact values after the generators (format 1.2): do the same to
    # the fresh text before comparing, with the same oracle and the same Python (Debian's, for its mpmath).
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        fresh = os.path.join(d, os.path.basename(path))
        with open(fresh, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        oracle = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exact_oracle.py")
        subprocess.run(["/usr/bin/python3", oracle, fresh], check=True, stdout=subprocess.DEVNULL)
        with open(fresh, encoding="utf-8", newline="\n") as f:
            text = f.read()
    try:
        with open(path, encoding="utf-8", newline="\n") as f:
            same = f.read() == text
    except FileNotFoundError:
        same = False
    if not same:
        _MISMATCHED.append((path, text))


# The CPU the witnesses' fixtures were recorded on, and the files whose bytes depend on it (docs/fixtures.md).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORDING_CPU = os.path.join(ROOT, "scripts", "generators", "recording_cpu.json")


def cpu_class():
    """This machine's CPU as the fixtures depend on it: the vendor (its approximate reciprocal square root), AVX-512F
    (XLA's vector width, rsqrt14ps) and AMX-BF16 (OpenVINO's default precision hint in the Conv -> BN graph cases)."""
    vendor, flags = "unknown", None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and vendor == "unknown":
                    vendor = value.strip()
                elif key == "flags" and flags is None:
                    flags = set(value.split())
    except OSError:
        pass
    return {"vendor_id": vendor, "avx512f": "avx512f" in (flags or ()), "amx_bf16": "amx_bf16" in (flags or ())}


def describe_cpu(cpu):
    return (f"{cpu['vendor_id']} {'with' if cpu['avx512f'] else 'without'} AVX-512, "
            f"{'with' if cpu['amx_bf16'] else 'without'} AMX-BF16")


def recording_cpu():
    with open(RECORDING_CPU, encoding="utf-8") as f:
        return json.load(f)


# What another CPU may change in a record (docs/fixtures.md "On another CPU"): the outputs the frameworks recorded and
# the values composed from them (a multi-step case's exact values start from the state the framework recorded), never
# a case, an input, a configuration, a dtype or a shape.
_OUTPUT_RECORDS = ("expected", "expected_float64", "expected_exact")
# A graph engine whose precision the CPU picks: OpenVINO's default hint resolves to bf16 on CPUs with AMX-BF16, and
# then the engine's name, precision, verdict and cause follow (scripts/generators/gen_conv_bn.py).
_HINT_RUN = "its default INFERENCE_PRECISION_HINT"
_HINT_KEYS = ("engine", "precision", "verdict", "cause")


def _is_finite(v):
    # JSON numbers are finite: NaN and the infinities are the strings of num(); one of those never moves.
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _walk(old, new, path, may_differ, out):
    """Counts in out[0] the leaves that differ where `may_differ(path)` allows (finite numbers on both sides, or an
    index's SHA-256), and appends to out[1] every other difference, by path."""
    if isinstance(old, dict) and isinstance(new, dict):
        if list(old) != list(new):
            out[1].append(f"{path or '.'}: keys {sorted(set(old) ^ set(new))} differ")
            return
        for k in old:
            _walk(old[k], new[k], path + "." + k, may_differ, out)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out[1].append(f"{path}: {len(old)} items, now {len(new)}")
            return
        for i, (a, b) in enumerate(zip(old, new)):
            _walk(a, b, f"{path}[{i}]", may_differ, out)
    elif old != new or type(old) is not type(new):
        if may_differ(path) and (_is_finite(old) and _is_finite(new) or
                                 isinstance(old, str) and isinstance(new, str) and path.endswith(".sha256")):
            out[0] += 1
        else:
            out[1].append(f"{path}: {json.dumps(old)[:60]}, now {json.dumps(new)[:60]}")


def cpu_differences(rel, old, new, changed=()):
    """How a CPU-dependent file regenerated on another CPU differs from its record.

    Returns (values, problems): how many recorded values differ where a CPU may move them, and every other difference
    (an empty list when the file differs only in its recorded outputs). `changed`: the files that differ, whose
    SHA-256 fixtures/index.json may change with them.
    """
    out = [0, []]
    if rel == "fixtures/findings.json":
        # The same findings over the same case outputs; only their distances (ulps, share) and their order may follow.
        def ordered(doc):
            doc = json.loads(json.dumps(doc))
            for f in doc.get("findings", []):
                for c in f.get("cases", []):
                    c["outputs"] = sorted(c.get("outputs", []), key=lambda o: json.dumps(
                        {k: v for k, v in o.items() if k not in ("ulps", "share")}))
            return doc

        distance = re.compile(r"\.findings\[\d+\]\.cases\[\d+\]\.outputs\[\d+\]\.(ulps|share)")
        _walk(ordered(old), ordered(new), "", lambda p: bool(distance.fullmatch(p)), out)
        return out[0], out[1]
    if rel == "fixtures/index.json":
        moved = {os.path.relpath(p, "fixtures") for p in changed}
        sha = re.compile(r"\.(files|graphs)\[(\d+)\]\.sha256")

        def may(p):
            m = sha.fullmatch(p)
            return bool(m) and old[m[1]][int(m[2])].get("path") in moved

        _walk(old, new, "", may, out)
        return out[0], out[1]
    if old.get("format") == "batchnorm-conformance-graph":
        # Every run may move in its output and its distance; the hint's run also in what follows its precision.
        old, new = json.loads(json.dumps(old)), json.loads(json.dumps(new))
        for c0, c1 in zip(old.get("cases", []), new.get("cases", [])):
            for r0, r1 in zip(c0.get("runs", []), c1.get("runs", [])):
                if r0.get("how") == r1.get("how") and str(r0.get("how")).endswith(_HINT_RUN):
                    out[0] += sum([r0.pop(k, None) != r1.pop(k, None) for k in _HINT_KEYS])
        run = re.compile(r"\.cases\[\d+\]\.runs\[\d+\](\.y\.data\[\d+\]|\.max_error_ulp)")
        _walk(old, new, "", lambda p: bool(run.fullmatch(p)), out)
        return out[0], out[1]
    record = re.compile(r"\.cases\[\d+\]\.steps\[\d+\]\.(" + "|".join(_OUTPUT_RECORDS) + r")\.\w+\.data\[\d+\]"
                        r"|\.cases\[\d+\]\.steps\[\d+\]\.exact_scale\.\w+(\[\d+\])?")
    _walk(old, new, "", lambda p: bool(record.fullmatch(p)), out)
    return out[0], out[1]


def _judge_moved(files, changed=()):
    """The CPU rule over files that differ from their record: `files` holds (rel, read_old, read_new), the readers
    returning parsed JSON (read_new None: the file is gone). Returns (failing, moved, why): a line per file that breaks
    the rule, a line per listed file that moved only where a CPU may move it, and the two CPU classes in words."""
    recorded, here = recording_cpu(), cpu_class()
    foreign = here != recorded["recorded_on"]
    why = f"recorded on {describe_cpu(recorded['recorded_on'])}, this CPU is {describe_cpu(here)}; docs/fixtures.md"
    failing, moved = [], []
    for rel, read_old, read_new in files:
        if not foreign:
            failing.append(f"{rel} (this is the recording CPU class: every file must be identical)")
        elif rel not in recorded["cpu_dependent"]:
            failing.append(f"{rel} (not listed as CPU-dependent)")
        elif read_new is None:
            failing.append(f"{rel} (removed)")
        else:
            values, problems = cpu_differences(rel, read_old(), read_new(), changed)
            if problems:
                failing.append(f"{rel} (CPU-dependent, but differs beyond what a CPU may move: {'; '.join(problems[:3])})")
            else:
                moved.append(f"{rel} ({values} values; CPU-dependent)")
    return failing, moved, why


def _report(failing, moved, why, differs, identical):
    """Prints the verdict of _judge_moved and exits 1 when a file breaks the rule."""
    import sys

    for line in moved:
        print(f"regenerated, differs only where a CPU may move it: {line}", file=sys.stderr)
    for line in failing:
        print(f"{differs}: {line}", file=sys.stderr)
    if failing:
        sys.exit(1)
    print(identical + (f", except {len(moved)} CPU-dependent file(s) that differ only where a CPU may move them "
                       f"({why})" if moved else ""))


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def finish():
    """With --check: exit 1 naming every file whose regenerated bytes differ from the file on disk.

    On a CPU unlike the recording one (recording_cpu.json), a file listed there as CPU-dependent may differ in its
    recorded outputs alone (cpu_differences): it is named, with how many values moved, and not counted. Any other
    difference, in any file, fails; on the recording CPU every file must be identical.
    """
    import sys

    if "--check" not in sys.argv:
        return
    files = [(os.path.relpath(os.path.abspath(p), ROOT), lambda p=p: _read_json(p), lambda t=fresh: json.loads(t))
             for p, fresh in _MISMATCHED]
    _report(*_judge_moved(files), "differs from a fresh run", "--check: every file identical to a fresh run")


def cpu_diff():
    """`--cpu-diff`, after `deno task fixtures` in a git checkout: the same rule over every file under fixtures/ that
    differs from git's HEAD (or is new there). Exit 1 when one breaks it."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=all", "--", "fixtures").splitlines()]
    files = [(rel, lambda rel=rel: json.loads(git("show", f"HEAD:{rel}")),
              (lambda rel=rel: _read_json(os.path.join(ROOT, rel))) if os.path.isfile(os.path.join(ROOT, rel)) else None)
             for rel in changed]
    _report(*_judge_moved(files, changed), "differs after regeneration", "fixtures identical after regeneration")


if __name__ == "__main__":
    # `python _fixture_json.py --cpu`: this CPU and the recording one, as JSON (tests/witnesses_test.ts).
    import sys

    if sys.argv[1:] == ["--cpu-diff"]:
        cpu_diff()
    elif sys.argv[1:] == ["--cpu"]:
        r, here = recording_cpu(), cpu_class()
        print(json.dumps({"here": describe_cpu(here), "recorded_on": describe_cpu(r["recorded_on"]),
                          "same": here == r["recorded_on"], "cpu_dependent": r["cpu_dependent"]}))
    else:
        sys.exit("usage: python scripts/generators/_fixture_json.py --cpu | --cpu-diff")
