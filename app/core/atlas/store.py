"""The atlas file: one SQLite database (stdlib ``sqlite3``).

Tables: ``meta`` (the model's SHA-256, name and source, its front end as JSON, k and the windows), ``clips`` (path,
SHA-256, duration, corpus labels as JSON, ``done`` or ``skipped`` with the reason), ``maps`` (layer, map, layer name)
and ``hits`` (layer, map, clip hash, window start/end in seconds and frames, peak, its time and frequency, mean).
Each batch of clips lands in one transaction with the hits it changes: a build killed at any instant leaves the atlas
as it was after the last whole batch.
"""

from __future__ import annotations

import contextlib
import json
import operator
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


# a rank already held is updated in place (a third cheaper than INSERT OR REPLACE's delete and insert)
_UPSERT_HIT = (
    'INSERT INTO hits (clip, start_frame, n_frames, start, "end", peak, peak_time, peak_frequency, mean, layer, '
    "map, rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (layer, map, rank) DO UPDATE SET "
    "clip = excluded.clip, start_frame = excluded.start_frame, n_frames = excluded.n_frames, start = excluded.start, "
    '"end" = excluded."end", peak = excluded.peak, peak_time = excluded.peak_time, '
    "peak_frequency = excluded.peak_frequency, mean = excluded.mean"
)
# a hit's columns in _UPSERT_HIT's order, read in C (layer, map and rank follow)
_HIT_ROW = operator.attrgetter(
    "clip", "start_frame", "n_frames", "start", "end", "peak", "peak_time", "peak_frequency", "mean"
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
        new_file = create and not self.path.exists()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._building = create
            if create:
                self._db.executescript(SCHEMA)
                # A build commits every few clips: in WAL mode with synchronous NORMAL a commit is an append, no
                # fsync, and still atomic; a killed build keeps every committed batch (the log is in the OS's
                # hands; only a power cut may lose the last few), and the next open replays the log.
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as err:  # the disk, not the file: full, read-only, an I/O error
            self._abandon(new_file)
            raise AtlasError(self.path, f"cannot write it (SQLite says: {err})") from None
        except sqlite3.DatabaseError as err:
            self._abandon(new_file)
            raise AtlasError(self.path, f"not an atlas (SQLite says: {err})") from None
        if not {"meta", "clips", "maps", "hits"} <= tables:
            self.close()
            raise AtlasError(self.path, "not an atlas (its tables are missing)")
        # each map's hits as this connection last read (`top`) or wrote them; a map not here is rewritten whole
        self._written: dict[tuple[int, int], list[Hit]] = {}

    def _abandon(self, new_file: bool) -> None:
        """After a failed open: the connection closed, and a file this open created removed with its log files
        (a full disk leaves no empty atlas behind)."""
        if hasattr(self, "_db"):
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        if new_file:
            for leftover in (
                self.path,
                *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm", "-journal")),
            ):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def close(self) -> None:
        if self._building:
            # back to one self-contained file (the log folded in and removed), as an atlas is copied and shared;
            # another connection still open (a window showing it) keeps the log: it is folded in later
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA busy_timeout = 200")  # a reader's moment, not the default 5 s
                self._db.execute("PRAGMA journal_mode = DELETE")
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
        self._written = {key: top.hits(*key) for key in top.maps()}  # as stored: commit_batch writes what differs
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
        """One batch, all or nothing: its clips, and the changed maps' hits rewritten from ``top``.

        Only the ranks that differ from what this connection last read or wrote are written (a hit entering at
        rank r moves r and below; the ranks above stay): half the rows of a full rewrite on average."""
        rows: list[tuple[object, ...]] = []
        cut: list[tuple[int, int, int]] = []  # (layer, map, from rank): rows to delete first
        written: dict[tuple[int, int], list[Hit]] = {}
        for layer, index in sorted(changed):
            new = top.hits(layer, index)
            old = self._written.get((layer, index))
            first = 0 if old is None else _first_difference(old, new)
            if old is None or len(new) < len(old):  # not known (or, never for a top k, shorter): from ``first`` on
                cut.append((layer, index, first))
            rows.extend((*_HIT_ROW(h), layer, index, rank) for rank, h in enumerate(new[first:], start=first))
            written[(layer, index)] = new
        with self._sql("write it"), self._transaction():
            self._db.executemany(
                "INSERT INTO clips (path, sha256, duration, labels, status, reason) VALUES (?, ?, ?, ?, ?, ?)",
                [(c.path, c.sha256, c.duration, json.dumps(list(c.labels)), c.status, c.reason) for c in clips],
            )
            # three statements for the whole batch, not two per changed map
            self._db.executemany("DELETE FROM hits WHERE layer = ? AND map = ? AND rank >= ?", cut)
            self._db.executemany(_UPSERT_HIT, rows)
        self._written.update(written)  # only once the transaction holds

    def contents(self) -> AtlasContents:
        """Everything that defines the atlas, in an order independent of how it was built (to compare two)."""
        clips = sorted((c.sha256 or "", c.path, c.duration, c.labels, c.status, c.reason) for c in self.clips())
        hits = list(self._db.execute(f"SELECT rank, {_HIT_COLUMNS} FROM hits ORDER BY layer, map, rank"))
        return {"meta": self.meta, "maps": self.maps(), "clips": clips, "hits": hits}

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _first_difference(old: list[Hit], new: list[Hit]) -> int:
    """The first rank at which ``new`` holds another hit than ``old`` (``len`` of the shorter when one is the
    other's start)."""
    for rank, (a, b) in enumerate(zip(old, new, strict=False)):
        if a is not b and a != b:
            return rank
    return min(len(old), len(new))


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
