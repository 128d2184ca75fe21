"""Start-up order: the first map is playable before the clip's findings (the whole forward pass, energies,
predictions) are computed; until they are in, the tree, inspector, prediction strip and clip list say "…", and a
click on another map meanwhile works. Space pressed meanwhile plays at once."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.ui import compute


@pytest.fixture
def held_findings(monkeypatch: pytest.MonkeyPatch):
    """`compute.clip_findings` waits for the returned event before it computes (the worker is held there)."""
    release = threading.Event()
    started = threading.Event()
    real = compute.clip_findings

    def held(analysis, summary):
        started.set()
        assert release.wait(60)
        return real(analysis, summary)

    monkeypatch.setattr(compute, "clip_findings", held)
    yield release, started
    release.set()


def test_first_map_plays_before_the_findings_which_fill_in_later(
    make_window, qtbot, held_findings, wav_file: Path, model_file: Path
) -> None:
    release, started = held_findings
    seen: list[tuple[object, str, str]] = []
    window = make_window(wav_file, model_file, wait=False)
    window.featureReady.connect(
        lambda ref: seen.append((window.clip.findings, window.tree._energy_items[(2, 0)].text(), "ready"))
    )
    window.play()  # Space while opening: queued, and plays as soon as the first map is ready
    qtbot.waitUntil(lambda: bool(seen) and window.engine.is_playing, timeout=60000)
    findings, energy_text, _ = seen[0]
    assert findings is None and energy_text == "…"  # the map was ready before the findings were computed
    assert window.selected == (2, 0) and window.feature is not None
    assert window.predictions._caption == "Model hears: …" and window.predictions._scores == []
    assert window.inspector.figures["energy"].text() == "…" and window.inspector.figures["share"].text() == "…"
    assert window.clip_entries[window.clip.sha256].detail == "…"
    assert window.controller.energy_of((2, 0)) == (None, "…")
    qtbot.waitUntil(started.is_set, timeout=60000)  # the findings job runs after the render, on the same worker
    # a click on another map meanwhile: the inspector shows it, "…" for its energy, nothing breaks
    window.tree.select((3, 1))
    assert window.selected == (3, 1) and window.inspector.heading.text() == "Layer 3 · map 1"
    assert window.inspector.figures["energy"].text() == "…"
    assert window.clip.findings is None
    release.set()
    qtbot.waitUntil(lambda: window.clip.findings is not None and window.feature.ref == (3, 1), timeout=60000)
    qtbot.waitUntil(lambda: window.worker.idle, timeout=60000)
    clip = window.clip
    # the findings are the whole clip's: the same numbers as the analysis gives directly
    for layer in window.summary.layers:
        want = window.analysis.layer_activation_energy(layer.number)
        np.testing.assert_allclose(clip.energies[layer.number], want, rtol=1e-6)
    assert [label for label, _ in clip.predictions] == [label for label, _ in window.analysis.predict()]
    assert sum(score for _, score in clip.predictions) == pytest.approx(1.0, abs=1e-4)
    assert window.analyses[clip.sha256][1] is clip  # the controller keeps the clip with its findings
    # ...and every view shows them now
    item = window.tree._energy_items[(3, 1)]
    assert item.data(Qt.ItemDataRole.UserRole + 2) == pytest.approx(float(clip.energies[3][1]))
    assert item.text() == f"{clip.energies[3][1]:.3g}"
    assert window.inspector.figures["energy"].text() == f"{clip.energies[3][1]:.4g}"
    assert window.inspector.figures["share"].text().endswith(f"of {len(clip.energies[3])}")
    assert window.predictions._scores[0][0] == clip.predictions[0][0]
    top = max(clip.predictions, key=lambda p: p[1])
    assert window.clip_entries[clip.sha256].detail == f"{top[0]} {top[1]:.2f}"
    assert window.gallery.model.energies[3].shape == clip.energies[3].shape


def test_the_window_opens_a_clip_without_its_forward_pass(model_file: Path, wav_file: Path) -> None:
    """What the open job returns has no findings and ran no whole-clip forward pass; `clip_findings` does."""
    opened = compute.open_session(model_file, wav_file)
    assert opened.clip is not None and opened.clip.findings is None
    assert opened.clip.energies == {} and opened.clip.predictions == ()
    assert opened.analysis._record is None  # the first map's window needs no whole-clip pass
    findings = compute.clip_findings(opened.analysis, opened.summary)
    assert opened.analysis._record is not None  # kept for the whole-clip renders after
    assert set(findings.energies) == {layer.number for layer in opened.summary.layers}
    assert findings.reference_lufs == pytest.approx(opened.analysis.reference_lufs)
    assert findings.seconds > 0.0


def test_findings_that_fail_are_said_and_the_map_still_plays(
    make_window, qtbot, monkeypatch: pytest.MonkeyPatch, wav_file: Path, model_file: Path
) -> None:
    from app.core.errors import NonFiniteError

    def overflow(analysis, summary):
        raise NonFiniteError(f"layer 3's activations overflowed to NaN or infinity on clip '{analysis.clip.path}'")

    monkeypatch.setattr(compute, "clip_findings", overflow)
    window = make_window(wav_file, model_file, wait=False)
    qtbot.waitUntil(lambda: bool(window.last_error), timeout=60000)
    assert window.last_error.startswith(f"Cannot analyse {wav_file.name}\nNonFiniteError: layer 3's activations")
    assert str(wav_file) in window.last_error
    qtbot.waitUntil(lambda: window.feature is not None, timeout=60000)  # the map itself still renders
    assert window.clip.findings is None and window.tree._energy_items[(2, 0)].text() == "…"
