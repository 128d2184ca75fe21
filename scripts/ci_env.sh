#!/usr/bin/env bash
# Aurascope CI / developer environment: a virtual display and a real (virtual) audio device.
# Debian 12, root, no GPU, no sound card. Idempotent: a second run only checks and re-prints.
#
# Leaves running in the background:
#   - Xvfb :99 (DISPLAY_NUM overrides the number), for end-to-end window tests;
#   - a PulseAudio daemon with a clocked null sink "vsink" as the default sink
#     (ALSA "default" -> PulseAudio through libasound2-plugins, so PortAudio/sounddevice's
#     "default" and "pulse" devices play into it; record "vsink.monitor" to hear what was played);
#   - one low-latency parec reader on vsink.monitor, which keeps the null sink rendering in 10 ms
#     blocks instead of 2 s ones (otherwise every new stream starts up to ~2 s late).
#
# Two ways to use it:
#   eval "$(bash scripts/ci_env.sh)"     # run it: progress goes to stderr, export lines to stdout
#   . scripts/ci_env.sh                  # source it: the set-up runs in a subshell (your shell options
#                                        # are untouched), then DISPLAY is exported in your shell
# Exports: DISPLAY=:99. Nothing else is needed: PulseAudio clients (parec, ALSA's pulse plugin) find
# the daemon through the same HOME/XDG_RUNTIME_DIR as this script, so run the tests as the same user.
#
# Run it before the test process imports sounddevice: PortAudio enumerates devices once, at init.

_aurascope_ci_env() (
  set -eu
  D=${DISPLAY_NUM:-99}
  log() { printf 'ci_env: %s\n' "$*" >&2; }

  # --- packages (only when something is missing, so a second run does no apt work) ---
  pkgs="libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libdbus-1-3
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0
    xvfb xauth xdotool
    libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins"
  missing=""
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -q --no-install-recommends $missing >/dev/null
  fi

  # --- 1. virtual X display (ready in ~0.1 s) ---
  if [ ! -S "/tmp/.X11-unix/X$D" ]; then
    log "starting Xvfb :$D"
    nohup Xvfb ":$D" -screen 0 1280x800x24 -nolisten tcp </dev/null >/tmp/xvfb.log 2>&1 &
    i=0; until [ -S "/tmp/.X11-unix/X$D" ] || [ $i -gt 100 ]; do i=$((i+1)); sleep 0.1; done
    [ -S "/tmp/.X11-unix/X$D" ] || { log "Xvfb did not start, see /tmp/xvfb.log"; exit 1; }
  fi

  # --- 2. PulseAudio (as root it only warns) with a clocked null sink ---
  if ! pactl info >/dev/null 2>&1; then
    log "starting PulseAudio"
    # the daemon must not keep our stdout open, or `eval "$(...)"` would wait for it forever
    pulseaudio --check 2>/dev/null || \
      pulseaudio -D --exit-idle-time=-1 --log-target=file:/tmp/pulse.log </dev/null >/dev/null 2>&1
    i=0; until pactl info >/dev/null 2>&1 || [ $i -gt 100 ]; do i=$((i+1)); sleep 0.1; done
    pactl info >/dev/null 2>&1 || { log "PulseAudio did not start, see /tmp/pulse.log"; exit 1; }
  fi
  if ! pactl list short sinks | grep -q "[[:space:]]vsink[[:space:]]"; then
    pactl load-module module-null-sink sink_name=vsink \
      sink_properties=device.description=VirtualSink >/dev/null
  fi
  pactl set-default-sink vsink
  pactl set-default-source vsink.monitor

  # --- 3. one low-latency reader keeps the null sink in 10 ms blocks ---
  if ! pgrep -f "parec -d vsink.monitor --latency-msec=10 --raw" >/dev/null 2>&1; then
    nohup parec -d vsink.monitor --latency-msec=10 --raw </dev/null >/dev/null 2>&1 &
  fi
  # wait until the monitor really delivers audio (the first read can take ~2 s)
  timeout 10 parec -d vsink.monitor --latency-msec=10 --raw 2>/dev/null | head -c 4096 >/dev/null || true
  log "ready: DISPLAY=:$D, audio sink vsink (record from vsink.monitor)"
)

if (return 0 2>/dev/null); then
  # sourced: set up in the subshell above, then export into the caller's shell
  _aurascope_ci_env && export DISPLAY=":${DISPLAY_NUM:-99}"
else
  _aurascope_ci_env || exit $?
  printf 'export DISPLAY=:%s\n' "${DISPLAY_NUM:-99}"
fi
