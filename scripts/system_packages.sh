#!/usr/bin/env bash
# Installs the Debian packages Aurascope needs (as root; apt only runs when something is missing).
#   bash scripts/system_packages.sh app    # to run the window and the CLI
#   bash scripts/system_packages.sh test   # + what the test suite needs (virtual display, audio sink,
#                                          #   FluidSynth and soundfonts, Festival, desktop-file-utils,
#                                          #   ImageMagick for the end-to-end screenshot)
set -eu
profile=${1:-app}

app="python3 python3-venv python3-dev libsndfile1 libportaudio2 pulseaudio-utils libasound2-plugins
  libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libdbus-1-3 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0"
test="xvfb xauth xdotool pulseaudio fluidsynth fluid-soundfont-gm musescore-general-soundfont-small
  sonic-pi-samples fretsonfire-songs-muldjord
  festival festvox-kallpc16k desktop-file-utils sox imagemagick chromium"

case "$profile" in
  app) pkgs="$app" ;;
  test) pkgs="$app $test" ;;
  *) echo "usage: $0 app|test" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  # only this step needs root: the app, its .venv and its settings stay the user's
  if command -v sudo >/dev/null 2>&1; then
    echo "Aurascope needs these Debian packages:$missing (asking sudo to install them)" >&2
    exec sudo bash "$0" "$profile"
  fi
  echo "Aurascope needs these Debian packages:$missing" >&2
  echo "Install them as root (bash $0 $profile) and run this again." >&2
  exit 1
fi
echo "installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
. "$(dirname "$0")/apt_wait.sh"
aurascope_wait_for_apt
apt-get update -q >/dev/null
# shellcheck disable=SC2086  # the list is meant to split into words
apt-get install -y -q --no-install-recommends $missing >/dev/null
