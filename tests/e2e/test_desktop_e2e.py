"""End to end on the virtual display and the virtual sound card, as a user would meet the app.

`aurascope install-desktop` writes the .desktop entry; the test runs its Exec line with a clip and a model (as a
double-click on an audio file would), clicks a map in the tree with xdotool, presses Space, records what
reaches the PulseAudio sink, and screenshots the X display. Needs ``eval "$(bash scripts/ci_env.sh)"`` (Xvfb :99,
the null sink "vsink"), xdotool and ImageMagick's ``import``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "playback"))

from e2e_driver import DISPLAY, needs_reason, screenshot, wait_for, xdotool  # noqa: E402
from needs import missing  # noqa: E402
from playback_fakes import MonitorRecorder  # noqa: E402

from app.desktop import exec_command  # noqa: E402

pytestmark = pytest.mark.slow


def expected_feature(wav: Path, model: Path, ref: tuple[int, int], device_rate: int, volume: float) -> np.ndarray:
    """What the window should play for ``ref``: its Choi rendering at the device rate, at the gain that puts A (the
    file as played), B and R at one loudness with none above -0.1 dBFS (`common_gains`), times the volume."""
    import soundfile as sf

    from app.core.analysis import Analysis, FeatureRef
    from app.core.audio import load_audio
    from app.core.loudness import Level, common_gains
    from app.core.model import load_model
    from app.core.resampling import resample
    from app.core.types import Mode

    m = load_model(model)
    analysis = Analysis(load_audio(wav, m.front_end.sample_rate), m)
    feature, residual = (analysis.render(FeatureRef(*ref), mode) for mode in (Mode.CHOI, Mode.RESIDUAL))
    original, rate = sf.read(wav, dtype="float32", always_2d=True)
    played_a = resample(original.mean(axis=1), rate, device_rate)
    audio, rest = (resample(r.audio, r.sample_rate, device_rate) for r in (feature, residual))
    levels = {
        "A": Level.of(played_a, device_rate),
        "B": Level(feature.loudness_lufs, 20 * np.log10(np.max(np.abs(audio)))),
        "R": Level(residual.loudness_lufs, 20 * np.log10(np.max(np.abs(rest)))),
    }
    return audio * 10 ** (common_gains(levels, "A")["B"] / 20) * volume


def test_double_click_launch_click_a_map_press_space_hear_it_and_see_it(tmp_path, wav_file, model_file) -> None:
    reason = needs_reason()
    if reason:
        missing(reason)
    data_home = tmp_path / "share"
    install = subprocess.run(
        [sys.executable, "-m", "app", "install-desktop"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_DATA_HOME": str(data_home)},
    )
    assert install.returncode == 0, install.stderr
    entry = data_home / "applications" / "aurascope.desktop"
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
    command = exec_command(entry, [str(wav_file), str(model_file)])  # what a file manager runs for %F

    state_path, settings = tmp_path / "state.json", tmp_path / "settings.ini"
    settings.write_text("[audio]\nvolume=0.5\n")  # headroom: the recording must not clip in the sink
    env = {
        **os.environ,
        "DISPLAY": DISPLAY,
        "AURASCOPE_STATE_FILE": str(state_path),
        "AURASCOPE_SETTINGS": str(settings),
        "PYTHONPATH": str(ROOT),
        "AURASCOPE_NO_EXPORT_DIALOG": "1",
    }
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recorder = None
    try:
        state = wait_for(
            proc,
            state_path,
            lambda s: s.get("feature_ready") == "L2F0" and s["device_ok"] and "L2F3" in s["maps"] and not s["busy"],
            "layer 2 map 0 ready with a device",
        )
        assert state["selected"] == "L2F0" and not state["banner"]
        window = str(state["window_id"])
        xdotool("windowfocus", "--sync", window)  # no window manager: focus, not activate
        x, y = state["maps"]["L2F3"]
        xdotool("mousemove", "--sync", str(x), str(y))
        xdotool("click", "1")
        state = wait_for(
            proc,
            state_path,
            lambda s: s.get("feature_ready") == "L2F3" and s["residual_ready"] and not s["busy"],
            "map L2F3 rendered after the click",
        )
        rate = state["device_rate"]
        recorder = MonitorRecorder(tmp_path / "monitor.f32", rate)
        recorder.start()
        xdotool("key", "space")
        wait_for(proc, state_path, lambda s: s["playing"], "playback to start", 10)
        state = wait_for(proc, state_path, lambda s: not s["playing"], "playback to reach the end", 30)
        time.sleep(0.4)
        recording = recorder.stop()
        recorder = None
        assert state["slot"] == "B" and state["underflows"] == 0 and not state["banner"]

        expected = expected_feature(wav_file, model_file, (2, 3), rate, volume=0.5)
        xc = signal.correlate(recording, expected, mode="full", method="fft")
        start = int(np.argmax(xc)) - (len(expected) - 1)
        assert start >= 0 and start + len(expected) <= len(recording), "the whole clip is in the recording"
        heard = recording[start : start + len(expected)]
        corr = float(np.dot(heard, expected) / np.sqrt(np.dot(heard, heard) * np.dot(expected, expected)))
        assert corr >= 0.99
        assert float(np.dot(heard, expected) / np.dot(expected, expected)) == pytest.approx(1.0, rel=0.03)

        image = screenshot()
        for name in ("original", "feature", "activation"):
            x0, y0, w, h = state["panes"][name]
            region = image[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
            assert region.shape[0] > 50 and region.shape[1] > 200, (name, region.shape)
            luminance = region @ np.array([0.299, 0.587, 0.114])
            colours = len(np.unique(region.reshape(-1, 3)[::7], axis=0))
            enough = 40 if name == "activation" else 200  # a layer-2 map of a short clip is a few dozen blocks
            assert luminance.std() > 12 and colours > enough, (name, luminance.std(), colours)  # not a blank
        xdotool("windowfocus", "--sync", window)
        xdotool("key", "ctrl+q")
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        if recorder is not None:
            recorder.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
