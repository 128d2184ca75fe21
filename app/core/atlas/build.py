"""Building an atlas: list the corpus, skip what the atlas already holds (by hash), scan the rest with an engine,
and commit per batch. An unreadable clip is recorded as skipped with the reason; it never stops the build."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.core.atlas.scan import ScanSettings, scan_clip
from app.core.atlas.store import AtlasFile, AtlasMeta, ClipEntry
from app.core.atlas.topk import EntryFloor, Hit, TopK
from app.core.audio import AUDIO_EXTENSIONS, file_sha256, load_audio
from app.core.errors import AtlasError, AudioLoadError, AurascopeError, first_line

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network

#: Clips per transaction: a killed build loses at most this many clips' work.
DEFAULT_BATCH = 16


@dataclass(frozen=True)
class ModelSource:
    """How a worker (another process, a Ray actor) opens the model itself: what ``--model`` and its options name."""

    model: str
    weights: str | None = None
    front_end: str | None = None

    def open(self) -> Model | Network:
        from app.core.sources import open_model

        return open_model(self.model, weights=self.weights, front_end=self.front_end)


@dataclass(frozen=True)
class ClipResult:
    """One clip's part of the atlas: its hits (at most k per map), or the reason it was skipped."""

    path: str
    sha256: str | None
    duration: float | None
    hits: tuple[Hit, ...] = ()
    reason: str | None = None


def scan_file(
    path: str,
    network: Model | Network,
    settings: ScanSettings,
    *,
    device: str | None = None,
    floor: EntryFloor | None = None,
    sha256: str | None = None,
) -> ClipResult:
    """Load and scan one file; any problem with the file becomes a skipped result naming the reason. ``floor``: the
    corpus's top k so far; windows it already rules out are not offered (the atlas comes out the same).
    ``sha256``: the file's hash when the build has just computed it (not read twice)."""
    try:
        clip = load_audio(path, network.front_end.sample_rate, sha256=sha256)
    except AurascopeError as err:
        return ClipResult(path, _hash_or_none(path), None, reason=first_line(err))
    except (OSError, ValueError, RuntimeError, MemoryError) as err:  # a decoder's own failure on a hostile file
        return ClipResult(path, _hash_or_none(path), None, reason=f"unreadable ({first_line(err)})")
    try:
        top = scan_clip(clip, network, settings, device=device, floor=floor)
    except AurascopeError as err:
        return ClipResult(path, clip.sha256, clip.duration, reason=first_line(err))
    return ClipResult(path, clip.sha256, clip.duration, tuple(top))


def _hash_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


class Engine(Protocol):
    """Runs :func:`scan_file` over paths, anywhere, yielding each result as it comes; results may come in any order
    (the reduction does not care).

    ``floor``: the build's running top k (updated as results come back): an engine may skip windows it already
    beats (no Hit built, the atlas the same). ``hashes``: path -> SHA-256 the build has already read, so a worker
    that sees the same file system need not hash the file again. Both are hints an engine may ignore."""

    def scan(
        self, paths: Sequence[str], *, floor: TopK | None = None, hashes: Mapping[str, str] | None = None
    ) -> Iterator[ClipResult]: ...


class LocalEngine:
    """In this process, with the model already loaded: nothing to install."""

    def __init__(self, network: Model | Network, settings: ScanSettings, *, device: str | None = None) -> None:
        self.network, self.settings, self.device = network, settings, device

    def scan(
        self, paths: Sequence[str], *, floor: TopK | None = None, hashes: Mapping[str, str] | None = None
    ) -> Iterator[ClipResult]:
        hashes = hashes or {}
        for path in paths:
            yield scan_file(path, self.network, self.settings, device=self.device, floor=floor, sha256=hashes.get(path))


@dataclass(frozen=True)
class BuildProgress:
    """``done`` of ``total`` clips handled this run (``skipped`` of them unreadable), after ``seconds``."""

    done: int
    total: int
    skipped: int
    seconds: float

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before the first clip)."""
        if self.done == 0:
            return None
        return self.seconds / self.done * (self.total - self.done)


@dataclass(frozen=True)
class BuildSummary:
    scanned: int
    skipped: int
    already: int
    seconds: float


def corpus_files(items: Sequence[str | Path]) -> list[Path]:
    """The audio files named, folders searched recursively (sorted); a name that is neither is an error."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS))
        elif path.is_file():
            out.append(path)
        else:
            raise AudioLoadError(path, "no such file or folder")
    return list(dict.fromkeys(p.resolve() for p in out))


def read_labels(path: str | Path) -> dict[str, tuple[str, ...]]:
    """A CSV of ``file,label[;label...]`` rows (a file on several rows gathers its labels; a header row starting
    with ``file`` is skipped) -> file name (as written: a name or a path) -> labels."""
    out: dict[str, list[str]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for n, row in enumerate(csv.reader(handle)):
                if not row or (n == 0 and row[0].strip().lower() in {"file", "path", "clip"}):
                    continue
                labels = [lab.strip() for cell in row[1:] for lab in cell.split(";") if lab.strip()]
                out.setdefault(row[0].strip(), []).extend(labels)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise AtlasError(path, f"cannot read the labels CSV ({first_line(err)})") from None
    return {name: tuple(dict.fromkeys(labels)) for name, labels in out.items()}


def _labels_of(path: str, labels: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    p = Path(path)
    return labels.get(str(p)) or labels.get(p.name) or labels.get(p.stem) or ()


def build_atlas(
    output: str | Path,
    corpus: Sequence[str | Path],
    network: Model | Network,
    settings: ScanSettings,
    *,
    engine: Engine | None = None,
    source: ModelSource | None = None,
    batch_size: int = DEFAULT_BATCH,
    labels: Mapping[str, tuple[str, ...]] | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
) -> BuildSummary:
    """Add ``corpus``'s clips to the atlas ``output`` (created if missing), ``batch_size`` clips per transaction.

    Clips the atlas already holds (same SHA-256) are not scanned again, so a killed build resumes where it stopped.
    """
    started = time.perf_counter()
    files = corpus_files(corpus)
    engine = engine or LocalEngine(network, settings)
    labels = labels or {}
    meta: AtlasMeta = {
        "model_sha256": network.sha256,
        "model_name": network.name,
        "model_source": source.model if source else (str(network.path) if network.path else None),
        "model_weights": source.weights if source else None,
        "model_front_end": source.front_end if source else None,
        "front_end": network.front_end.to_dict(),
        "k": settings.k,
        "window_frames": settings.window_frames,
        "hop_frames": settings.hop_frames,
        "overlap": settings.overlap,
    }
    maps = [(layer.number, i, layer.name) for layer in network.layers for i in range(layer.n_maps)]
    with AtlasFile(output, create=True) as atlas:
        atlas.claim(meta, maps)
        known = atlas.known_hashes()
        top = atlas.top()
        todo: list[str] = []
        hashes: dict[str, str] = {}  # handed to the engine: each file is read for its hash once
        seen: set[str] = set()
        for path in files:
            try:
                sha = file_sha256(path)
            except OSError:
                todo.append(str(path))  # unreadable: the engine records why
                continue
            if sha not in known and sha not in seen:
                seen.add(sha)
                todo.append(str(path))
                hashes[str(path)] = sha
        already = len(files) - len(todo)
        done = skipped = 0
        batch_size = max(1, batch_size)
        entries: list[ClipEntry] = []
        changed: set[tuple[int, int]] = set()
        # one stream for the whole build: an engine's workers load the model once; ``top`` is the floor each clip's
        # windows must reach (the running top k: a window it already beats builds no Hit)
        for result in engine.scan(todo, floor=top, hashes=hashes):
            done += 1
            if result.sha256 is None or result.sha256 not in known:  # the same bytes twice count once
                if result.sha256 is not None:
                    known.add(result.sha256)
                status = "skipped" if result.reason else "done"
                skipped += status == "skipped"
                labels_here = _labels_of(result.path, labels)
                entries.append(
                    ClipEntry(result.path, result.sha256, result.duration, labels_here, status, result.reason)
                )
                changed |= top.add(result.hits)
            if len(entries) >= batch_size or done == len(todo):
                atlas.commit_batch(entries, top, changed)
                entries, changed = [], set()
                if on_progress is not None:
                    on_progress(BuildProgress(done, len(todo), skipped, time.perf_counter() - started))
    return BuildSummary(done - skipped, skipped, already, time.perf_counter() - started)
