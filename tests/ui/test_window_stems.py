"""The window's characterisation finds a clip's stems beside it and shows 'source selector' tags in the inspector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from app.core.architecture import Conv2d, ReLU
from app.core.frontend import FrontEnd
from app.core.model import ModelSpec, save_model

SR = 11025


def _mix_with_stems(folder: Path) -> Path:
    """Thumps at 60 Hz and a 660/880 Hz melody, written as a mix with its two stems beside it."""
    t = np.arange(int(3.0 * SR)) / SR
    low = 0.8 * np.sin(2 * np.pi * 60 * t) * np.exp(-((t % 0.5) / 0.5) * 6)
    mid = 0.3 * np.sin(2 * np.pi * np.cumsum(np.where((t // 0.25) % 2 == 0, 660.0, 880.0)) / SR)
    path = folder / "mix.wav"
    sf.write(path, (low + mid).astype(np.float32), SR, subtype="FLOAT")
    sf.write(folder / "mix.kick.wav", low.astype(np.float32), SR, subtype="FLOAT")
    sf.write(folder / "mix.melody.wav", mid.astype(np.float32), SR, subtype="FLOAT")
    return path


def _band_model(folder: Path) -> Path:
    """Two full-height kernels: map 0 passes below 150 Hz, map 1 passes 500-1500 Hz."""
    freqs = FrontEnd().bin_frequencies()
    kernels = torch.stack(
        [
            torch.tensor([[1.0] if lo <= f < hi else [0.0] for f in freqs], dtype=torch.float32)
            for lo, hi in ((0, 150), (500, 1500))
        ]
    )
    spec = ModelSpec(front_end=FrontEnd(), body=(Conv2d(1, 2, tuple(kernels.shape[1:]), (1, 1), (0, 0)), ReLU()))
    return save_model(
        folder / "bands.safetensors", spec, {"body.0.weight": kernels[:, None], "body.0.bias": torch.zeros(2)}
    )


def test_characterise_in_the_window_tags_source_selectors(make_window, qtbot, tmp_path) -> None:
    window = make_window(_mix_with_stems(tmp_path), _band_model(tmp_path))
    qtbot.waitUntil(lambda: window.worker.idle, timeout=30000)
    window.characterise(True)
    qtbot.waitUntil(lambda: window.worker.idle and bool(window.session.suggestions), timeout=120000)
    tags = {ref: [t.tag for t in found] for ref, found in window.session.suggestions.items()}
    assert "source selector: kick" in tags[(1, 0)], tags
    assert "source selector: melody" in tags[(1, 1)], tags
    window.tree.select((1, 1))
    qtbot.waitUntil(lambda: "source selector: melody" in window.inspector.suggested.text(), timeout=30000)
