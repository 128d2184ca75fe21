"""The shipped model files: they load, have the architecture their cards (models/README.md) state, and on clips
rendered fresh here with the MuseScore soundfont (seeds never used in training) reach the card's MuseScore
held-out figure minus a margin drawn from the sampling spread at these sizes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from app.core.architecture import Conv2d, GlobalPool, Linear, MaxPool2d, ReLU
from app.core.frontend import Compression, Scale
from app.core.model import load_model
from models.training import datagen
from models.training.evaluate import (
    accuracy,
    auc_margin,
    binomial_margin,
    macro_roc_auc,
    model_scores,
    per_tag_auc,
)
from models.training.train import (
    HELDOUT_FLUIDR3_SEED,
    HELDOUT_MUSESCORE_SEED,
    TEST_SEED,
    TRAIN_SEED,
)

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "models" / "README.md"

# What each card states; the test holds the file to it.
ARCHITECTURE = {
    "choi2015-genre": {
        "front_end": {
            "sample_rate": 11025,
            "n_fft": 512,
            "hop_length": 256,
            "scale": Scale.LINEAR,
            "compression": Compression.NONE,
        },
        "layers": 5,
        "maps": 64,
        "pool": "max",
        "head_input_frames": 173,
        "output": "softmax",
        "labels": datagen.STYLES,
    },
    "mel-tagger": {
        "front_end": {
            "sample_rate": 22050,
            "n_fft": 1024,
            "hop_length": 512,
            "scale": Scale.MEL,
            "n_mels": 96,
            "compression": Compression.DB,
        },
        "layers": 4,
        "maps": 48,
        "pool": "avgmax",
        "head_input_frames": 173,
        "output": "sigmoid",
        "labels": datagen.TAGS,
    },
}
# Fresh clips per test: 8 per style = 64 clips (styles); 64 mixtures (tags).
STYLE_CLIPS_PER_STYLE = 8
TAG_MIXTURES = 64


def _model_path(name: str) -> Path:
    return ROOT / "models" / f"{name}.safetensors"


@pytest.mark.parametrize("name", sorted(ARCHITECTURE))
def test_model_has_the_architecture_its_card_states(name: str) -> None:
    want = ARCHITECTURE[name]
    model = load_model(_model_path(name))
    spec = model.spec
    for key, value in want["front_end"].items():
        assert getattr(spec.front_end, key) == value, key
    assert spec.front_end.norm_std > 0
    convs = [b for b in spec.body if isinstance(b, Conv2d)]
    assert len(convs) == len(model.layers) == want["layers"]
    assert all(c.out_channels == want["maps"] and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert [type(b) for b in spec.body] == [Conv2d, ReLU, MaxPool2d] * want["layers"]
    assert all(b.kernel_size == (2, 2) for b in spec.body if isinstance(b, MaxPool2d))
    assert isinstance(spec.head[0], GlobalPool) and spec.head[0].mode == want["pool"]
    assert isinstance(spec.head[1], Linear) and spec.head[1].out_features == len(want["labels"])
    assert spec.head_input_frames == want["head_input_frames"] and spec.output == want["output"]
    assert spec.labels == tuple(want["labels"])
    provenance = spec.provenance
    assert provenance["generator_seed"] == TRAIN_SEED
    assert provenance["heldout"]["fluidr3"]["seed"] == HELDOUT_FLUIDR3_SEED
    assert provenance["heldout"]["musescore"]["seed"] == HELDOUT_MUSESCORE_SEED


@pytest.mark.parametrize("name", sorted(ARCHITECTURE))
def test_card_states_the_figures_in_the_file(name: str) -> None:
    """The card's figures are the ones written into the model file at training."""
    card = CARDS.read_text().split("\n## ")
    section = next(s for s in card if s.startswith(f"`{name}`") or s.startswith(name))
    heldout = load_model(_model_path(name)).spec.provenance["heldout"]
    metric = "accuracy" if name == "choi2015-genre" else "macro_roc_auc"
    for font in ("fluidr3", "musescore"):
        assert f"{heldout[font][metric]:.3f}" in section, (font, heldout[font][metric])
    assert re.search(r"models/training/train\.py", section)


def _fresh_musescore_set(kind: str, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "styles":
        return datagen.style_dataset(STYLE_CLIPS_PER_STYLE, TEST_SEED, datagen.MUSESCORE, sample_rate, 4.0)
    return datagen.mixture_dataset(TAG_MIXTURES, TEST_SEED, datagen.MUSESCORE, sample_rate, 4.0)


@pytest.mark.slow
def test_genre_model_reaches_its_musescore_figure_on_fresh_clips() -> None:
    model = load_model(_model_path("choi2015-genre"))
    card = model.spec.provenance["heldout"]["musescore"]
    x, y = _fresh_musescore_set("styles", model.front_end.sample_rate)
    assert len(x) >= 40
    acc = accuracy(model_scores(model, x), np.asarray(y))
    # The card's figure and this one are both binomial estimates (card n clips, here len(x)); the margin is
    # 3 standard deviations of their difference at the card's rate, so a sound model fails ~1 run in 700.
    p = card["accuracy"]
    margin = binomial_margin(p, 1) * np.sqrt(1 / len(x) + 1 / card["clips"])
    assert acc >= p - margin, f"accuracy {acc:.3f} on {len(x)} fresh MuseScore clips; card {p:.3f} - {margin:.3f}"
    assert acc > 2.0 / len(datagen.STYLES)  # and well above chance in any case


@pytest.mark.slow
def test_tagger_reaches_its_musescore_figure_on_fresh_mixtures() -> None:
    model = load_model(_model_path("mel-tagger"))
    card = model.spec.provenance["heldout"]["musescore"]
    x, y = _fresh_musescore_set("tags", model.front_end.sample_rate)
    y = np.asarray(y)
    assert len(x) >= 40
    scores = model_scores(model, x)
    auc = macro_roc_auc(scores, y)
    # Margin: 3 Hanley-McNeil standard errors of a tag's AUC at this test's positives/negatives, averaged over
    # the tags (no credit taken for averaging, since the tags' errors are correlated), widened by the card's own
    # spread at its size.
    present = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    a = card["macro_roc_auc"]
    ours = np.mean([auc_margin(a, int(y[:, j].sum()), int(len(y) - y[:, j].sum())) for j in present])
    scale = np.sqrt(1 + len(x) / card["clips"])
    margin = float(ours * scale)
    aucs = per_tag_auc(scores, y)
    assert auc >= a - margin, f"macro AUC {auc:.3f} (per tag {np.round(aucs, 2)}); card {a:.3f} - {margin:.3f}"
    assert auc > 0.6
