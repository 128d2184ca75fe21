"""The device every analysis runs on: a GPU when torch sees one (CUDA first), else the CPU. CI has no GPU, so
torch's answers are replaced here; nothing runs on a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.core import analysis as analysis_module
from app.core.analysis import default_device


def test_default_device_follows_what_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert default_device() == torch.device("mps")


def test_the_window_analyses_on_the_default_device(
    monkeypatch: pytest.MonkeyPatch, model_file: Path, wav_file: Path
) -> None:
    """The window's open, findings and thumbnails run on `default_device()` (here the CPU, counted)."""
    from app.ui import compute

    asked: list[torch.device] = []

    def counted() -> torch.device:
        asked.append(torch.device("cpu"))
        return asked[-1]

    monkeypatch.setattr(analysis_module, "default_device", counted)
    chosen: list[object] = []  # the device each Analysis built here was given (None: it asks default_device)
    real_init = analysis_module.Analysis.__init__

    def spy(self, clip, model, *args, **kwargs):
        chosen.append(kwargs.get("device"))
        real_init(self, clip, model, *args, **kwargs)

    monkeypatch.setattr(analysis_module.Analysis, "__init__", spy)
    before = len(asked)
    opened = compute.open_session(model_file, wav_file)
    assert len(asked) > before  # the open asked (on the CPU the answer alone could not tell)
    assert opened.analysis.device == asked[-1] == opened.model.device
    assert opened.analysis.spectrum.device == asked[-1]
    findings = compute.clip_findings(opened.analysis, opened.summary)
    assert set(findings.energies) == {layer.number for layer in opened.summary.layers}
    assert compute.thumbnails(opened.analysis, opened.summary, 2, [0])
    # findings and thumbnails work on the open analysis; any analysis built on the way asked too (no fixed device)
    assert chosen and all(device is None for device in chosen) and len(asked) >= len(chosen)
