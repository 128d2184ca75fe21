"""Corpus tags on an atlas with known answers: a label that fills a map's top clips gets the exact hypergeometric
p-value; a label spread as in the corpus gets no tag."""

from __future__ import annotations

from math import comb
from pathlib import Path

import pytest

from app.core.atlas import Hit, TopK
from app.core.atlas.store import AtlasFile, ClipEntry
from app.core.atlas.tags import corpus_tags


def _hit(layer: int, index: int, clip: str, peak: float) -> Hit:
    return Hit(layer, index, clip, 0, 87, 0.0, 2.0, peak, 1.0, 440.0, peak / 2)


@pytest.fixture
def atlas(tmp_path: Path) -> AtlasFile:
    atlas = AtlasFile(tmp_path / "t.atlas", create=True)
    atlas.claim({"model_sha256": "m", "k": 4}, [(1, 0, "conv1"), (1, 1, "conv1")])
    clips = [
        ClipEntry(f"/c/{i}.wav", f"{i:064x}", 3.0, ("drums",) if i < 4 else ("strings",) if i < 7 else (), "done")
        for i in range(10)
    ]
    clips.append(ClipEntry("/c/bad.wav", None, None, ("drums",), "skipped", "unreadable"))
    top = TopK(4)
    # map 0: its top 4 clips are the 4 drum clips; map 1: 2 drums, 1 strings, 1 unlabelled (as in the corpus)
    changed = top.add(_hit(1, 0, clips[i].sha256, 10.0 - i) for i in (0, 1, 2, 3, 5, 8))
    changed |= top.add(_hit(1, 1, clips[i].sha256, 10.0 - n) for n, i in enumerate((0, 1, 4, 9)))
    atlas.commit_batch(clips, top, changed)
    return atlas


def test_a_label_filling_a_maps_top_clips_is_its_tag(atlas: AtlasFile) -> None:
    tags = corpus_tags(atlas)
    assert [(t.layer, t.map, t.label) for t in tags] == [(1, 0, "drums")]
    tag = tags[0]
    assert (tag.hits, tag.top, tag.labelled, tag.corpus) == (4, 4, 4, 10)  # the skipped clip is not in the corpus
    assert tag.p_value == pytest.approx(comb(4, 4) * comb(6, 0) / comb(10, 4), rel=1e-9)  # = 1/210
    assert tag.enrichment == pytest.approx(2.5)
    loose = corpus_tags(atlas, alpha=1.0)
    drums_1 = next(t for t in loose if (t.map, t.label) == (1, "drums"))
    # 2 of 4 drums vs 4 of 10: P(X >= 2) = 1 - P(0) - P(1)
    assert drums_1.p_value == pytest.approx(1 - (comb(6, 4) + 4 * comb(6, 3)) / comb(10, 4), rel=1e-9)
    assert not any(t.map == 1 and t.label == "strings" for t in loose)  # 1 of 4 is under the corpus's 3 of 10
