#!/usr/bin/env bash
# Installs the Python witnesses (requirements.txt: TensorFlow 2.21, tf-keras, Keras 3, JAX/Flax) into .venv/.
# One command for developers and CI: `bash scripts/cli/setup_venv.sh` (also `deno task venv`).
# Every wheel is pinned with its SHA-256 and installed without dependency resolution, so the environment is exactly
# the file. Idempotent: .venv/requirements.sha256 records the file it was built from; a matching one skips the install.
# Built in .venv.tmp/ and renamed, so an interrupted install leaves no half-built .venv/ behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat .venv/requirements.sha256 2>/dev/null)" = "$want" ]; then
  echo ".venv/ is up to date with requirements.txt ($want)"
  exit 0
fi

# The wheels are for CPython 3.11: take python3.11, or a python3 that is 3.11.
PY=""
for candidate in "${PYTHON:-}" python3.11 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
    PY=$candidate
    break
  fi
done
[ -n "$PY" ] || { echo "setup_venv: no CPython 3.11 found (python3.11 or python3); requirements.txt pins cp311 wheels" >&2; exit 1; }

rm -rf .venv.tmp
trap 'rm -rf .venv.tmp' EXIT
start=$(date +%s)
"$PY" -m venv .venv.tmp
.venv.tmp/bin/python -m pip install --quiet --no-deps --require-hashes --only-binary=:all: -r requirements.txt
.venv.tmp/bin/python -c 'import tensorflow, tf_keras, keras, jax, flax, mpmath' 2>/dev/null ||
  { echo "setup_venv: the installed packages do not import" >&2; exit 1; }
echo "$want" >.venv.tmp/requirements.sha256
rm -rf .venv
mv .venv.tmp .venv
trap - EXIT
echo "installed .venv/ ($(du -sh .venv | cut -f1)) in $(($(date +%s) - start)) s with $("$PY" --version)"
