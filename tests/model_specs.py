"""Small model specs shared by tests (a module of its own: ``conftest`` names several files, and which one
``from conftest import`` finds depends on which folders were collected first)."""

from __future__ import annotations

from app.core.model import ModelSpec, choi2015_spec

LABELS = ("calm", "busy", "loud")


def small_choi_spec(n_maps: int = 8, n_layers: int = 5) -> ModelSpec:
    return choi2015_spec(n_maps=n_maps, n_layers=n_layers, labels=LABELS, head_input_frames=87)
