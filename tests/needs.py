"""What a test needs from the machine. Locally a missing piece skips the test; under CI=true, where the set-up
installs everything on purpose, it fails, so a broken set-up can never pass as a skip."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip for ``reason``; fail under CI."""
    if under_ci():
        pytest.fail(f"CI without what this test needs: {reason}")
    pytest.skip(reason)


def fluidsynth_soundfont() -> Path:
    """The FluidR3 soundfont, once pretty_midi and FluidSynth import (else ``missing``)."""
    for module, hint in [
        ("pretty_midi", "pip install pretty_midi"),
        ("fluidsynth", "pip install pyfluidsynth; apt-get install fluidsynth"),
    ]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            missing(f"{error}: {hint}")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from models.training.midisynth import FLUIDR3  # imports pretty_midi: after the check above

    if not FLUIDR3.is_file():
        missing(f"{FLUIDR3} missing: apt-get install fluid-soundfont-gm")
    return FLUIDR3


def real_material(*parts: str) -> Path:
    """A file of the shared real test material (``../shared/real`` beside the checkout; never copied into the
    repository), or ``missing``. ``AURASCOPE_REAL`` names another place."""
    candidates = [Path(os.environ["AURASCOPE_REAL"])] if os.environ.get("AURASCOPE_REAL") else []
    candidates += [ROOT.parent / "shared" / "real", ROOT.parent.parent / "shared" / "real"]
    for base in candidates:
        if (base / Path(*parts)).exists():
            return base / Path(*parts)
    missing(f"{Path('shared/real', *parts)} not found beside the checkout (or in $AURASCOPE_REAL)")
