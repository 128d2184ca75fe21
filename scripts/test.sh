#!/usr/bin/env bash
# One command: set up (first time) and run the whole test suite the way CI does:
# lint and format check (ruff), architecture contracts (import-linter), then pytest with the slow tests included,
# under a PRIVATE virtual display (Xvfb on a free number) and a PRIVATE PulseAudio with a null sink "vsink"
# (scripts/private_env.sh), both stopped and removed on exit: a PulseAudio or X server you run, its default
# output and its volumes are never touched, and nothing you play can leak into the real-audio tests.
#   bash scripts/test.sh [extra pytest arguments]
# AURASCOPE_VENV=/path/to/venv uses that virtual environment as it is (no pip step) instead of ./.venv.
# (For a shell of your own with a display and the shared sink, `eval "$(bash scripts/ci_env.sh)"` still works.)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -n "${AURASCOPE_VENV:-}" ]; then
  bash scripts/system_packages.sh test
  venv=$AURASCOPE_VENV
else
  bash scripts/setup.sh test
  venv="$root/.venv"
fi
export PATH="$venv/bin:$PATH"

. scripts/private_env.sh
trap aurascope_private_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
aurascope_private_start

echo "== ruff" >&2
ruff check .
ruff format --check .
echo "== import contracts" >&2
lint-imports
echo "== pytest" >&2
python -m pytest -p no:cacheprovider "$@"  # not exec: the trap must still tear the private servers down
