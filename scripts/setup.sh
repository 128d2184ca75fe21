#!/usr/bin/env bash
# Sets up Aurascope in ./.venv: Debian packages (as root), a virtual environment, the package itself.
#   bash scripts/setup.sh [app|test]
# A second run is quick: pip only runs again when pyproject.toml changed.
set -eu
profile=${1:-app}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/system_packages.sh "$profile"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Aurascope needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating the virtual environment .venv" >&2
  "$python" -m venv .venv
fi

extras=$([ "$profile" = test ] && echo "[test,train,ray]" || echo "")
stamp=".venv/.aurascope-$profile-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing Python packages (torch==2.13.0 CPU and the rest) into .venv" >&2
  pip() { .venv/bin/python -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location" >&2 || true; }
  pip --upgrade pip
  # torch first and pinned, so nothing below can pull a different build
  pip "torch==2.13.0"
  pip -e ".$extras"
  .venv/bin/python -c "import torch, app" || { echo "the Python install failed" >&2; exit 1; }
  touch "$stamp"
fi
# the tests rebuild models/musicnn-mtt-vgg.safetensors from its registry package (a wheel, never installed)
if [ "$profile" = test ] && [ ! -f .cache/registry/musicnn-0.1.0-py3-none-any.whl ]; then
  echo "fetching musicnn==0.1.0 into .cache/registry (pip download --no-deps; the bundled model's source)" >&2
  .venv/bin/python -m pip download -q --no-deps musicnn==0.1.0 -d .cache/registry >&2 \
    || echo "could not fetch musicnn==0.1.0 from PyPI: the tests that need it will fail under CI=true" >&2
fi
