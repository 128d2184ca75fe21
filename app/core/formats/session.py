"""The session FILE FORMAT (``.aurascope`` and its autosave): declaration, reading, validation and writing.

The session DOCUMENT, what the window edits in memory, is :class:`app.core.session.Session`; it turns a
:class:`SessionFile` into itself and itself into the JSON document written here. This module knows nothing of
it. Version 1; unknown keys are ignored, so a version-1 reader reads later additions that keep the version.

Reading is the guarded reader (a regular file under the session size limit, strict JSON; see
:mod:`app.core.formats.jsonio`), then this declaration; every failure is a :class:`SessionError` naming the
file and the field (``maps.L1F3.rating``). Writing is strict JSON through the one atomic writer. Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic import Strict as StrictFlag

from app.core import limits
from app.core.errors import SessionError
from app.core.files import write_text
from app.core.formats import jsonio
from app.core.formats.schema import Open, validate
from app.core.module_names import MODULE_SOURCE

FORMAT = "aurascope-session"
VERSION = 1
MAP_KEY = re.compile(r"^L(\d+)F(\d+)$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


# --- values with the words the app has always used -----------------------------------------------------------
def _sha(value: str) -> str:
    if not _SHA.match(value):
        raise ValueError("expected a SHA-256 (64 lowercase hex digits)")
    return value


def _map_key(value: str) -> str:
    m = MAP_KEY.match(value)
    if not m or int(m.group(1)) < 1:
        raise ValueError("expected a map name like 'L2F17' (layer from 1, feature from 0)")
    return value


def _rating(value: int) -> int:
    if not 1 <= value <= 5:
        raise ValueError(f"expected 1-5, got {value}")
    return value


def _volume(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a number in [0.0, 1.0], got {value}")
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("empty path")
    return value


def _module_source(value: str) -> str:
    if not MODULE_SOURCE.match(value):
        raise ValueError(f"expected 'package.module:callable', got {value!r}")
    return value


Sha256 = Annotated[str, AfterValidator(_sha), Field(json_schema_extra={"pattern": _SHA.pattern})]
MapKey = Annotated[str, AfterValidator(_map_key), Field(json_schema_extra={"pattern": r"^L[1-9]\d*F\d+$"})]
Layer = Annotated[int, Field(ge=1)]
Index = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0.0)]


def needed(**kwargs: Any) -> Any:
    """A key every document has. Absent, it reads as null and is refused in the type's words ("expected text,
    got null"), as the hand-written reader said before this declaration."""
    return Field(None, validate_default=True, json_schema_extra={"x-required": True}, **kwargs)


def _required_in_schema(schema: dict[str, Any]) -> None:
    props = schema.get("properties", {})
    required = [name for name, p in props.items() if p.pop("x-required", False)]
    for name in required:
        props[name].pop("default", None)
    if required:
        schema["required"] = sorted(set(schema.get("required", [])) | set(required))


class _Part(Open):
    model_config = ConfigDict(json_schema_extra=_required_in_schema)


# --- the declaration ----------------------------------------------------------------------------------------------
class FileEntry(_Part):
    """A file the session uses, found again on load by path, then by name beside the session, then by content."""

    path: Annotated[str, AfterValidator(_non_empty), Field(json_schema_extra={"minLength": 1})] = needed(
        description="relative to the session's folder"
    )
    absolute: str | None = None
    sha256: Sha256 = needed()
    size: Annotated[int, Field(ge=0)] | None = None


class ModuleEntry(_Part):
    """The user's own network as ``package.module:callable`` (trusted code), its front end and weights."""

    source: Annotated[
        str, AfterValidator(_module_source), Field(json_schema_extra={"pattern": MODULE_SOURCE.pattern})
    ] = needed()
    search_folder: str | None = None
    front_end: FileEntry = needed()
    weights: FileEntry | None = None


class Compare(_Part):
    layer: Layer = needed()
    index: Index = needed()


class SelectionEntry(_Part):
    clip: Sha256 | None = None
    layer: Layer | None = None
    index: Index | None = None
    compare: Compare | None = None
    playhead_s: Seconds = 0.0


class MapEntry(_Part):
    """What the listener wrote about one map."""

    label: str = ""
    notes: str = ""
    rating: Annotated[int, AfterValidator(_rating), Field(json_schema_extra={"minimum": 1, "maximum": 5})] | None = None


class TagEntry(_Part):
    """A tag the machine suggested (kept apart from the listener's words); ``value`` null: not measurable."""

    tag: str = needed()
    figure: str = needed()
    value: float | None = None
    threshold: float = needed()
    op: Literal[">=", "<="] = needed()
    detail: str = ""
    clip_sha256: str = ""
    clip_name: str = ""
    support: Index = 1
    of: Index = 1


class PlaybackEntry(_Part):
    slot: Literal["A", "B", "R"] = "B"
    mode: Literal["choi", "magnitude"] = "choi"
    loudness_match: bool = True
    volume: Annotated[float, AfterValidator(_volume), Field(json_schema_extra={"minimum": 0, "maximum": 1})] = 0.8
    loop: bool = False
    full_quality_a: bool = False


class LoopEntry(_Part):
    """One loop region per clip."""

    clip: Sha256 = needed()
    start_s: Seconds = needed()
    end_s: Seconds = needed()

    @field_validator("end_s")
    @classmethod
    def _after_start(cls, value: float, info: ValidationInfo) -> float:
        start = info.data.get("start_s")
        if start is not None and value <= start:
            raise ValueError(f"a loop must end after it starts ({start} .. {value})")
        return value


class AnswerEntry(_Part):
    x: Literal["A", "B"] = needed()
    answer: Literal["A", "B"] = needed()
    seconds: Seconds | None = None


class AbxEntry(_Part):
    """A finished (or abandoned) A/B/X run; ``correct``, ``trials`` and ``p_value`` are written for readers and
    recomputed from ``answers`` on load."""

    layer: Layer = needed()
    index: Index = needed()
    clip: Sha256 = needed()
    clip_name: str = ""
    seed: Index = needed()
    planned_trials: Index | None = Field(None, description="default: the number of answers")
    gain_db: float = 0.0
    gain_a_db: float = 0.0
    level_difference_lu: Annotated[float, Field(ge=0.0)] | None = None
    mode: str = "choi"
    loop: Annotated[tuple[Seconds, Seconds], StrictFlag(False)] | None = Field(None, description="[start_s, end_s]")
    answers: list[AnswerEntry] | None = None
    correct: int | None = None
    trials: int | None = None
    p_value: float | None = None
    finished_at: str = ""


class SessionFile(_Part):
    """A listening session: clips, model, selection, the listener's words per map, the machine's suggestions,
    playback settings, loops, A/B/X results and the corpus atlas."""

    model_config = ConfigDict(title="Aurascope session", json_schema_extra=_required_in_schema)

    format: Literal["aurascope-session"] = needed()
    version: Annotated[int, Field(ge=1, le=VERSION)] = needed()
    saved_by: str | None = None
    saved_at: str | None = None
    autosave_of: str | None = Field(None, description="the session file an autosave belongs to")
    model: FileEntry | None = None
    model_module: ModuleEntry | None = None
    clips: list[FileEntry] | None = None
    selection: SelectionEntry = SelectionEntry()
    maps: dict[MapKey, MapEntry] = Field(default_factory=dict)
    suggested_tags: dict[MapKey, list[TagEntry]] = Field(default_factory=dict)
    playback: PlaybackEntry = PlaybackEntry()
    loops: list[LoopEntry] | None = None
    abx: list[AbxEntry] | None = None
    atlas: FileEntry | None = Field(
        None, description="the corpus atlas the Top excerpts panel shows (its SHA-256 when the session was saved)"
    )


# --- reading and writing ------------------------------------------------------------------------------------------
def read_session_file(path: Path) -> SessionFile:
    """Read and validate a session file; never writes. Raises :class:`SessionError` naming the file and field."""

    def fail(reason: str, field: str | None) -> SessionError:
        return SessionError(path, reason, field=field)

    data = jsonio.read_json(path, fail, limit=limits.MAX_SESSION_BYTES, what="the session file")
    if not isinstance(data, dict):
        raise fail("not an Aurascope session (the top level is not a JSON object)", None)
    if data.get("format") != FORMAT:
        raise fail(f"not an Aurascope session (format is {data.get('format')!r})", "format")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise fail(f"expected a whole number >= 1, got {version!r}", "version")
    if version > VERSION:
        raise fail(
            f"written by a newer Aurascope (session format version {version}; this version reads up to {VERSION})",
            "version",
        )
    return validate(SessionFile, data, fail)


def write_session_file(path: Path, doc: Mapping[str, object]) -> None:
    """Write a session document as strict JSON through the atomic writer; raises :class:`SessionError`."""
    try:
        text = jsonio.dumps(doc, indent=2) + "\n"
    except (ValueError, UnicodeEncodeError) as err:
        raise SessionError(path, f"cannot write it: {err}") from None
    try:
        write_text(path, text)
    except OSError as err:
        raise SessionError(path, f"cannot write it ({err.strerror or err})") from None


__all__ = ["FORMAT", "VERSION", "SessionFile", "read_session_file", "write_session_file"]
