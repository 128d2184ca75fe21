"""The atlas file: one SQLite database (stdlib ``sqlite3``).

Tables: ``meta`` (the model's SHA-256, name and source, its front end as JSON, k and the windows), ``clips`` (path,
SHA-256, duration, corpus labels as JSON, ``done`` or ``skipped`` with the reason), ``maps`` (layer, map, layer name)
and ``hits`` (layer, map, clip hash, window start/end in seconds and frames, peak, its time and frequency, mean).
Each batch of clips lands in one transaction with the hits it changes: a build killed at any instant leaves the atlas
as it was after the last whole batch.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

from app.core.atlas.topk import Hit, TopK
from app.core.errors import AtlasError

FORMAT = "aurascope-atlas"
VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT UNIQUE,
    duration REAL,
    labels TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL CHECK (status IN ('done', 'skipped')),
    reason TEXT
);
CREATE TABLE IF NOT EXISTS maps (layer INTEGER, map INTEGER, layer_name TEXT, PRIMARY KEY (layer, map));
CREATE TABLE IF NOT EXISTS hits (
    layer INTEGER NOT NULL,
    map INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    clip TEXT NOT NULL REFERENCES clips (sha256),
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    start_frame INTEGER NOT NULL,
    n_frames INTEGER NOT NULL,
    peak REAL NOT NULL,
    peak_time REAL NOT NULL,
    peak_frequency REAL NOT NULL,
    mean REAL NOT NULL,
    PRIMARY KEY (layer, map, rank)
);
"""

_HIT_COLUMNS = (
    'layer, map, clip, start_frame, n_frames, start, "end", peak, peak_time, peak_frequency, mean'  # Hit's order
)


class AtlasMeta(TypedDict, total=False):
    """What an atlas was built with (its ``meta`` table, one JSON value a key), as `app.core.atlas.build` writes it.

    Not every key need be there in a file read back (the format and version are added by `AtlasFile.claim`), so
    readers use ``.get``."""

    format: str
    version: int
    model_sha256: str
    model_name: str
    model_source: str | None  # how to open the model again: a path or module:callable
    model_weights: str | None
    model_front_end: str | None
    front_end: dict[str, Any]  # `FrontEnd.to_dict`: checked by `FrontEnd.from_dict` where it is used
    k: int
    window_frames: int
    hop_frames: int
    overlap: float


class AtlasContents(TypedDict):
    """Everything that defines an atlas, in an order independent of how it was built (`AtlasFile.contents`)."""

    meta: AtlasMeta
    maps: list[tuple[int, int, str]]
    clips: list[tuple[str, str, float | None, tuple[str, ...], str, str | None]]
    hits: list[tuple[object, ...]]  # a row of the hits table: rank then its columns


@dataclass(frozen=True)
class ClipEntry:
    """A clip as the atlas holds it: ``status`` ``done`` (scanned) or ``skipped`` (``reason`` says why)."""

    path: str
    sha256: str | None
    duration: float | None
    labels: tuple[str, ...]
    status: str
    reason: str | None = None


class AtlasFile:
    """An open atlas (created if missing). ``meta`` must match an existing atlas's, else :class:`AtlasError`."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise AtlasError(self.path, "no such file")
        if create and not self.path.parent.is_dir():
            raise AtlasError(self.path, f"the folder '{self.path.parent}' does not exist")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            if create:
                self._db.executescript(SCHEMA)
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            raise AtlasError(self.path, f"not an atlas (SQLite says: {err})") from None
        if not {"meta", "clips", "maps", "hits"} <= tables:
            self.close()
            raise AtlasError(self.path, "not an atlas (its tables are missing)")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _sql(self, doing: str) -> Iterator[None]:
        """A damaged file, a full disk or a locked database as an :class:`AtlasError` naming the file."""
        try:
            yield
        except sqlite3.Error as err:
            raise AtlasError(self.path, f"cannot {doing} (SQLite says: {err})") from None

    def __enter__(self) -> AtlasFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what the atlas was built with --------------------------------------------------------
    @property
    def meta(self) -> AtlasMeta:
        with self._sql("read it"):
            rows = self._db.execute("SELECT key, value FROM meta")
            return cast(AtlasMeta, {key: json.loads(value) for key, value in rows})

    def claim(self, meta: AtlasMeta, maps: Sequence[tuple[int, int, str]]) -> None:
        """Stamp a new atlas with ``meta`` and its maps, or check an existing one was built the same way."""
        meta = {"format": FORMAT, "version": VERSION, **meta}
        old = self.meta
        if old:
            for key in ("format", "model_sha256", "front_end", "k", "window_frames", "hop_frames"):
                if old.get(key) != meta.get(key):
                    raise AtlasError(
                        self.path,
                        f"it was built with {key} {old.get(key)!r}, this build has {meta.get(key)!r} "
                        "(use another output file)",
                    )
            return
        with self._sql("write it"), self._transaction():
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            self._db.executemany("INSERT INTO maps VALUES (?, ?, ?)", maps)

    # --- clips ---------------------------------------------------------------------------------
    def known_hashes(self) -> set[str]:
        with self._sql("read its clips"):
            return {row[0] for row in self._db.execute("SELECT sha256 FROM clips WHERE sha256 IS NOT NULL")}

    def clips(self) -> list[ClipEntry]:
        with self._sql("read its clips"):
            rows = self._db.execute("SELECT path, sha256, duration, labels, status, reason FROM clips ORDER BY id")
            return [ClipEntry(p, s, d, tuple(json.loads(lab)), st, r) for p, s, d, lab, st, r in rows]

    def clip(self, sha256: str) -> ClipEntry:
        with self._sql("read its clips"):
            row = self._db.execute(
                "SELECT path, sha256, duration, labels, status, reason FROM clips WHERE sha256 = ?", (sha256,)
            ).fetchone()
        if row is None:
            raise AtlasError(self.path, f"no clip with hash {sha256[:12]}")
        p, s, d, lab, st, r = row
        return ClipEntry(p, s, d, tuple(json.loads(lab)), st, r)

    # --- hits ----------------------------------------------------------------------------------
    def top(self) -> TopK:
        """The whole atlas as a :class:`TopK` (to continue a build)."""
        top = TopK(int(self.meta.get("k", 1)))
        with self._sql("read its excerpts"):
            top.add(Hit(*row) for row in self._db.execute(f"SELECT {_HIT_COLUMNS} FROM hits"))
        return top

    def hits(self, layer: int, index: int) -> list[Hit]:
        """Map ``(layer, index)``'s hits, best first."""
        with self._sql("read its excerpts"):
            rows = self._db.execute(
                f"SELECT {_HIT_COLUMNS} FROM hits WHERE layer = ? AND map = ? ORDER BY rank", (layer, index)
            )
            return [Hit(*row) for row in rows]

    def maps(self) -> list[tuple[int, int, str]]:
        with self._sql("read its maps"):
            return list(self._db.execute("SELECT layer, map, layer_name FROM maps ORDER BY layer, map"))

    def commit_batch(self, clips: Iterable[ClipEntry], top: TopK, changed: Iterable[tuple[int, int]]) -> None:
        """One batch, all or nothing: its clips, and the changed maps' hits rewritten from ``top``."""
        with self._sql("write it"), self._transaction():
            self._db.executemany(
                "INSERT INTO clips (path, sha256, duration, labels, status, reason) VALUES (?, ?, ?, ?, ?, ?)",
                [(c.path, c.sha256, c.duration, json.dumps(list(c.labels)), c.status, c.reason) for c in clips],
            )
            rewritten = sorted(changed)
            # two statements for the whole batch, not two per changed map
            self._db.executemany("DELETE FROM hits WHERE layer = ? AND map = ?", rewritten)
            self._db.executemany(
                'INSERT INTO hits (rank, clip, start_frame, n_frames, start, "end", peak, peak_time, '
                "peak_frequency, mean, layer, map) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        rank,
                        h.clip,
                        h.start_frame,
                        h.n_frames,
                        h.start,
                        h.end,
                        h.peak,
                        h.peak_time,
                        h.peak_frequency,
                        h.mean,
                        layer,
                        index,
                    )
                    for layer, index in rewritten
                    for rank, h in enumerate(top.hits(layer, index))
                ],
            )

    def contents(self) -> AtlasContents:
        """Everything that defines the atlas, in an order independent of how it was built (to compare two)."""
        clips = sorted((c.sha256 or "", c.path, c.duration, c.labels, c.status, c.reason) for c in self.clips())
        hits = list(self._db.execute(f"SELECT rank, {_HIT_COLUMNS} FROM hits ORDER BY layer, map, rank"))
        return {"meta": self.meta, "maps": self.maps(), "clips": clips, "hits": hits}

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
