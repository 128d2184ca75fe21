"""scripts/private_env.sh (what scripts/test.sh runs the suite in) is a guest: with a "user" PulseAudio running
whose default output is another sink at a chosen volume, the private set-up plays through its own daemon and
display, leaves the user's daemon exactly as it was (default sink, volume, modules, not a sample played into
it), and removes everything it started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from needs import missing

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WAIT = ROOT / "scripts" / "apt_wait.sh"


def _pactl(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, timeout=10, check=True).stdout


@pytest.fixture
def user_pulse(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A stand-in for the user's own PulseAudio: found the standard way (XDG_RUNTIME_DIR), default sink
    "speakers" at 37 %, a second sink "headphones"."""
    for tool in ("pulseaudio", "pactl", "parec", "Xvfb"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed: run `bash scripts/system_packages.sh test`")
    xdg, home = tmp_path / "user-xdg", tmp_path / "user-home"
    xdg.mkdir(mode=0o700)
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PULSE_SERVER", "DISPLAY", "PULSE_RUNTIME_PATH")}
    env.update(XDG_RUNTIME_DIR=str(xdg), HOME=str(home))
    daemon = subprocess.Popen(
        [
            "pulseaudio", "--daemonize=no", "--system=no", "-n", "--exit-idle-time=-1",
            "-L", f"module-native-protocol-unix socket={xdg}/pulse/native auth-anonymous=1",
            "-L", "module-null-sink sink_name=headphones",
            "-L", "module-null-sink sink_name=speakers",
        ],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "the stand-in user PulseAudio did not start"
            time.sleep(0.1)
        _pactl(env, "set-default-sink", "speakers")
        _pactl(env, "set-sink-volume", "speakers", "37%")
        yield env
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _state(env: dict[str, str]) -> dict[str, str]:
    info = _pactl(env, "info")
    return {
        "server": next(line for line in info.splitlines() if line.startswith("Server String")),
        "default": next(line for line in info.splitlines() if line.startswith("Default Sink")),
        "volume": _pactl(env, "get-sink-volume", "speakers"),
        "modules": _pactl(env, "list", "short", "modules"),
        "sinks": _pactl(env, "list", "short", "sinks"),
    }


def test_the_private_environment_leaves_the_users_audio_alone(user_pulse: dict[str, str], tmp_path: Path) -> None:
    env = user_pulse
    before = _state(env)
    assert "Default Sink: speakers" in before["default"] and "37%" in before["volume"]
    # everything the user's speakers get while the private environment runs
    heard_by_user = tmp_path / "speakers.f32"
    with heard_by_user.open("wb") as sink:
        listener = subprocess.Popen(
            ["parec", "-d", "speakers.monitor", "--format=float32le", "--rate=44100", "--channels=1", "--raw"],
            env=env, stdout=sink, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            probe = tmp_path / "probe.py"
            probe.write_text(_PROBE)
            done = subprocess.run(
                ["bash", str(ROOT / "scripts" / "private_env.sh"), "--", sys.executable, str(probe), str(tmp_path)],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            time.sleep(0.3)
            listener.terminate()
            listener.wait(timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    private = Path(seen["dir"])
    print(f"\ninside the private environment: {seen}")

    # inside: its own daemon (its socket in its own folder), its own sink as default, its own display
    assert seen["server"] == f"unix:{private}/pulse/native"
    assert seen["default"] == "vsink"
    assert seen["display"].startswith(":")
    assert float(seen["rms"]) > 0.05, "sounddevice's tone did not reach the private sink"

    # outside: the user's daemon exactly as before, and not a sample of the tone on the user's speakers
    assert _state(env) == before
    heard = np.fromfile(heard_by_user, dtype="<f4")
    assert heard.size > 0 and float(np.max(np.abs(heard))) == 0.0
    # and nothing left behind: the folder, the daemon's socket and the display's lock are gone
    assert not private.exists()
    display = seen["display"].lstrip(":")
    assert not Path(f"/tmp/.X{display}-lock").exists()
    assert f"private_env: ready: DISPLAY={seen['display']}" in done.stderr


# Runs inside the private environment: where do pactl, DISPLAY and sounddevice go, and is the tone heard there?
_PROBE = r"""
import os, subprocess, sys, time
import numpy as np

def pactl_field(name):
    info = subprocess.run(["pactl", "info"], capture_output=True, text=True, check=True).stdout
    return next(line.split(": ", 1)[1] for line in info.splitlines() if line.startswith(name))

out = open(os.path.join(sys.argv[1], "private.f32"), "wb")
rec = subprocess.Popen(["parec", "-d", "vsink.monitor", "--format=float32le", "--rate=44100", "--channels=1",
                        "--raw", "--latency-msec=10"], stdout=out, stderr=subprocess.DEVNULL)
time.sleep(0.5)
import sounddevice as sd  # PortAudio -> ALSA "default" -> the pulse plugin -> PULSE_SERVER

t = np.arange(44100) / 44100
sd.play((0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, blocking=True)
time.sleep(0.3)
rec.terminate()
rec.wait()
out.close()
y = np.fromfile(os.path.join(sys.argv[1], "private.f32"), dtype="<f4")
print("dir=" + os.environ["AURASCOPE_PRIVATE_DIR"])
print("server=" + pactl_field("Server String"))
print("default=" + pactl_field("Default Sink"))
print("display=" + os.environ["DISPLAY"])
print("rms=%.4f" % float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else "rms=0")
"""


def test_apt_waits_for_a_held_lock_then_goes_on(tmp_path: Path) -> None:
    """scripts/apt_wait.sh: while another process holds the lock it waits (bounded), says so, then goes on."""
    lock = tmp_path / "lock-frontend"
    lock.touch()
    holder = subprocess.Popen(  # another "package manager": holds an fcntl lock on the file for 3 s
        [
            sys.executable,
            "-c",
            f"import fcntl, time; f = open({str(lock)!r}, 'w'); fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(3)",
        ]
    )
    try:
        time.sleep(0.5)
        script = (
            f'. "{ROOT}/scripts/apt_wait.sh"; _aurascope_apt_locks="{lock}"; aurascope_wait_for_apt 30; echo went-on'
        )
        t0 = time.monotonic()
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        waited = time.monotonic() - t0
    finally:
        holder.wait(timeout=10)
    assert done.stdout.strip() == "went-on"
    assert "waiting for another package manager" in done.stderr and "going on" in done.stderr
    assert 1.5 <= waited < 10  # it waited for the holder (3 s), not for its 30 s limit

    holder = subprocess.Popen([sys.executable, "-c", f"import time; f = open({str(lock)!r}); time.sleep(8)"])
    try:
        time.sleep(0.5)
        script = (
            f'. "{ROOT}/scripts/apt_wait.sh"; _aurascope_apt_locks="{lock}"; aurascope_wait_for_apt 2; echo went-on'
        )
        t0 = time.monotonic()
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert done.stdout.strip() == "went-on" and "trying anyway" in done.stderr
    assert 1.5 <= waited < 6  # bounded: it gave up after its limit and went on
