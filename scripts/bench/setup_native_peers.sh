#!/usr/bin/env bash
# Installs the native peers of `deno task bench` into .venv-bench from scripts/bench/requirements.txt
# (pinned). Optional: without it the bench says the peer is missing and still runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
"$python" -m venv .venv-bench
.venv-bench/bin/pip install --quiet --disable-pip-version-check -r scripts/bench/requirements.txt
.venv-bench/bin/python -c "import onnxruntime, numpy; print('onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__)"
