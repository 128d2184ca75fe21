"""Listening sessions: the clips, the model, what is selected, what the listener wrote about each map, and what
the machine suggested, in one ``.aurascope`` JSON file. No Qt, no torch (the window reads it on its GUI thread).

Schema, version 1 (keys in this order; unknown keys are ignored, so a version-1 reader reads later additions
that keep the version number)::

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
              "correct", "trials", "p_value", "finished_at"}, ...]}

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
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from app import __version__
from app.core import limits
from app.core.errors import SessionError
from app.core.files import write_text
from app.core.formats import jsonio
from app.core.formats.jsonio import dumps
from app.core.module_names import MODULE_SOURCE
from app.core.types import AbxAnswer, AbxResult, Choice, FeatureRef, SuggestedTag

FORMAT = "aurascope-session"
VERSION = 1
SUFFIX = ".aurascope"
AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_AUTOSAVE = "untitled.aurascope.autosave"
MAX_RECENT = 8
SEARCH_LIMIT = 20000  # files looked at when searching the session's folder tree for a moved file
_SHA = re.compile(r"^[0-9a-f]{64}$")


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

    def clip(self, sha256: str) -> FileRef:
        for c in self.clips:
            if c.sha256 == sha256:
                return c
        raise KeyError(f"no clip with SHA-256 {sha256[:12]} in the session")

    # --- selection and playback ----------------------------------------------------------------------------
    def select(self, **changes: Any) -> None:
        """Change the selection: ``clip``, ``layer``, ``index``, ``compare`` ((layer, index) or None),
        ``playhead_s``."""
        if "compare" in changes and changes["compare"] is not None:
            changes["compare"] = FeatureRef.of(changes["compare"])
        new = replace(self.selection, **changes)
        if new != self.selection:
            self.selection = new
            self._changed()

    def set_playback(self, **changes: Any) -> None:
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
    def to_dict(self, base: Path | None = None, *, autosave_of: str | None = None) -> dict[str, Any]:
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
                str(k): {"label": n.label, "notes": n.notes, "rating": n.rating}
                for k, n in sorted(self.maps.items())
            },
            "suggested_tags": {
                str(k): [t.to_dict() for t in tags] for k, tags in sorted(self.suggestions.items())
            },
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
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Save (atomically) to ``path``, or where it was loaded from / last saved. Removes a stale autosave.

        Raises :class:`SessionError` if the file cannot be written; the old file is then left as it was.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("an untitled session needs a path to be saved to")
        target = target.absolute()
        text = _dumps(target, self.to_dict(target.parent))
        _atomic_write_text(target, text)
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
        text = _dumps(target, self.to_dict(target.parent, autosave_of=of))
        _atomic_write_text(target, text)
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
        data = _read_json(path)
        session = _parse(path, data)
        session.path = path
        session.located = session._relocate(path.parent, data, search=search)
        return session

    def _relocate(self, base: Path, data: dict[str, Any], *, search: bool) -> tuple[Located, ...]:
        finder = _Finder(base, search)
        found: list[Located] = []
        if self.model is not None:
            self.model, loc = finder.locate(self.model, data["model"], "model")
            found.append(loc)
        if self.model_module is not None:
            raw = data["model_module"]
            front_end, loc = finder.locate(self.model_module.front_end, raw["front_end"], "front end")
            found.append(loc)
            weights = self.model_module.weights
            if weights is not None:
                weights, loc = finder.locate(weights, raw["weights"], "weights")
                found.append(loc)
            self.model_module = replace(self.model_module, front_end=front_end, weights=weights)
        clips = []
        for ref, raw in zip(self.clips, data.get("clips") or [], strict=True):
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
    of = _read_json(autosave).get("autosave_of")
    session.path = autosave.parent / of if isinstance(of, str) and of else None
    session.revision = session.saved_revision + 1
    return session


def push_recent(recent: Iterable[str | Path], path: str | Path, limit: int = MAX_RECENT) -> list[str]:
    """The recent-sessions list with ``path`` first, without duplicates, at most ``limit`` long."""
    first = str(Path(path).absolute())
    return [first, *[str(p) for p in recent if str(p) != first]][:limit]


# --- reading -------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    def fail(reason: str, field: str | None) -> SessionError:
        return SessionError(path, reason, field=field)

    data = jsonio.read_json(path, fail, limit=limits.MAX_SESSION_BYTES, what="the session file")
    if not isinstance(data, dict):
        raise SessionError(path, "not an Aurascope session (the top level is not a JSON object)")
    if data.get("format") != FORMAT:
        raise SessionError(path, f"not an Aurascope session (format is {data.get('format')!r})", field="format")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError(path, f"expected a whole number >= 1, got {version!r}", field="version")
    if version > VERSION:
        raise SessionError(
            path,
            f"written by a newer Aurascope (session format version {version}; this version reads up to {VERSION})",
            field="version",
        )
    return data


class _Fields:
    """Typed access to a parsed document; every failure names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, reason: str) -> SessionError:
        return SessionError(self.path, reason, field=where)

    def obj(self, value: Any, where: str, optional: bool = False) -> dict[str, Any] | None:
        if value is None and optional:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def list(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {_kind(value)}")
        return value

    def text(self, value: Any, where: str, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"expected text, got {_kind(value)}")
        return value

    def sha(self, value: Any, where: str) -> str:
        text = self.text(value, where)
        assert text is not None
        if not _SHA.match(text):
            raise self.fail(where, "expected a SHA-256 (64 lowercase hex digits)")
        return text

    def integer(self, value: Any, where: str, lo: int | None = None, hi: int | None = None, optional: bool = False):
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected a whole number, got {_kind(value)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"{lo}-{hi}" if hi is not None else f">= {lo}"
            raise self.fail(where, f"expected {span}, got {value}")
        return value

    def number(self, value: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {_kind(value)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(where, f"expected a number in [{lo}, {hi}], got {value}")
        return float(value)

    def number_or_nan(self, value: Any, where: str) -> float:
        return float("nan") if value is None else self.number(value, where)

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_kind(value)}")
        return value

    def choice(self, value: Any, where: str, options: Iterable[str]) -> str:
        options = tuple(options)
        text = self.text(value, where)
        if text not in options:
            raise self.fail(where, f"expected one of {', '.join(options)}, got {text!r}")
        return text


def _parse(path: Path, data: dict[str, Any]) -> Session:
    f = _Fields(path)
    base = path.parent
    model_raw = f.obj(data.get("model"), "model", optional=True)
    model = _parse_file(f, model_raw, "model", base) if model_raw is not None else None
    clips = [
        _parse_file(f, f.obj(c, f"clips[{i}]"), f"clips[{i}]", base)
        for i, c in enumerate(f.list(data.get("clips"), "clips"))
    ]

    sel = f.obj(data.get("selection", {}), "selection")
    assert sel is not None
    compare_raw = f.obj(sel.get("compare"), "selection.compare", optional=True)
    compare = None
    if compare_raw is not None:
        compare = FeatureRef(
            f.integer(compare_raw.get("layer"), "selection.compare.layer", 1),
            f.integer(compare_raw.get("index"), "selection.compare.index", 0),
        )
    selection = Selection(
        clip=None if sel.get("clip") is None else f.sha(sel.get("clip"), "selection.clip"),
        layer=f.integer(sel.get("layer"), "selection.layer", 1, optional=True),
        index=f.integer(sel.get("index"), "selection.index", 0, optional=True),
        compare=compare,
        playhead_s=f.number(sel.get("playhead_s", 0.0), "selection.playhead_s", 0.0),
    )

    maps: dict[FeatureRef, MapNotes] = {}
    for key, raw in (f.obj(data.get("maps", {}), "maps") or {}).items():
        where = f"maps.{key}"
        k = _parse_key(f, key, where)
        entry = f.obj(raw, where)
        assert entry is not None
        notes = MapNotes(
            label=f.text(entry.get("label", ""), f"{where}.label") or "",
            notes=f.text(entry.get("notes", ""), f"{where}.notes") or "",
            rating=f.integer(entry.get("rating"), f"{where}.rating", 1, 5, optional=True),
        )
        if not notes.empty:
            maps[k] = notes

    suggestions: dict[FeatureRef, tuple[SuggestedTag, ...]] = {}
    for key, raw in (f.obj(data.get("suggested_tags", {}), "suggested_tags") or {}).items():
        where = f"suggested_tags.{key}"
        k = _parse_key(f, key, where)
        tags = []
        for j, t in enumerate(f.list(raw, where)):
            w = f"{where}[{j}]"
            t = f.obj(t, w)
            assert t is not None
            tags.append(
                SuggestedTag(
                    tag=f.text(t.get("tag"), f"{w}.tag") or "",
                    figure=f.text(t.get("figure"), f"{w}.figure") or "",
                    value=f.number_or_nan(t.get("value"), f"{w}.value"),
                    threshold=f.number(t.get("threshold"), f"{w}.threshold"),
                    op=f.choice(t.get("op"), f"{w}.op", (">=", "<=")),
                    detail=f.text(t.get("detail", ""), f"{w}.detail") or "",
                    clip_sha256=f.text(t.get("clip_sha256", ""), f"{w}.clip_sha256") or "",
                    clip_name=f.text(t.get("clip_name", ""), f"{w}.clip_name") or "",
                    support=f.integer(t.get("support", 1), f"{w}.support", 0),
                    of=f.integer(t.get("of", 1), f"{w}.of", 0),
                )
            )
        if tags:
            suggestions[k] = tuple(tags)

    pb = f.obj(data.get("playback", {}), "playback")
    assert pb is not None
    default = PlaybackSettings()
    playback = PlaybackSettings(
        slot=f.choice(pb.get("slot", default.slot), "playback.slot", ("A", "B", "R")),
        mode=f.choice(pb.get("mode", default.mode), "playback.mode", ("choi", "magnitude")),
        loudness_match=f.flag(pb.get("loudness_match", default.loudness_match), "playback.loudness_match"),
        volume=f.number(pb.get("volume", default.volume), "playback.volume", 0.0, 1.0),
        loop=f.flag(pb.get("loop", default.loop), "playback.loop"),
        full_quality_a=f.flag(pb.get("full_quality_a", default.full_quality_a), "playback.full_quality_a"),
    )

    loops: dict[str, LoopRegion] = {}
    for i, raw in enumerate(f.list(data.get("loops"), "loops")):
        where = f"loops[{i}]"
        entry = f.obj(raw, where)
        assert entry is not None
        start = f.number(entry.get("start_s"), f"{where}.start_s", 0.0)
        end = f.number(entry.get("end_s"), f"{where}.end_s", 0.0)
        if end <= start:
            raise f.fail(f"{where}.end_s", f"a loop must end after it starts ({start} .. {end})")
        loops[f.sha(entry.get("clip"), f"{where}.clip")] = LoopRegion(start, end)

    abx = [_parse_abx(f, raw, f"abx[{i}]") for i, raw in enumerate(f.list(data.get("abx"), "abx"))]
    module = None
    module_raw = f.obj(data.get("model_module"), "model_module", optional=True)
    if module_raw is not None:
        source = f.text(module_raw.get("source"), "model_module.source") or ""
        if not MODULE_SOURCE.match(source):
            raise f.fail("model_module.source", f"expected 'package.module:callable', got {source!r}")
        folder = f.text(module_raw.get("search_folder"), "model_module.search_folder", optional=True)
        weights_raw = f.obj(module_raw.get("weights"), "model_module.weights", optional=True)
        fe_where = "model_module.front_end"
        module = ModuleModel(
            source,
            _parse_file(f, f.obj(module_raw.get("front_end"), fe_where), fe_where, base),
            _parse_file(f, weights_raw, "model_module.weights", base) if weights_raw is not None else None,
            Path(os.path.normpath(base / folder)) if folder else None,
        )
    return Session(
        model=model,
        model_module=module,
        clips=clips,
        selection=selection,
        maps=maps,
        suggestions=suggestions,
        playback=playback,
        loops=loops,
        abx=abx,
    )


def _parse_file(f: _Fields, raw: dict[str, Any] | None, where: str, base: Path) -> FileRef:
    assert raw is not None
    stored = f.text(raw.get("path"), f"{where}.path")
    assert stored is not None
    if not stored:
        raise f.fail(f"{where}.path", "empty path")
    absolute = f.text(raw.get("absolute"), f"{where}.absolute", optional=True)
    sha = f.sha(raw.get("sha256"), f"{where}.sha256")
    size = f.integer(raw.get("size"), f"{where}.size", 0, optional=True)
    del absolute  # checked here; the finder tries it when the stored path fails
    p = Path(stored)
    return FileRef(Path(os.path.normpath(p if p.is_absolute() else base / p)), sha, size)


def _parse_abx(f: _Fields, raw: Any, where: str) -> AbxResult:
    entry = f.obj(raw, where)
    assert entry is not None
    answers = []
    for j, a in enumerate(f.list(entry.get("answers"), f"{where}.answers")):
        w = f"{where}.answers[{j}]"
        a = f.obj(a, w)
        assert a is not None
        seconds = a.get("seconds")
        answers.append(
            AbxAnswer(
                x_is=Choice(f.choice(a.get("x"), f"{w}.x", ("A", "B"))),
                answer=Choice(f.choice(a.get("answer"), f"{w}.answer", ("A", "B"))),
                seconds=None if seconds is None else f.number(seconds, f"{w}.seconds", 0.0),
            )
        )
    difference = entry.get("level_difference_lu")
    loop_raw = entry.get("loop")
    loop = None
    if loop_raw is not None:
        items = f.list(loop_raw, f"{where}.loop")
        if len(items) != 2:
            raise f.fail(f"{where}.loop", "expected [start_s, end_s]")
        loop = (f.number(items[0], f"{where}.loop[0]", 0.0), f.number(items[1], f"{where}.loop[1]", 0.0))
    return AbxResult(
        layer=f.integer(entry.get("layer"), f"{where}.layer", 1),
        index=f.integer(entry.get("index"), f"{where}.index", 0),
        clip_sha256=f.sha(entry.get("clip"), f"{where}.clip"),
        clip_name=f.text(entry.get("clip_name", ""), f"{where}.clip_name") or "",
        seed=f.integer(entry.get("seed"), f"{where}.seed", 0),
        planned_trials=f.integer(entry.get("planned_trials", len(answers)), f"{where}.planned_trials", 0),
        gain_db=f.number(entry.get("gain_db", 0.0), f"{where}.gain_db"),
        gain_a_db=f.number(entry.get("gain_a_db", 0.0), f"{where}.gain_a_db"),
        level_difference_lu=None if difference is None else f.number(difference, f"{where}.level_difference_lu", 0.0),
        mode=f.text(entry.get("mode", "choi"), f"{where}.mode") or "choi",
        loop=loop,
        answers=tuple(answers),
        finished_at=f.text(entry.get("finished_at", ""), f"{where}.finished_at") or "",
    )


def _parse_key(f: _Fields, key: str, where: str) -> FeatureRef:
    try:
        ref = FeatureRef.parse(key)
    except ValueError:
        ref = None
    if ref is None or ref.layer < 1:
        raise f.fail(where, "expected a map name like 'L2F17' (layer from 1, feature from 0)")
    return ref


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

    def locate(self, ref: FileRef, raw: dict[str, Any], kind: str) -> tuple[FileRef, Located]:
        stored = str(raw.get("path"))
        candidates = [ref.path]
        absolute = raw.get("absolute")
        if isinstance(absolute, str) and absolute:
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
def _file_dict(ref: FileRef, base: Path | None) -> dict[str, Any]:
    absolute = ref.path.absolute()
    stored = absolute.as_posix()
    if base is not None:
        with contextlib.suppress(ValueError):  # another drive on Windows: no relative path exists
            stored = Path(os.path.relpath(absolute, base.absolute())).as_posix()
    return {"path": stored, "absolute": absolute.as_posix(), "sha256": ref.sha256, "size": ref.size}


def _module_dict(module: ModuleModel, base: Path | None) -> dict[str, Any]:
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


def _atomic_write_text(path: Path, text: str) -> None:
    """Through the one atomic writer (temp file beside it, fsync, rename, fsync the folder); OSError -> SessionError."""
    try:
        write_text(path, text)
    except OSError as err:
        raise SessionError(path, f"cannot write it ({err.strerror or err})") from None


def _dumps(path: Path, doc: dict[str, Any]) -> str:
    """Strict JSON (non-finite figures as null); a text that is not Unicode (a lone surrogate) -> SessionError."""
    try:
        return dumps(doc, indent=2) + "\n"
    except (ValueError, UnicodeEncodeError) as err:
        raise SessionError(path, f"cannot write it: {err}") from None


# --- small helpers -----------------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)
