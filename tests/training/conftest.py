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

from needs import fluidsynth_soundfont  # noqa: E402


@pytest.fixture(scope="session")
def soundfont() -> Path:
    return fluidsynth_soundfont()


@pytest.fixture(scope="session")
def renderer() -> Iterator[ClipRenderer]:
    from models.training.datagen import ClipRenderer

    with ClipRenderer(fluidsynth_soundfont(), 11025) as clip_renderer:
        yield clip_renderer
