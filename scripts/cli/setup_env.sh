#!/usr/bin/env bash
# Installs pinned Python environments: envs/NAME.txt (wheels pinned with SHA-256) into .envs/NAME/.
# Usage: bash scripts/cli/setup_env.sh NAME...   (deno task envs NAME...; no NAME: every envs/*.txt)
#        bash scripts/cli/setup_env.sh --into DIR FILE   (one requirements file into DIR; deno task venv uses it)
# The first line of a requirements file that starts with "# import:" lists the modules that must import afterwards;
# a line "# import-env: NAME=VALUE ..." sets environment variables for that check (KERAS_BACKEND=torch: Keras 3 imports
# its default backend, TensorFlow, unless told otherwise).
# Every wheel is installed without dependency resolution (--no-deps --require-hashes --only-binary=:all:), so the
# environment is exactly the file. Idempotent: DIR/requirements.sha256 records the file it was built from.
# Built in DIR.tmp/ and renamed, so an interrupted install leaves no half-built environment behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

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
[ -n "$PY" ] || { echo "setup_env: no CPython 3.11 found (python3.11 or python3); the pinned files take cp311 wheels" >&2; exit 1; }

# Requirements per pip run (see install).
PIP_BATCH=6

# pip_install DIR FILE: the wheels of FILE into the environment DIR, as pinned (no dependency resolution).
pip_install() {
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$2"
}

# install FILE DIR: the environment of FILE in DIR, unless DIR was built from this very FILE.
install() {
  local file=$1 dir=$2 want imports import_env start
  want=$(sha256sum "$file" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/requirements.sha256" 2>/dev/null)" = "$want" ]; then
    echo "$dir/ is up to date with $file"
    return
  fi
  imports=$(sed -n 's/^# import:[[:space:]]*//p' "$file" | head -n1)
  import_env=$(sed -n 's/^# import-env:[[:space:]]*//p' "$file" | head -n1)
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir.tmp"
  trap 'rm -rf "'"$dir"'.tmp"' EXIT
  start=$(date +%s)
  "$PY" -m venv "$dir.tmp"
  # A few requirements per pip run: pip keeps every wheel it downloaded until its run ends, so one run over torch2.txt
  # would hold all 41 wheels beside the 5.5 GB they unpack to. Continuation lines are joined first.
  local batch=$dir.tmp/requirements.batch n=0
  : >"$batch"
  while IFS= read -r requirement; do
    echo "$requirement" >>"$batch"
    n=$((n + 1))
    if [ "$n" -eq "$PIP_BATCH" ]; then
      pip_install "$dir.tmp" "$batch"
      : >"$batch"
      n=0
    fi
  done < <(awk '{ sub(/\r$/, "") } /\\$/ { sub(/\\$/, ""); held = held $0; next } { line = held $0; held = "" }
                line !~ /^[[:space:]]*(#|$)/ { print line }' "$file")
  [ "$n" -eq 0 ] || pip_install "$dir.tmp" "$batch"
  rm -f "$batch"
  if [ -n "$imports" ]; then
    # shellcheck disable=SC2086 # import_env: NAME=VALUE words, split on purpose
    env $import_env "$dir.tmp/bin/python" -c "import $(echo "$imports" | tr ' ' ',')" ||
      { echo "setup_env: $file: the installed packages do not import ($imports)" >&2; exit 1; }
  fi
  echo "$want" >"$dir.tmp/requirements.sha256"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  trap - EXIT
  echo "installed $dir/ ($(du -sh "$dir" | cut -f1)) from $file in $(($(date +%s) - start)) s with $("$PY" --version)"
}

if [ "${1:-}" = "--into" ]; then
  [ $# -eq 3 ] && [ -f "$3" ] || { echo "usage: setup_env.sh --into DIR FILE (FILE: a pinned requirements file)" >&2; exit 2; }
  install "$3" "$2"
  exit 0
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in envs/*.txt; do names+=("$(basename "$f" .txt)"); done
fi
for name in "${names[@]}"; do
  [ -f "envs/$name.txt" ] ||
    { echo "setup_env: no envs/$name.txt (environments: $(ls envs/*.txt | xargs -n1 basename | sed 's/\.txt$//' | tr '\n' ' '))" >&2; exit 1; }
  install "envs/$name.txt" ".envs/$name"
done
