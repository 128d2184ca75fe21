"""Listening sessions: the clips, the model, what is selected, what the listener wrote about each map, and what
the machine suggested, in one ``.aurascope`` JSON file. No Qt, no torch (the window reads it on its GUI thread).

This module is the session DOCUMENT (what the window edits in memory). Its FILE FORMAT (the declaration, reading,
validation and writing) is :mod:`app.core.formats.session`, published as ``docs/formats/session.schema.json``.
Version 1 (keys in this order; unknown keys are ignored, so a version-1 reader reads later additions that keep
the version number)::

    {"format": "aurascope-session", "version": 1, "saved_by": "aurascope 0.1.0", "saved_at": ISO-8601 UTC,
     "autosave_of": null | "<name of the session file this autosave belongs to>",
     "model": null | {"path": "<relative to the session's folder when possible>", "absolute": "<abs path>",
                      "sha256": "<64 hex>", "size": bytes},
     "model_module": null | {"source": "package.module:callable", "search_folder": null | "<folder>",
                             "front_end": {file as above}, "weights": null | {file as above}},  # the user's code
     "clips": [{"path", "absolute", "sha256", "size"}, ...],
     "selection": {"clip": sha256 | null, "layer": int >= 1 | null, "index": int >= 0 | null,
                   "compare": null | {"layer", "index"}, "playhead_s": float >= 0},
     "maps": {"L2F17": {"label": str, "notes": str, "rating": null | 1..5}, ...},     # the listener's words
     "suggested_tags": {"L2F17": [{"tag", "figure", "value", "threshold", "op", "detail", "clip_sha256",
                                   "clip_name", "support", "of"}, ...], ...},         # the machine's, apart
     "playback": {"slot": "A" | "B" | "R", "mode": "choi" | "magnitude", "loudness_match": bool,
                  "volume": 0..1, "loop": bool, "full_quality_a": bool},
     "loops": [{"clip": sha256, "start_s": float, "end_s": float}, ...],             # one region per clip
     "abx": [{"layer", "index", "clip", "clip_name", "seed", "planned_trials", "gain_db", "gain_a_db",
              "level_difference_lu": float | null (measured A vs B as played, LU), "mode", "loop",
              "answers": [{"x": "A"|"B", "answer": "A"|"B", "seconds": float | null}, ...],
              "correct", "trials", "p_value", "finished_at"}, ...],
     "atlas": null | {file as above}}   # the corpus atlas of the Top excerpts panel (absent in older sessions)

Files are found again on load in this order: the stored path (relative to the session's folder, then the
absolute one), the same name beside the session file, then any file of the same size and SHA-256 in the
session's folder tree; a file found nowhere is reported by name and kept in the session (so saving does not
drop it). Loading never writes; saving writes a temporary file in the same folder, fsyncs it, renames it over
the target and fsyncs the folder, so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypedDict, Unpack

from app import __version__
from app.core.errors import SessionError
from app.core.formats.session import (
    FORMAT,
    VERSION,
    AbxEntry,
    FileEntry,
    SessionFile,
    read_session_file,
    write_session_file,
)
from app.core.types import AbxAnswer, AbxDoc, AbxResult, Choice, FeatureRef, SuggestedTag, TagDoc

SUFFIX = ".aurascope"
AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_AUTOSAVE = "untitled.aurascope.autosave"
MAX_RECENT = 8
SEARCH_LIMIT = 20000  # files looked at when searching the session's folder tree for a moved file


# --- values ----------------------------------------------------------------------------------------------
class FileStatus(StrEnum):
    """Where a file named in a session was found on load."""

    FOUND = "found"  # at its stored path, same content
    MOVED = "moved"  # found elsewhere (beside the session, or by SHA-256 in its folder tree)
    CHANGED = "changed"  # at its stored path but the content differs from when the session was saved
    MISSING = "missing"  # nowhere


@dataclass(frozen=True)
class FileRef:
    """A file the session uses: its absolute path (where it is, or was last seen) and its SHA-256."""

    path: Path
    sha256: str
    size: int | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def of(cls, path: str | Path, sha256: str | None = None) -> FileRef:
        """Describe an existing file (its hash is computed unless given)."""
        from app.core.audio import file_sha256

        p = Path(path).resolve()
        return cls(p, sha256 or file_sha256(p), p.stat().st_size)


@dataclass(frozen=True)
class ModuleModel:
    """A network given as the user's ``package.module:callable`` (trusted code), its front-end sidecar, optional
    weights, and the folder it is imported from."""

    source: str
    front_end: FileRef
    weights: FileRef | None = None
    search_folder: Path | None = None


@dataclass(frozen=True)
class Located:
    """What loading found for one file: ``kind`` is "clip" or "model"."""

    kind: str
    name: str
    stored: str
    status: FileStatus
    path: Path

    def message(self) -> str:
        """One line for the user, or "" when there is nothing to say."""
        if self.status is FileStatus.MOVED:
            return f"{self.kind} '{self.name}' was not at '{self.stored}'; found it at '{self.path}'"
        if self.status is FileStatus.CHANGED:
            return f"{self.kind} '{self.name}' at '{self.path}' has changed since the session was saved"
        if self.status is FileStatus.MISSING:
            return f"{self.kind} '{self.name}' is missing (was at '{self.stored}')"
        return ""


@dataclass(frozen=True)
class MapNotes:
    """What the listener wrote about one map."""

    label: str = ""
    notes: str = ""
    rating: int | None = None  # 1..5

    @property
    def empty(self) -> bool:
        return not self.label and not self.notes and self.rating is None


@dataclass(frozen=True)
class Selection:
    """The map on screen, on which clip, the map compared with it (Shift-click), and the playhead (s)."""

    clip: str | None = None  # a clip's sha256
    layer: int | None = None
    index: int | None = None
    compare: FeatureRef | None = None
    playhead_s: float = 0.0


@dataclass(frozen=True)
class PlaybackSettings:
    """The transport's state worth keeping with a session."""

    slot: str = "B"  # A original, B feature, R residual
    mode: str = "choi"
    loudness_match: bool = True
    volume: float = 0.8
    loop: bool = False
    full_quality_a: bool = False


class FileDoc(TypedDict):
    """A file as a session file names it: ``path`` relative to the session's folder when possible."""

    path: str
    absolute: str
    sha256: str
    size: int | None


class ModuleDoc(TypedDict):
    """A module:callable network as a session file names it (see `FileDoc`)."""

    source: str
    search_folder: str | None
    front_end: FileDoc
    weights: FileDoc | None


class SessionDoc(TypedDict):
    """A session file's JSON document, as `Session.to_dict` writes it (validated on reading by
    `app.core.formats.session`); tags and A/B/X runs are their own ``to_dict``'s documents."""

    format: str
    version: int
    saved_by: str
    saved_at: str
    autosave_of: str | None
    model: FileDoc | None
    model_module: ModuleDoc | None
    clips: list[FileDoc]
    selection: dict[str, object]  # clip, layer, index, compare {layer, index}, playhead_s
    maps: dict[str, dict[str, object]]  # "(layer, index)" -> label, notes, rating
    suggested_tags: dict[str, list[TagDoc]]
    playback: dict[str, object]  # the PlaybackState fields
    loops: list[dict[str, object]]  # clip, start_s, end_s
    abx: list[AbxDoc]
    atlas: FileDoc | None


class SelectionChange(TypedDict, total=False):
    """The fields of :class:`Selection` a change may set (``compare`` also as a ``(layer, index)`` pair)."""

    clip: str | None
    layer: int | None
    index: int | None
    compare: FeatureRef | tuple[int, int] | None
    playhead_s: float


class PlaybackChange(TypedDict, total=False):
    """The fields of :class:`PlaybackSettings` a change may set."""

    slot: str
    mode: str
    loudness_match: bool
    volume: float
    loop: bool
    full_quality_a: bool


@dataclass(frozen=True)
class LoopRegion:
    start_s: float
    end_s: float


# --- the session -----------------------------------------------------------------------------------------
@dataclass(eq=False)
class Session:
    """A listening session, edited in place. Every change goes through a method that bumps ``revision``;
    ``dirty`` says whether there is anything unsaved (the window autosaves when it turns true).

    ``path`` is where it was loaded from or last saved (None for an untitled one); ``located`` says, after a
    load, where each file was found.
    """

    model: FileRef | None = None
    model_module: ModuleModel | None = None  # instead of ``model`` when the network is the user's own module
    clips: list[FileRef] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    maps: dict[FeatureRef, MapNotes] = field(default_factory=dict)
    suggestions: dict[FeatureRef, tuple[SuggestedTag, ...]] = field(default_factory=dict)
    playback: PlaybackSettings = field(default_factory=PlaybackSettings)
    loops: dict[str, LoopRegion] = field(default_factory=dict)
    abx: list[AbxResult] = field(default_factory=list)
    atlas: FileRef | None = None  # the corpus atlas the window's Top excerpts panel shows
    path: Path | None = None
    located: tuple[Located, ...] = ()
    revision: int = 0
    saved_revision: int = 0

    # --- state ---------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.revision != self.saved_revision

    def _changed(self) -> None:
        self.revision += 1

    @property
    def missing(self) -> list[str]:
        """Names of the files that were not found on load."""
        return [loc.name for loc in self.located if loc.status is FileStatus.MISSING]

    def problems(self) -> list[str]:
        """One line per file that was moved, changed or missing at load (for a banner)."""
        return [m for m in (loc.message() for loc in self.located) if m]

    # --- files -----------------------------------------------------------------------------------------
    def set_model(self, path: str | Path, sha256: str | None = None) -> FileRef:
        """Use this model file. Suggestions made for another model (a different hash) are dropped; labels stay."""
        ref = FileRef.of(path, sha256)
        if self.model is None or self.model.sha256 != ref.sha256:
            self.suggestions.clear()
        self.model = ref
        self.model_module = None
        self._changed()
        return ref

    def set_module_model(
        self,
        source: str,
        front_end: str | Path,
        weights: str | Path | None = None,
        search_folder: str | Path | None = None,
        weights_sha256: str | None = None,
    ) -> ModuleModel:
        """Use the user's own ``package.module:callable`` network. Suggestions for another network are dropped.
        ``weights_sha256``: the weights' hash when the caller has it (weights files are large)."""
        module = ModuleModel(
            source,
            FileRef.of(front_end),
            FileRef.of(weights, weights_sha256) if weights is not None else None,
            Path(search_folder).resolve() if search_folder is not None else None,
        )
        if self.model_module != module:
            self.suggestions.clear()
        self.model_module = module
        self.model = None
        self._changed()
        return module

    def add_clip(self, path: str | Path, sha256: str | None = None) -> FileRef:
        """Add a clip (a file already in the session, by content, is not added twice)."""
        ref = FileRef.of(path, sha256)
        for existing in self.clips:
            if existing.sha256 == ref.sha256:
                return existing
        self.clips.append(ref)
        if self.selection.clip is None:
            self.selection = replace(self.selection, clip=ref.sha256)
        self._changed()
        return ref

    def relocate_clip(self, sha256: str, path: str | Path) -> FileRef:
        """The clip ``sha256`` is now at ``path`` (the listener found it); raises SessionError if it is another file."""
        for i, existing in enumerate(self.clips):
            if existing.sha256 == sha256:
                found = FileRef.of(path)
                if found.sha256 != sha256:
                    raise SessionError(found.path, f"this is not the clip '{existing.name}' (its SHA-256 differs)")
                self.clips[i] = found
                self.located = tuple(loc for loc in self.located if loc.path != existing.path)
                self._changed()
                return found
        raise KeyError(sha256)

    def remove_clip(self, sha256: str) -> None:
        """Drop a clip with its loop region; the selection moves to the first remaining clip."""
        before = len(self.clips)
        self.clips = [c for c in self.clips if c.sha256 != sha256]
        if len(self.clips) == before:
            raise KeyError(f"no clip with SHA-256 {sha256[:12]} in the session")
        self.loops.pop(sha256, None)
        if self.selection.clip == sha256:
            self.selection = replace(self.selection, clip=self.clips[0].sha256 if self.clips else None)
        self._changed()

    def set_atlas(self, path: str | Path | None, sha256: str | None = None) -> None:
        """Remember the corpus atlas (None forgets it). An atlas grows with every build, so its SHA-256 only says
        whether it changed since the session was saved; ``sha256`` when the caller has hashed it already."""
        ref = FileRef.of(path, sha256) if path is not None else None
        if ref != self.atlas:
            self.atlas = ref
            self._changed()

    def clip(self, sha256: str) -> FileRef:
        for c in self.clips:
            if c.sha256 == sha256:
                return c
        raise KeyError(f"no clip with SHA-256 {sha256[:12]} in the session")

    # --- selection and playback ----------------------------------------------------------------------------
    def select(self, **changes: Unpack[SelectionChange]) -> None:
        """Change the selection: ``clip``, ``layer``, ``index``, ``compare`` ((layer, index) or None),
        ``playhead_s``."""
        compare = changes.get("compare")
        if compare is not None:
            changes["compare"] = FeatureRef.of(compare)
        new = replace(self.selection, **changes)
        if new != self.selection:
            self.selection = new
            self._changed()

    def set_playback(self, **changes: Unpack[PlaybackChange]) -> None:
        """Change playback settings by name (see :class:`PlaybackSettings`)."""
        new = replace(self.playback, **changes)
        if new != self.playback:
            self.playback = new
            self._changed()

    def set_loop(self, clip_sha256: str, start_s: float, end_s: float) -> None:
        if not (math.isfinite(start_s) and math.isfinite(end_s) and 0 <= start_s < end_s):
            raise ValueError(f"a loop region needs 0 <= start < end, got {start_s}..{end_s}")
        self.loops[clip_sha256] = LoopRegion(float(start_s), float(end_s))
        self._changed()

    def clear_loop(self, clip_sha256: str) -> None:
        if self.loops.pop(clip_sha256, None) is not None:
            self._changed()

    # --- what the listener writes ---------------------------------------------------------------------------
    def notes_for(self, ref: FeatureRef | str) -> MapNotes:
        """The listener's label, notes and rating of a map (a ``FeatureRef`` or its name, ``"L2F17"``)."""
        return self.maps.get(FeatureRef.of(ref), MapNotes())

    def set_label(self, ref: FeatureRef | str, label: str) -> None:
        self._edit(ref, label=str(label))

    def set_notes(self, ref: FeatureRef | str, notes: str) -> None:
        self._edit(ref, notes=str(notes))

    def set_rating(self, ref: FeatureRef | str, rating: int | None) -> None:
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
            raise ValueError(f"a rating is 1-5 or None, got {rating!r}")
        self._edit(ref, rating=rating)

    def _edit(self, ref: FeatureRef | str, **changes: str | int | None) -> None:
        key = FeatureRef.of(ref)
        old = self.maps.get(key, MapNotes())
        new = replace(old, **changes)
        if new == old:
            return
        if new.empty:
            self.maps.pop(key, None)
        else:
            self.maps[key] = new
        self._changed()

    # --- what the machine suggests (kept apart: never touches labels) ------------------------------------------
    def suggestions_for(self, ref: FeatureRef | str) -> tuple[SuggestedTag, ...]:
        return self.suggestions.get(FeatureRef.of(ref), ())

    def set_suggestions(self, suggestions: Mapping[FeatureRef, Iterable[SuggestedTag]]) -> None:
        """Store suggested tags per map (e.g. ``Characterisation.suggestions()``), replacing those maps' old ones.

        The listener's labels, notes and ratings are never changed here.
        """
        for ref, tags in suggestions.items():
            key = FeatureRef.of(ref)
            tags = tuple(tags)
            if tags:
                self.suggestions[key] = tags
            else:
                self.suggestions.pop(key, None)
        self._changed()

    def labelled(self) -> list[FeatureRef]:
        """Maps with a label, notes or rating, in order."""
        return sorted(self.maps)

    # --- A/B/X ------------------------------------------------------------------------------------------------
    def add_abx(self, result: AbxResult) -> None:
        self.abx.append(result)
        self._changed()

    def abx_for(self, ref: FeatureRef | str) -> list[AbxResult]:
        key = FeatureRef.of(ref)
        return [r for r in self.abx if r.ref == key]

    # --- files on disk ------------------------------------------------------------------------------------------
    def to_dict(self, base: Path | None = None, *, autosave_of: str | None = None) -> SessionDoc:
        """The JSON document; file paths relative to ``base`` (the folder the file will be in) when possible."""
        s = self.selection
        return {
            "format": FORMAT,
            "version": VERSION,
            "saved_by": f"aurascope {__version__}",
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "autosave_of": autosave_of,
            "model": _file_dict(self.model, base) if self.model else None,
            "model_module": _module_dict(self.model_module, base) if self.model_module else None,
            "clips": [_file_dict(c, base) for c in self.clips],
            "selection": {
                "clip": s.clip,
                "layer": s.layer,
                "index": s.index,
                "compare": {"layer": s.compare[0], "index": s.compare[1]} if s.compare else None,
                "playhead_s": s.playhead_s,
            },
            "maps": {
                str(k): {"label": n.label, "notes": n.notes, "rating": n.rating} for k, n in sorted(self.maps.items())
            },
            "suggested_tags": {str(k): [t.to_dict() for t in tags] for k, tags in sorted(self.suggestions.items())},
            "playback": {
                "slot": self.playback.slot,
                "mode": self.playback.mode,
                "loudness_match": self.playback.loudness_match,
                "volume": self.playback.volume,
                "loop": self.playback.loop,
                "full_quality_a": self.playback.full_quality_a,
            },
            "loops": [{"clip": sha, "start_s": r.start_s, "end_s": r.end_s} for sha, r in self.loops.items()],
            "abx": [r.to_dict() for r in self.abx],
            "atlas": _file_dict(self.atlas, base) if self.atlas else None,
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Save (atomically) to ``path``, or where it was loaded from / last saved. Removes a stale autosave.

        Raises :class:`SessionError` if the file cannot be written; the old file is then left as it was.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("an untitled session needs a path to be saved to")
        target = target.absolute()
        write_session_file(target, self.to_dict(target.parent))
        old_autosave = autosave_path(self.path) if self.path is not None else None
        self.path = target
        self.saved_revision = self.revision
        for stale in {old_autosave, autosave_path(target)} - {None}:
            assert stale is not None
            stale.unlink(missing_ok=True)
        return target

    def write_autosave(self, state_dir: str | Path | None = None) -> Path:
        """Write the session to its autosave file (atomic): the sibling of its file, or, for an untitled session,
        ``state_dir/untitled.aurascope.autosave``. Does not count as saving (``dirty`` stays as it is)."""
        if self.path is not None:
            target = autosave_path(self.path)
            of = self.path.name
        elif state_dir is not None:
            target = Path(state_dir).absolute() / UNTITLED_AUTOSAVE
            of = None
        else:
            raise ValueError("an untitled session autosaves into a state folder: pass state_dir")
        write_session_file(target, self.to_dict(target.parent, autosave_of=of))
        return target

    def discard_autosave(self, state_dir: str | Path | None = None) -> None:
        """Remove the autosave (after a clean close or when the listener chose not to keep the changes)."""
        if self.path is not None:
            autosave_path(self.path).unlink(missing_ok=True)
        if state_dir is not None:
            (Path(state_dir) / UNTITLED_AUTOSAVE).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | Path, *, search: bool = True) -> Session:
        """Read a session file; never writes anything. Files that moved are looked for (see the module doc).

        Raises :class:`SessionError` (naming the file and the field) for a missing, unreadable, damaged or
        wrongly-typed file, or one written by a newer version of the format.
        """
        path = Path(path).absolute()
        doc = read_session_file(path)
        session = _from_file(path, doc)
        session.path = path
        session.located = session._relocate(path.parent, doc, search=search)
        return session

    def _relocate(self, base: Path, doc: SessionFile, *, search: bool) -> tuple[Located, ...]:
        finder = _Finder(base, search)
        found: list[Located] = []
        if self.model is not None:
            assert doc.model is not None
            self.model, loc = finder.locate(self.model, doc.model, "model")
            found.append(loc)
        if self.model_module is not None:
            raw = doc.model_module
            assert raw is not None
            front_end, loc = finder.locate(self.model_module.front_end, raw.front_end, "front end")
            found.append(loc)
            weights = self.model_module.weights
            if weights is not None and raw.weights is not None:
                weights, loc = finder.locate(weights, raw.weights, "weights")
                found.append(loc)
            self.model_module = replace(self.model_module, front_end=front_end, weights=weights)
        clips = []
        for ref, raw in zip(self.clips, doc.clips or [], strict=True):
            ref, loc = finder.locate(ref, raw, "clip")
            clips.append(ref)
            found.append(loc)
        self.clips = clips
        return tuple(found)


# --- autosave, crash recovery, recent files ---------------------------------------------------------------
def autosave_path(path: str | Path) -> Path:
    """The autosave beside a session file: ``dir/name.aurascope`` -> ``dir/.name.aurascope.autosave``."""
    p = Path(path)
    return p.with_name(f".{p.name}{AUTOSAVE_SUFFIX}")


def find_crash_autosave(path: str | Path | None = None, *, state_dir: str | Path | None = None) -> Path | None:
    """An autosave left by a session that was not saved or closed cleanly (so: offer to restore it), or None.

    ``path``: a session file about to be opened; with ``state_dir`` and no path: an untitled session's.
    An autosave older than its session file is stale (the file was saved after it) and not offered.
    """
    if path is not None:
        candidate = autosave_path(path)
        if not candidate.is_file():
            return None
        session_file = Path(path)
        if session_file.is_file() and session_file.stat().st_mtime_ns > candidate.stat().st_mtime_ns:
            return None
        return candidate
    if state_dir is not None:
        candidate = Path(state_dir) / UNTITLED_AUTOSAVE
        return candidate if candidate.is_file() else None
    return None


def restore_autosave(autosave: str | Path, *, search: bool = True) -> Session:
    """Load an autosave as the session it belongs to (``path`` = that session's file, or None if untitled),
    marked unsaved. Raises :class:`SessionError` if the autosave itself is damaged."""
    autosave = Path(autosave).absolute()
    session = Session.load(autosave, search=search)
    of = read_session_file(autosave).autosave_of
    session.path = autosave.parent / of if of else None
    session.revision = session.saved_revision + 1
    return session


def push_recent(recent: Iterable[str | Path], path: str | Path, limit: int = MAX_RECENT) -> list[str]:
    """The recent-sessions list with ``path`` first, without duplicates, at most ``limit`` long."""
    first = str(Path(path).absolute())
    return [first, *[str(p) for p in recent if str(p) != first]][:limit]


# --- from the file format -----------------------------------------------------------------------------------
def _from_file(path: Path, doc: SessionFile) -> Session:
    """The document from a validated :class:`SessionFile` (paths relative to the session's folder resolved)."""
    base = path.parent
    sel = doc.selection
    maps = {}
    for key, entry in doc.maps.items():
        notes = MapNotes(entry.label, entry.notes, entry.rating)
        if not notes.empty:
            maps[FeatureRef.parse(key)] = notes
    suggestions = {}
    for key, tags in doc.suggested_tags.items():
        if tags:
            # the entry declares a tag's fields (value null: not measurable, NaN in memory)
            suggestions[FeatureRef.parse(key)] = tuple(
                SuggestedTag(**{**t.model_dump(), "value": float("nan") if t.value is None else t.value}) for t in tags
            )
    pb = doc.playback
    module = None
    if doc.model_module is not None:
        m = doc.model_module
        module = ModuleModel(
            m.source,
            _file_ref(m.front_end, base),
            _file_ref(m.weights, base) if m.weights is not None else None,
            Path(os.path.normpath(base / m.search_folder)) if m.search_folder else None,
        )
    return Session(
        model=_file_ref(doc.model, base) if doc.model is not None else None,
        model_module=module,
        clips=[_file_ref(c, base) for c in doc.clips or []],
        selection=Selection(
            clip=sel.clip,
            layer=sel.layer,
            index=sel.index,
            compare=FeatureRef(sel.compare.layer, sel.compare.index) if sel.compare is not None else None,
            playhead_s=float(sel.playhead_s),
        ),
        maps=maps,
        suggestions=suggestions,
        playback=PlaybackSettings(pb.slot, pb.mode, pb.loudness_match, float(pb.volume), pb.loop, pb.full_quality_a),
        loops={loop.clip: LoopRegion(float(loop.start_s), float(loop.end_s)) for loop in doc.loops or []},
        abx=[_abx(entry) for entry in doc.abx or []],
        atlas=_atlas_ref(doc.atlas, base) if doc.atlas is not None else None,
    )


def _file_ref(entry: FileEntry, base: Path) -> FileRef:
    p = Path(entry.path)
    return FileRef(Path(os.path.normpath(p if p.is_absolute() else base / p)), entry.sha256, entry.size)


def _atlas_ref(entry: FileEntry, base: Path) -> FileRef:
    """The atlas where the session says (relative, else absolute); never hashed here: an atlas may be large, and
    the window hashes it on its worker when it opens it (a missing one is said there, not fatal)."""
    ref = _file_ref(entry, base)
    if not ref.path.is_file() and entry.absolute and Path(entry.absolute).is_file():
        return replace(ref, path=Path(entry.absolute))
    return ref


def _abx(entry: AbxEntry) -> AbxResult:
    answers = tuple(
        AbxAnswer(x_is=Choice(a.x), answer=Choice(a.answer), seconds=None if a.seconds is None else float(a.seconds))
        for a in entry.answers or []
    )
    return AbxResult(
        layer=entry.layer,
        index=entry.index,
        clip_sha256=entry.clip,
        clip_name=entry.clip_name,
        seed=entry.seed,
        planned_trials=entry.planned_trials if entry.planned_trials is not None else len(answers),
        gain_db=float(entry.gain_db),
        gain_a_db=float(entry.gain_a_db),
        level_difference_lu=None if entry.level_difference_lu is None else float(entry.level_difference_lu),
        mode=entry.mode,
        loop=(float(entry.loop[0]), float(entry.loop[1])) if entry.loop is not None else None,
        answers=answers,
        finished_at=entry.finished_at,
    )


# --- finding files -------------------------------------------------------------------------------------------
class _Finder:
    """Looks for files by name beside the session, then by size + SHA-256 in its folder tree (walked once)."""

    def __init__(self, base: Path, search: bool) -> None:
        self.base = base
        self.search = search
        self._by_size: dict[int, list[Path]] | None = None
        self._hashes: dict[Path, str] = {}

    def sha(self, path: Path) -> str:
        if path not in self._hashes:
            from app.core.audio import file_sha256

            self._hashes[path] = file_sha256(path)
        return self._hashes[path]

    def locate(self, ref: FileRef, raw: FileEntry, kind: str) -> tuple[FileRef, Located]:
        stored = raw.path
        candidates = [ref.path]
        absolute = raw.absolute
        if absolute:
            candidates.append(Path(absolute))
        changed: Path | None = None
        for cand in dict.fromkeys(candidates):
            if cand.is_file():
                if self.sha(cand) == ref.sha256:
                    return replace(ref, path=cand.resolve()), Located(kind, ref.name, stored, FileStatus.FOUND, cand)
                changed = changed or cand
        beside = self.base / ref.name
        if beside not in candidates and beside.is_file() and self.sha(beside) == ref.sha256:
            return self._moved(ref, beside, kind, stored)
        if self.search:
            for cand in self._same_size(ref.size):
                if self.sha(cand) == ref.sha256:
                    return self._moved(ref, cand, kind, stored)
        if changed is not None:
            return replace(ref, path=changed.resolve()), Located(kind, ref.name, stored, FileStatus.CHANGED, changed)
        return ref, Located(kind, ref.name, stored, FileStatus.MISSING, ref.path)

    def _moved(self, ref: FileRef, found: Path, kind: str, stored: str) -> tuple[FileRef, Located]:
        found = found.resolve()
        return replace(ref, path=found), Located(kind, ref.name, stored, FileStatus.MOVED, found)

    def _same_size(self, size: int | None) -> list[Path]:
        if self._by_size is None:
            self._by_size = {}
            seen = 0
            for root, dirs, files in os.walk(self.base):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    p = Path(root) / name
                    try:
                        if not p.is_file():
                            continue
                        self._by_size.setdefault(p.stat().st_size, []).append(p)
                    except OSError:
                        continue
                    seen += 1
                    if seen >= SEARCH_LIMIT:
                        break
                if seen >= SEARCH_LIMIT:
                    break
        if size is None:
            return [p for group in self._by_size.values() for p in group]
        return self._by_size.get(size, [])


# --- writing ---------------------------------------------------------------------------------------------------
def _file_dict(ref: FileRef, base: Path | None) -> FileDoc:
    absolute = ref.path.absolute()
    stored = absolute.as_posix()
    if base is not None:
        with contextlib.suppress(ValueError):  # another drive on Windows: no relative path exists
            stored = Path(os.path.relpath(absolute, base.absolute())).as_posix()
    return {"path": stored, "absolute": absolute.as_posix(), "sha256": ref.sha256, "size": ref.size}


def _module_dict(module: ModuleModel, base: Path | None) -> ModuleDoc:
    folder = None
    if module.search_folder is not None:
        folder = module.search_folder.absolute().as_posix()
        if base is not None:
            with contextlib.suppress(ValueError):
                folder = Path(os.path.relpath(module.search_folder.absolute(), base.absolute())).as_posix()
    return {
        "source": module.source,
        "search_folder": folder,
        "front_end": _file_dict(module.front_end, base),
        "weights": _file_dict(module.weights, base) if module.weights is not None else None,
    }
