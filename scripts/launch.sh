#!/usr/bin/env bash
# One command: set up (first time) and launch Aurascope on the bundled model and the real band demo clip.
#   bash scripts/launch.sh [audio file] [model file]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh" app
exec "$root/.venv/bin/python" "$root/main.py" "$@"
