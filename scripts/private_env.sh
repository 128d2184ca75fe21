#!/usr/bin/env bash
# A PRIVATE display and audio device for the tests, torn down afterwards: the test command is a guest on the
# user's machine. Nothing here touches a PulseAudio or X server the user runs, nor their defaults or volumes.
#
#   bash scripts/private_env.sh -- COMMAND [ARGS...]   # set up, run COMMAND in it, tear down; COMMAND's status
#   . scripts/private_env.sh                            # (bash) defines the functions below, starts nothing:
#       aurascope_private_start    set up and export the variables (call once)
#       aurascope_private_stop     stop everything it started and remove its folder (idempotent; use in a trap)
#
# What it starts, all in one `mktemp -d` folder (AURASCOPE_PRIVATE_DIR):
#   - a PulseAudio daemon of its own (-n: no default.pa, so nothing restores volumes or defaults) listening only
#     on its own socket, with the clocked null sink "vsink" as its only (so default) sink, monitored by one
#     low-latency parec reader (keeps the sink rendering in 10 ms blocks; see ci_env.sh);
#   - Xvfb on a display number the X server picks as free (-displayfd).
# What it exports: DISPLAY, PULSE_SERVER (unix:<folder>/pulse/native), XDG_RUNTIME_DIR and PULSE_RUNTIME_PATH
# (inside the folder, so no client can find the user's daemon the standard way), PULSE_STATE_PATH,
# PULSE_COOKIE and PULSE_CLIENTCONFIG (autospawn off: a client that cannot reach the private daemon fails
# rather than starting one of the user's). PortAudio/sounddevice reach it through ALSA's pulse plugin, which
# reads PULSE_SERVER; pactl and parec read it too. Set up before the test process imports sounddevice.

aurascope_private_stop() {
  local pid
  for pid in ${_aurascope_private_pids:-}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${_aurascope_private_pids:-}; do
    # wait up to 5 s for each, then make sure
    local i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
  done
  _aurascope_private_pids=""
  if [ -n "${AURASCOPE_PRIVATE_DIR:-}" ] && [ -d "$AURASCOPE_PRIVATE_DIR" ]; then
    rm -rf "$AURASCOPE_PRIVATE_DIR"
  fi
}

aurascope_private_start() {
  local dir i
  dir=$(mktemp -d "${TMPDIR:-/tmp}/aurascope-test.XXXXXX") || return 1
  AURASCOPE_PRIVATE_DIR=$dir
  export AURASCOPE_PRIVATE_DIR
  _aurascope_private_pids=""
  mkdir -m 700 "$dir/xdg" "$dir/pulse" "$dir/state" "$dir/home"
  _aurascope_log() { printf 'private_env: %s\n' "$*" >&2; }

  # --- X display: the server picks a free number and writes it to fd 3 ---
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$dir/display" </dev/null >"$dir/xvfb.log" 2>&1 &
  _aurascope_private_pids="$_aurascope_private_pids $!"
  i=0
  until [ -s "$dir/display" ] || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if [ ! -s "$dir/display" ]; then
    _aurascope_log "Xvfb did not start:"; cat "$dir/xvfb.log" >&2; return 1
  fi
  DISPLAY=":$(tr -d '[:space:]' <"$dir/display")"
  export DISPLAY

  # --- PulseAudio: everything it reads or writes is in the folder ---
  export XDG_RUNTIME_DIR="$dir/xdg" PULSE_RUNTIME_PATH="$dir/pulse" PULSE_STATE_PATH="$dir/state"
  export PULSE_COOKIE="$dir/cookie" PULSE_SERVER="unix:$dir/pulse/native"
  printf 'autospawn = no\n' >"$dir/client.conf"
  export PULSE_CLIENTCONFIG="$dir/client.conf"
  # HOME only for the daemon: its config folder and cookie would otherwise go to the user's ~/.config/pulse
  HOME="$dir/home" pulseaudio --daemonize=no --system=no -n --exit-idle-time=-1 --disallow-exit \
    --log-target="file:$dir/pulse.log" \
    -L "module-native-protocol-unix socket=$dir/pulse/native auth-anonymous=1" \
    -L "module-null-sink sink_name=vsink rate=44100 sink_properties=device.description=VirtualSink" \
    </dev/null >/dev/null 2>&1 &
  _aurascope_private_pids="$_aurascope_private_pids $!"
  i=0
  until pactl info >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if ! pactl info >/dev/null 2>&1; then
    _aurascope_log "PulseAudio did not start:"; tail -20 "$dir/pulse.log" >&2; return 1
  fi
  pactl set-default-sink vsink  # inside the private daemon only (its only sink anyway)
  pactl set-default-source vsink.monitor

  # --- one low-latency reader keeps the null sink in 10 ms blocks; wait until the monitor delivers ---
  parec -d vsink.monitor --latency-msec=10 --raw </dev/null >/dev/null 2>&1 &
  _aurascope_private_pids="$_aurascope_private_pids $!"
  timeout 10 parec -d vsink.monitor --latency-msec=10 --raw 2>/dev/null | head -c 4096 >/dev/null || true
  _aurascope_log "ready: DISPLAY=$DISPLAY, PULSE_SERVER=$PULSE_SERVER (sink vsink), folder $dir"
}

# Run as a script (not sourced): set up, run the command, tear down on every exit.
if [ "${BASH_SOURCE[0]:-$0}" = "$0" ]; then
  set -u
  if [ "${1:-}" != "--" ] || [ $# -lt 2 ]; then
    echo "usage: bash $0 -- COMMAND [ARGS...]" >&2
    exit 2
  fi
  shift
  trap aurascope_private_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  aurascope_private_start || exit 1
  "$@"
fi
