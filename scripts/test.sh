#!/usr/bin/env bash
# One command: set up (first time) and run the whole test suite the way CI does:
# lint (ruff), architecture contracts (import-linter), then pytest with the slow tests included,
# under a virtual display (Xvfb :99) and a real audio sink (PulseAudio null sink "vsink").
#   bash scripts/test.sh [extra pytest arguments]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh test
eval "$(bash scripts/ci_env.sh)"
export PATH="$root/.venv/bin:$PATH"

echo "== ruff" >&2
ruff check .
echo "== import contracts" >&2
lint-imports
echo "== pytest" >&2
exec python -m pytest -p no:cacheprovider "$@"
