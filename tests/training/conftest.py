"""The generator tests import ``models.training`` from the repository root and share one 11025 Hz renderer."""

from __future__ import annotations

import importlib
import os
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


def missing(reason: str) -> None:
    """Skip for a missing renderer dependency, but fail under CI=true: CI installs them, so a skip there
    would hide a broken set-up."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI without the data generator's dependencies: {reason}")
    pytest.skip(reason)


def fluidr3() -> Path:
    """The FluidR3 soundfont path, skipping the test when FluidSynth or the soundfont is not installed."""
    for module, hint in [
        ("pretty_midi", "pip install pretty_midi"),
        ("fluidsynth", "pip install pyfluidsynth; apt-get install fluidsynth"),
    ]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            missing(f"{error}: {hint}")
    from models.training.datagen import FLUIDR3

    if not FLUIDR3.is_file():
        missing(f"{FLUIDR3} missing: apt-get install fluid-soundfont-gm")
    return FLUIDR3


@pytest.fixture(scope="session")
def soundfont() -> Path:
    return fluidr3()


@pytest.fixture(scope="session")
def renderer() -> Iterator[ClipRenderer]:
    from models.training.datagen import ClipRenderer

    with ClipRenderer(fluidr3(), 11025) as clip_renderer:
        yield clip_renderer
