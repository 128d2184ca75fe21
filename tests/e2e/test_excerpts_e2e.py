"""End to end: the Top excerpts panel filled and playable in the real window on the real (virtual) display and sound
card, as a user meets it.

An atlas of a few demo clips is built with the real CLI; the app starts as a subprocess with a clip, the bundled
choi2015-genre model and the atlas on its command line (``python main.py clip.wav model.safetensors corpus.atlas``).
xdotool clicks a map in the tree, double-clicks the panel's first row (its feature plays), and presses B half-way
(its original); what reaches the PulseAudio sink is recorded from "vsink.monitor" and compared with what
``aurascope atlas export`` writes for that excerpt; a screenshot shows the panel's rows. Where things are and what
is ready comes from the automation hook's state file (app/ui/automation.py). Needs ``eval "$(bash
scripts/ci_env.sh)"`` (Xvfb :99, the null sink "vsink"), xdotool and ImageMagick's ``import``.
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
import soundfile as sf
from cli_process import run
from scipy import signal

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "playback"))

from e2e_driver import DISPLAY, needs_reason, screenshot, wait_for, wait_settled, xdotool  # noqa: E402
from needs import missing  # noqa: E402
from playback_fakes import MonitorRecorder  # noqa: E402

from app.core.loudness import Level, common_gains  # noqa: E402
from app.core.resampling import resample  # noqa: E402

pytestmark = pytest.mark.slow

MODEL = ROOT / "models" / "choi2015-genre.safetensors"  # the bundled model: an atlas of three clips in ~5 s
CORPUS = ("resources/demo/piano.wav", "resources/demo/kick_walking_bass.wav", "resources/demo/real/groove.drums.flac")
LAYER, FEATURE = 2, 3
MAP = f"L{LAYER}F{FEATURE}"
VOLUME = 0.5  # headroom: the recording must not clip in the sink
B_AFTER_S = 2.0  # B is pressed once the feature has played this long (an excerpt is ~4 s on choi2015)
#: the recorded level against the one expected from the volume and the loudness-matched gain: the sink adds only
#: float rounding (as in the in-process test, tests/ui/test_window_excerpts_audio.py)
GAIN_TOLERANCE = 0.02


def _align(recording: np.ndarray, reference: np.ndarray) -> int:
    """Where ``reference`` starts in ``recording``: the lag of the largest *normalised* cross-correlation with
    ``reference`` wholly inside. Unnormalised, the louder original that follows the feature (A is not turned down
    as B is) would outscore the quiet feature where it really is."""
    xc = signal.correlate(recording, reference, mode="valid", method="fft")
    energy = np.concatenate(([0.0], np.cumsum(recording.astype(np.float64) ** 2)))
    window = energy[len(reference) :] - energy[: len(energy) - len(reference)]
    return int(np.argmax(xc / np.sqrt(np.maximum(window, 1e-12))))


def _assert_on_screen(rect: list[int], screen_w: int, screen_h: int) -> None:
    """The panel's table ``[x, y, w, h]`` is wholly on the display (no window manager keeps a window inside it)."""
    x, y, w, h = rect
    assert x >= 0 and y >= 0 and x + w <= screen_w and y + h <= screen_h, (rect, screen_w, screen_h)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b) + 1e-30))


def test_click_a_map_double_click_its_top_excerpt_hear_feature_then_b_original_and_see_the_rows(
    tmp_path, wav_file
) -> None:
    reason = needs_reason()
    if reason:
        missing(reason)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in CORPUS:
        shutil.copy(ROOT / name, corpus / Path(name).name)
    atlas = tmp_path / "corpus.atlas"
    built = run("atlas", "build", "-m", MODEL, corpus, "-o", atlas, "--k", "3", "-q")
    assert built.returncode == 0, built.stderr
    exported = tmp_path / "export"
    result = run("atlas", "export", "-a", atlas, "--layer", str(LAYER), "--feature", str(FEATURE),
                 "-m", MODEL, "-o", exported, "-q")  # fmt: skip
    assert result.returncode == 0, result.stderr

    state_path, settings = tmp_path / "state.json", tmp_path / "settings.ini"
    settings.write_text(f"[audio]\nvolume={VOLUME}\n")
    env = {
        **os.environ,
        "DISPLAY": DISPLAY,
        "AURASCOPE_STATE_FILE": str(state_path),
        "AURASCOPE_SETTINGS": str(settings),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("QT_QPA_PLATFORM", None)
    command = [sys.executable, str(ROOT / "main.py"), str(wav_file), str(MODEL), str(atlas)]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recorder = None
    try:

        def started(s: dict) -> bool:
            panel_ready = s["excerpts"]["atlas"] is not None and s["excerpts"]["visible"]
            first_map = bool(s.get("feature_ready")) and s["device_ok"] and not s["busy"]
            return first_map and MAP in s["maps"] and panel_ready

        state = wait_settled(
            proc,
            state_path,
            started,
            lambda s: (s["maps"][MAP], s["excerpts"]["table"]),
            "the first map ready and the atlas open in the panel",
        )
        assert state["model"] == str(MODEL) and Path(state["excerpts"]["atlas"]) == atlas.resolve()
        assert not state["banner"] and not state["error"]
        window = str(state["window_id"])
        xdotool("windowfocus", "--sync", window)  # no window manager: focus, not activate
        x, y = state["maps"][MAP]
        xdotool("mousemove", "--sync", str(x), str(y))
        xdotool("click", "1")
        wait_for(proc, state_path, lambda s: s["selected"] == MAP, f"{MAP} selected by the click", 30)
        state = wait_for(
            proc,
            state_path,
            lambda s: s["excerpts"]["map"] == MAP and s["excerpts"]["listed"] and s["excerpts"]["rows"],
            f"the panel filled with {MAP}'s excerpts after the click",
            60,
        )
        rows = state["excerpts"]["rows"]
        screen_w, screen_h = (int(v) for v in xdotool("getdisplaygeometry").split())
        _assert_on_screen(state["excerpts"]["table"], screen_w, screen_h)
        assert [r["rank"] for r in rows] == [1, 2, 3] and not any(r["ready"] for r in rows)
        assert all(Path(r["clip"]).parent == corpus.resolve() for r in rows)

        rate = state["device_rate"]  # the panel's engine opens the same output device as the main transport
        recorder = MonitorRecorder(tmp_path / "monitor.f32", rate)
        recorder.start()
        x, y = rows[0]["centre"]  # the rank cell: a click on the clip's name would open it in the main views
        xdotool("mousemove", "--sync", str(x), str(y))
        xdotool("click", "--repeat", "2", "--delay", "80", "1")
        state = wait_for(
            proc,
            state_path,
            lambda s: s["excerpts"]["playing"] and s["excerpts"]["position"] >= B_AFTER_S,
            f"the first excerpt's feature playing for {B_AFTER_S} s after the double click",
            90,
        )
        assert state["excerpts"]["slot"] == "B" and state["excerpts"]["rows"][0]["ready"]
        assert not state["playing"]  # the main transport stays paused
        xdotool("key", "b")
        state = wait_for(proc, state_path, lambda s: not s["excerpts"]["playing"], "the excerpt to reach its end", 30)
        time.sleep(0.4)  # the tail through the sink's buffers
        recording = recorder.stop()
        recorder = None
        panel = state["excerpts"]
        assert panel["loaded_rank"] == 1 and panel["slot"] == "A", panel
        assert panel["device_rate"] == rate and panel["device_error"] is None
        assert panel["volume"] == pytest.approx(VOLUME)
        switch = panel["switch_sample"]
        assert B_AFTER_S * rate < switch < (B_AFTER_S + 1.0) * rate, switch / rate

        # the references: what `atlas export` wrote for rank 1, at the device rate, with the gains matching gives
        feature, written_rate = sf.read(exported / f"L{LAYER}-F{FEATURE:03d}-rank01-choi.wav", dtype="float32")
        feature = resample(feature, written_rate, rate)
        original, written_rate = sf.read(exported / f"L{LAYER}-F{FEATURE:03d}-rank01-original.wav", dtype="float32")
        original = resample(original, written_rate, rate)
        gains = common_gains({"A": Level.of(original, rate), "B": Level.of(feature, rate)}, "A")
        assert panel["gains_db"]["B"] == pytest.approx(gains["B"], abs=0.05)
        assert panel["gains_db"]["A"] == pytest.approx(gains["A"], abs=0.05)

        fade = panel["crossfade_samples"]
        head = feature[fade : switch - 64]  # past the fade-in with which play starts (no click), up to B's crossfade
        start = _align(recording, head) - fade  # where the excerpt's first sample is in the recording
        assert start >= 0
        heard = recording[start + fade : start + fade + len(head)]
        feature_corr = _corr(heard, head)
        feature_gain = float(np.dot(heard, head) / np.dot(head, head))
        tail = original[switch + fade : len(original) - 64]
        after = recording[start + switch + fade : start + switch + fade + len(tail)]
        assert len(tail) > 0.5 * rate and len(after) == len(tail)
        original_corr = _corr(after, tail)
        original_gain = float(np.dot(after, tail) / np.dot(tail, tail))
        print(  # the figures, for the report (pytest -s)
            f"feature r={feature_corr:.7f} gain={feature_gain:.4f} (want {VOLUME * 10 ** (gains['B'] / 20):.4f}); "
            f"original r={original_corr:.7f} gain={original_gain:.4f} (want {VOLUME * 10 ** (gains['A'] / 20):.4f}); "
            f"switch at {switch / rate:.3f} s"
        )
        assert feature_corr >= 0.95  # the feature, as the CLI renders the excerpt
        assert feature_gain == pytest.approx(VOLUME * 10 ** (gains["B"] / 20), rel=GAIN_TOLERANCE)
        assert original_corr >= 0.95  # after B: the excerpt's original
        assert _corr(after, feature[switch + fade : switch + fade + len(tail)]) < original_corr
        assert original_gain == pytest.approx(VOLUME * 10 ** (gains["A"] / 20), rel=GAIN_TOLERANCE)
        assert panel["heard_underflows"] == 0, panel

        _assert_on_screen(panel["table"], screen_w, screen_h)  # playing widened nothing past the screen's edge
        image = screenshot()
        x0, y0, w, h = panel["table"]
        region = image[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
        assert region.shape[0] > 40 and region.shape[1] > 200, region.shape
        rows_band = region[: max(r["centre"][1] for r in panel["rows"]) - y0 + 12]  # the rows, not the empty rest
        luminance = rows_band @ np.array([0.299, 0.587, 0.114])
        colours = len(np.unique(rows_band.reshape(-1, 3), axis=0))
        print(f"panel rows: luminance std {luminance.std():.1f}, {colours} colours")
        assert luminance.std() > 8 and colours > 20, (luminance.std(), colours)  # text drawn, not a blank table

        xdotool("windowfocus", "--sync", window)
        xdotool("key", "ctrl+q")
        proc.wait(timeout=30)
        assert proc.returncode == 0, proc.stderr.read()[-3000:]
    finally:
        if recorder is not None:
            recorder.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
