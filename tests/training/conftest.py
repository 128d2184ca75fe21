"""The generator tests import ``models.training`` from the repository root and share one 11025 Hz renderer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from models.training.datagen import ClipRenderer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fluidr3() -> Path:
    """The FluidR3 soundfont path, skipping the test when FluidSynth or the soundfont is not installed."""
    pytest.importorskip("pretty_midi", reason="pip install pretty_midi")
    pytest.importorskip("fluidsynth", reason="pip install pyfluidsynth; apt-get install fluidsynth")
    from models.training.datagen import FLUIDR3

    if not FLUIDR3.is_file():
        pytest.skip(f"{FLUIDR3} missing: apt-get install fluid-soundfont-gm")
    return FLUIDR3


@pytest.fixture(scope="session")
def soundfont() -> Path:
    return fluidr3()


@pytest.fixture(scope="session")
def renderer() -> Iterator[ClipRenderer]:
    from models.training.datagen import ClipRenderer

    with ClipRenderer(fluidr3(), 11025) as clip_renderer:
        yield clip_renderer
