#!/usr/bin/env bash
# Installs the Python witnesses (requirements.txt: TensorFlow 2.21, tf-keras, Keras 3, JAX/Flax) into .venv/.
# One command for developers and CI: `bash scripts/cli/setup_venv.sh` (also `deno task venv`). The installer is the one
# of envs/ (scripts/cli/setup_env.sh): every wheel pinned with its SHA-256, installed without dependency resolution,
# idempotent (.venv/requirements.sha256), built in .venv.tmp/ and renamed.
set -euo pipefail
exec bash "$(dirname "$0")/setup_env.sh" --into .venv requirements.txt
