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
#   eval "$(bash scripts/ci_env.sh)"     # run it (bash or sh): progress to stderr, export lines to stdout
#   . scripts/ci_env.sh                  # source it: the set-up runs in a subshell (your shell options
#                                        # are untouched), then DISPLAY is exported in your shell
# Exports: DISPLAY=:99 and PULSE_SERVER=unix:/tmp/pulse-.../native. Without them, Qt finds no display, and
# PulseAudio clients (parec, ALSA's pulse plugin) only find the daemon with the same HOME and
# XDG_RUNTIME_DIR as this script had; PULSE_SERVER makes that independent of the caller's environment.
#
# Run it before the test process imports sounddevice: PortAudio enumerates devices once, at init.

# where apt_wait.sh is (BASH_SOURCE when sourced by bash, $0 when run; "scripts" from the root otherwise)
_aurascope_scripts=$(cd "$(dirname "${BASH_SOURCE:-$0}")" 2>/dev/null && pwd || echo scripts)

_aurascope_ci_env() (
  set -eu
  D=${DISPLAY_NUM:-99}
  unset PULSE_SERVER  # find (or start) the daemon the standard way, not through a stale export
  log() { printf 'ci_env: %s\n' "$*" >&2; }

  # --- packages (only when something is missing, so a second run does no apt work) ---
  pkgs="libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libdbus-1-3
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0
    xvfb xauth xdotool
    procps libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins"
  missing=""
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    for d in "$_aurascope_scripts" scripts; do  # wait (bounded) while another apt/dpkg holds the lock
      if [ -f "$d/apt_wait.sh" ]; then . "$d/apt_wait.sh"; aurascope_wait_for_apt; break; fi
    done
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -q --no-install-recommends $missing >/dev/null
  fi

  # --- 1. virtual X display (ready in ~0.1 s) ---
  # a socket without a live server (a killed session leaves both socket and lock behind) is stale
  if [ -S "/tmp/.X11-unix/X$D" ] && ! pgrep -f "Xvfb :$D( |\$)" >/dev/null 2>&1; then
    log "removing the stale display :$D (socket left by a server that is gone)"
    rm -f "/tmp/.X11-unix/X$D" "/tmp/.X$D-lock"
  fi
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
  # PulseAudio restores remembered volumes: pin the sink at unity so recordings compare sample for sample
  pactl set-sink-volume vsink 100%
  pactl set-sink-mute vsink 0

  # --- 3. one low-latency reader keeps the null sink in 10 ms blocks ---
  if ! pgrep -f "parec -d vsink.monitor --latency-msec=10 --raw" >/dev/null 2>&1; then
    nohup parec -d vsink.monitor --latency-msec=10 --raw </dev/null >/dev/null 2>&1 &
  fi
  # wait until the monitor really delivers audio (the first read can take ~2 s)
  timeout 10 parec -d vsink.monitor --latency-msec=10 --raw 2>/dev/null | head -c 4096 >/dev/null || true
  log "ready: DISPLAY=:$D, audio sink vsink (record from vsink.monitor)"
  server=$(pactl info 2>/dev/null | sed -n 's/^Server String: //p')
  case "$server" in
    /*) server="unix:$server" ;;
  esac
  printf '%s\n' "$server" >/tmp/aurascope-pulse-server
)

# Run or sourced? $0 is this file only when it runs as a script (works in bash and dash alike).
case "${0##*/}" in
  ci_env.sh)
    _aurascope_ci_env || exit $?
    printf 'export DISPLAY=:%s\n' "${DISPLAY_NUM:-99}"
    printf 'export PULSE_SERVER=%s\n' "$(cat /tmp/aurascope-pulse-server)"
    ;;
  *)  # sourced: set up in the subshell above, then export into the caller's shell
    if _aurascope_ci_env; then
      export DISPLAY=":${DISPLAY_NUM:-99}"
      PULSE_SERVER=$(cat /tmp/aurascope-pulse-server)
      export PULSE_SERVER
    fi
    ;;
esac
