#!/usr/bin/env bash
# Installs one pinned Python environment: envs/NAME.txt (wheels pinned with SHA-256) into .envs/NAME/.
# Usage: bash scripts/cli/setup_env.sh NAME...   (deno task envs NAME...; no NAME: every envs/*.txt)
# The first line of envs/NAME.txt that starts with "# import:" lists the modules that must import afterwards.
# Every wheel is installed without dependency resolution (--no-deps --require-hashes --only-binary=:all:), so the
# environment is exactly the file. Idempotent: .envs/NAME/requirements.sha256 records the file it was built from.
# Built in .envs/NAME.tmp/ and renamed, so an interrupted install leaves no half-built environment behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in envs/*.txt; do names+=("$(basename "$f" .txt)"); done
fi

PY=""
for candidate in "${PYTHON:-}" python3.11 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
    PY=$candidate
    break
  fi
done
[ -n "$PY" ] || { echo "setup_env: no CPython 3.11 found (python3.11 or python3); envs/*.txt pin cp311 wheels" >&2; exit 1; }

for name in "${names[@]}"; do
  file="envs/$name.txt"
  [ -f "$file" ] || { echo "setup_env: no $file (environments: $(ls envs/*.txt | xargs -n1 basename | sed 's/\.txt$//' | tr '\n' ' '))" >&2; exit 1; }
  dir=".envs/$name"
  want=$(sha256sum "$file" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/requirements.sha256" 2>/dev/null)" = "$want" ]; then
    echo "$dir/ is up to date with $file"
    continue
  fi
  imports=$(sed -n 's/^# import:[[:space:]]*//p' "$file" | head -n1)
  mkdir -p .envs
  rm -rf "$dir.tmp"
  trap 'rm -rf "$dir.tmp"' EXIT
  start=$(date +%s)
  "$PY" -m venv "$dir.tmp"
  "$dir.tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$file"
  if [ -n "$imports" ]; then
    "$dir.tmp/bin/python" -c "import $(echo "$imports" | tr ' ' ',')" ||
      { echo "setup_env: $name: the installed packages do not import ($imports)" >&2; exit 1; }
  fi
  echo "$want" >"$dir.tmp/requirements.sha256"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  trap - EXIT
  echo "installed $dir/ ($(du -sh "$dir" | cut -f1)) from $file in $(($(date +%s) - start)) s"
done
