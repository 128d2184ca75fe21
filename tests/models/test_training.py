"""The training script end to end on a tiny set: it must write a model file the app can load and run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app.core.architecture import BatchNorm2d
from app.core.model import load_model

ROOT = Path(__file__).resolve().parents[2]


# The tagger renders at 22050 Hz and takes ~25 s with process start; the genre recipe ~15 s.
@pytest.mark.parametrize("recipe", ["choi2015", pytest.param("mel-tagger", marks=pytest.mark.slow)])
def test_smoke_run_writes_a_loadable_model(recipe: str, tmp_path: Path) -> None:
    out = tmp_path / f"{recipe}.safetensors"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "models/training/train.py", recipe, "--out", str(out), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "epoch  1/1" in done.stdout and "reloaded outputs equal" in done.stdout
    model = load_model(out)
    assert not any(isinstance(b, BatchNorm2d) for b in model.spec.body)
    provenance = model.spec.provenance
    assert provenance["epochs"] == 1 and provenance["generator_seed"] == 20150
    assert set(provenance["heldout"]) == {"fluidr3", "musescore"}
    fe = model.front_end
    x = torch.zeros(1, 1, fe.n_bins, model.spec.head_input_frames)
    probs = model.activate(model.logits(x))[0].numpy()
    assert probs.shape == (len(model.spec.labels),)
    assert np.all(np.isfinite(probs))


def test_specnet_names_match_the_file_format() -> None:
    """Every trainable tensor maps onto a spec tensor name, so save_model can fold and write it as it is."""
    from models.training.train import RECIPES, SpecNet, build_spec

    recipe = RECIPES["choi2015"]
    spec = build_spec(recipe, tuple("abcdefgh"), recipe.front_end)
    names = set(SpecNet(spec).file_weights())
    assert "body.0.weight" in names and "body.1.running_var" in names and "head.1.weight" in names
    assert len([n for n in names if n.endswith("running_mean")]) == 5
