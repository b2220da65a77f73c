#!/usr/bin/env bash
# Installs what envforge needs to build, test and benchmark, and nothing else.
# Idempotent: only missing Debian packages are installed (apt-get) and only missing
# Python packages (pip). Prints what it installed. Never downloads anything else.
#
#   scripts/setup.sh           build + test (what `make test` and `make demo` need)
#   scripts/setup.sh --bench   also the peers the benchmarks compare against
#   scripts/setup.sh --dev     also what regenerates test fixtures (PyTorch, transformers)
set -euo pipefail
MODE=${1:-}

DEB_PKGS=(
  build-essential cmake pkg-config git
  libseccomp-dev libsqlite3-dev sqlite3 libgit2-dev libcurl4-openssl-dev libssl-dev
  libcjson-dev liblua5.4-dev lua5.4 libpcre2-dev
  python3 python3-pip python3-numpy python3-sympy python3-pytest bubblewrap uidmap iproute2
  chromium
)
PIP_PKGS=(
  "numpy" "pyarrow" "datasets" "transformers" "jinja2" "openai"
)
if [ "$MODE" = "--bench" ] || [ "$MODE" = "--dev" ]; then
  DEB_PKGS+=(firejail hyperfine)
  PIP_PKGS+=("reasoning_gym")
fi
if [ "$MODE" = "--dev" ]; then
  DEB_PKGS+=(clang)
  PIP_PKGS+=("tokenizers" "torch" "transformers" "safetensors")
fi

missing=()
for p in "${DEB_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "setup: Debian packages present" >&2
fi

PY=${PYTHON:-python3}
pip_missing=()
for spec in "${PIP_PKGS[@]}"; do
  mod=${spec%%[<>=]*}
  mod=${mod//-/_}
  # from / : run in the checkout, `import datasets` would find our own datasets/ folder
  if ! (cd / && "$PY" -c "import $mod") >/dev/null 2>&1; then pip_missing+=("$spec"); fi
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "setup: installing Python packages: ${pip_missing[*]}" >&2
  "$PY" -m pip install -q --disable-pip-version-check "${pip_missing[@]}" >&2 ||
    "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}" >&2
else
  echo "setup: Python packages present" >&2
fi
echo "setup: done" >&2
