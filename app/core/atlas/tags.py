"""Corpus tags: per map, the corpus labels over-represented among the clips of its top excerpts, with counts and a
one-sided hypergeometric p-value (Fisher's exact test): a suggested tag beside the acoustic ones."""

from __future__ import annotations

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
    corpus = len(clips)
    counts: dict[str, int] = {}
    for c in clips:
        for label in c.labels:
            counts[label] = counts.get(label, 0) + 1
    out: list[CorpusTag] = []
    if not counts:
        return out
    for layer, index, _ in atlas.maps():
        top_clips = list(dict.fromkeys(h.clip for h in atlas.hits(layer, index)))
        found: list[CorpusTag] = []
        for label, labelled in counts.items():
            hits = sum(label in labels_of.get(sha, ()) for sha in top_clips)
            if hits == 0 or hits / len(top_clips) <= labelled / corpus:
                continue
            p = hypergeometric_tail(hits, len(top_clips), labelled, corpus)
            if p <= alpha:
                found.append(CorpusTag(layer, index, label, hits, len(top_clips), labelled, corpus, p))
        out.extend(sorted(found, key=lambda t: (t.p_value, t.label)))
    return out
