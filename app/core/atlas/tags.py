"""Corpus tags: per map, the corpus labels over-represented among the clips of its top excerpts, with counts and a
one-sided hypergeometric p-value (Fisher's exact test): a suggested tag beside the acoustic ones."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.core.atlas.store import AtlasFile


@dataclass(frozen=True)
class CorpusTag:
    """Label ``label`` on ``hits`` of the ``top`` distinct clips among map ``(layer, map)``'s excerpts, against
    ``labelled`` of the ``corpus`` scanned clips; ``p_value``: the chance of at least ``hits`` by drawing ``top``
    clips at random from the corpus."""

    layer: int
    map: int
    label: str
    hits: int
    top: int
    labelled: int
    corpus: int
    p_value: float

    @property
    def enrichment(self) -> float:
        """How many times more often the label is among the top clips than in the corpus."""
        return (self.hits / self.top) / (self.labelled / self.corpus)


def hypergeometric_tail(hits: int, top: int, labelled: int, corpus: int) -> float:
    """P(X >= hits) for X ~ Hypergeometric(corpus, labelled, top)."""
    from scipy.stats import hypergeom

    return float(hypergeom.sf(hits - 1, corpus, labelled, top))


def corpus_tags(atlas: AtlasFile, *, alpha: float = 0.05) -> list[CorpusTag]:
    """Every (map, label) over-represented among the map's top clips with ``p_value <= alpha``, best first per map.

    The corpus is the scanned clips (skipped ones have no excerpts); a clip with several top windows counts once.
    """
    clips = [c for c in atlas.clips() if c.status == "done"]
    labels_of = {c.sha256: set(c.labels) for c in clips}
    counts = label_counts(c.labels for c in clips)
    out: list[CorpusTag] = []
    if not counts:
        return out
    for layer, index, _ in atlas.maps():
        top_clips = list(dict.fromkeys(h.clip for h in atlas.hits(layer, index)))
        out.extend(map_tags(layer, index, [labels_of.get(sha, set()) for sha in top_clips], counts, len(clips), alpha))
    return out


def label_counts(labels: Iterable[Collection[str]]) -> dict[str, int]:
    """How many clips carry each label, from each clip's labels."""
    counts: dict[str, int] = {}
    for clip_labels in labels:
        for label in set(clip_labels):
            counts[label] = counts.get(label, 0) + 1
    return counts


def map_tags(
    layer: int,
    index: int,
    top_labels: Sequence[Collection[str]],
    counts: Mapping[str, int],
    corpus: int,
    alpha: float = 0.05,
) -> list[CorpusTag]:
    """Map ``(layer, index)``'s over-represented labels, best first: ``top_labels`` holds the labels of each of its
    distinct top clips, ``counts`` how many of the ``corpus`` scanned clips carry each label."""
    found: list[CorpusTag] = []
    top = len(top_labels)
    for label, labelled in counts.items():
        hits = sum(label in labels for labels in top_labels)
        if hits == 0 or hits / top <= labelled / corpus:
            continue
        p = hypergeometric_tail(hits, top, labelled, corpus)
        if p <= alpha:
            found.append(CorpusTag(layer, index, label, hits, top, labelled, corpus, p))
    return sorted(found, key=lambda t: (t.p_value, t.label))
