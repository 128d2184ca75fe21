"""Strict JSON in and out: the one place the app turns its documents into JSON text and reads JSON from others.

Writing: standard JSON only (RFC 8259). ``NaN`` and ``±Infinity`` are not JSON, so a non-finite figure (the
loudness of a silent rendering is -inf LUFS) is written as ``null``; every schema in ``docs/formats`` says so
for the fields that can be null for this reason. ``allow_nan=False`` guards the rest: anything else
non-finite is a bug and raises.

Reading a file someone else wrote (a session, a model's metadata, a front-end sidecar): before anything is
allocated the file must be a regular file (a FIFO would block forever; it is opened with ``O_NONBLOCK`` and
refused by ``fstat``) no larger than a stated limit; then the text must be UTF-8 and strict JSON (no NaN or
Infinity, no integer longer than :data:`MAX_INT_DIGITS` digits, no number that overflows a float, nesting at
most :data:`MAX_DEPTH` deep, no lone surrogate such as ``"\\ud800"`` in a key or a text). Each failure is raised
through the caller's ``fail(reason, field)``, so it arrives as that format's own error naming the file and the
field.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol  # Any: a JSON document as parsed, before a model validates it

MAX_DEPTH = 64  # our formats nest 6 deep at most
MAX_INT_DIGITS = 40  # a SHA-256 as an integer has 78 digits; none of our integers is near 40
DEFAULT_LIMIT = 16 << 20  # 16 MiB: a session with thousands of labelled maps and A/B/X trials is a few MiB

Fail = Callable[[str, "str | None"], BaseException]


class Sized(Protocol):
    """A stated limit (:class:`app.core.limits.Limit`): its value, and why a size breaks it."""

    @property
    def value(self) -> int: ...

    def problem(self, value: float, what: str) -> str | None: ...


def dumps(doc: object, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text of ``doc`` (non-finite floats become null); UTF-8 characters kept as they are.

    A lone surrogate cannot be written as UTF-8: one that stands for a byte of a file name that is not UTF-8
    (``os.fsdecode``'s U+DC80..U+DCFF) is written as that byte's ``\\xff`` text, as paths are in sidecars; any
    other as its ``\\ud800`` text. So a clip named ``clip\\xff.wav`` never stops a report or a session save.
    """
    text = json.dumps(finite_or_null(doc), indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(
            unicode_text(finite_or_null(doc)), indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False
        )
    return text


def unicode_text(value: Any) -> Any:
    """``value`` with every lone surrogate in its texts and keys replaced by a backslash escape (see `dumps`)."""
    if isinstance(value, str):
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {unicode_text(k): unicode_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unicode_text(v) for v in value]
    return value


def dump_bytes(doc: object, *, indent: int | None = 2, sort_keys: bool = False) -> bytes:
    """:func:`dumps` as UTF-8 bytes with a final newline, ready for :mod:`app.core.files`."""
    return (dumps(doc, indent=indent, sort_keys=sort_keys) + "\n").encode("utf-8")


def finite_or_null(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth of dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    return value


# --- reading ------------------------------------------------------------------------------------------------------
def read_file(path: str | Path, fail: Fail, *, limit: int | Sized = DEFAULT_LIMIT, what: str = "the file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else raises ``fail(reason, None)``.

    ``limit``: bytes, or a stated limit of :mod:`app.core.limits` (its message names the variable that raises
    it). Never blocks on a FIFO or a device and never reads more than ``limit + 1`` bytes.
    """
    path = Path(path)
    stated = limit if not isinstance(limit, int) else None
    limit = limit.value if not isinstance(limit, int) else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise fail("no such file", None) from None
    except OSError as err:
        raise fail(f"cannot read it ({err.strerror or err})", None) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise fail("a folder, not a file", None)
        if not stat.S_ISREG(info.st_mode):
            raise fail(f"not a regular file (a {_kind_of_file(info.st_mode)}): not read", None)
        if info.st_size > limit:
            raise fail(_too_big(info.st_size, limit, stated, what), None)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while we read it
            raise fail(_too_big(size, limit, stated, what), None)
        return b"".join(chunks)
    except OSError as err:
        raise fail(f"cannot read it ({err.strerror or err})", None) from None
    finally:
        os.close(fd)


def loads(text: str | bytes, fail: Fail, *, field: str | None = None, damaged: str = "damaged JSON") -> Any:
    """Parse strict JSON; every problem raises ``fail(reason, field)``.

    ``damaged`` starts the message for a syntax error: ``"<damaged> at line 3, column 7: Expecting ','"``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise fail("not a text file (not UTF-8)", field) from None
    try:
        data = json.loads(text, parse_int=_int)  # NaN, Infinity and 1e400 arrive as floats: refused below
    except json.JSONDecodeError as err:
        raise fail(f"{damaged} at line {err.lineno}, column {err.colno}: {err.msg}", field) from None
    except RecursionError:
        raise fail(f"JSON nested deeper than {MAX_DEPTH} levels", field) from None
    check_tree(data, fail, field)
    return data


def read_json(path: str | Path, fail: Fail, *, limit: int | Sized = DEFAULT_LIMIT, what: str = "the file") -> Any:
    """:func:`read_file` then :func:`loads`."""
    return loads(read_file(path, fail, limit=limit, what=what), fail)


def check_tree(data: object, fail: Fail, field: str | None = None) -> None:
    """Depth, non-finite or over-long numbers and lone surrogates of a parsed document (walked without
    recursion); names the first bad field."""
    stack: list[tuple[object, str | None, int]] = [(data, field, 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise fail(f"JSON nested deeper than {MAX_DEPTH} levels", where)
        if isinstance(value, str):
            _check_text(value, fail, where)
        elif isinstance(value, float | _Huge):
            _check_number(value, fail, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, fail, where, is_key=True)
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((item, f"{where}[{i}]" if where else f"[{i}]", depth + 1))


class _Huge:
    """Stands in for an integer too long to read, so the walk can name its field."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _int(text: str) -> int | _Huge:
    digits = len(text.lstrip("-"))
    return _Huge(digits) if digits > MAX_INT_DIGITS else int(text)


def _check_number(value: float | _Huge, fail: Fail, where: str | None) -> None:
    if isinstance(value, _Huge):
        raise fail(f"a whole number of {value.digits} digits (at most {MAX_INT_DIGITS} are read)", where)
    if not math.isfinite(value):
        # NaN/Infinity literals, or a number such as 1e400 that overflows a double: read, then refused here
        raise fail(f"expected a finite number, got {value} (not strict JSON, or beyond ±1.8e308)", where)


def _check_text(text: str, fail: Fail, where: str | None, is_key: bool = False) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        code = ord(text[err.start])
        what = "a key" if is_key else "a text"
        raise fail(f"{what} holds a lone surrogate (\\u{code:04x}), which is not Unicode text", where) from None


def _too_big(size: int, limit: int, stated: Sized | None, what: str) -> str:
    if stated is not None:
        return stated.problem(size, what) or f"{what} is {size:,} bytes, over the limit of {limit:,} bytes"
    return f"{what} is {size:,} bytes, over the limit of {limit:,} bytes"


def _kind_of_file(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "check_tree",
    "dump_bytes",
    "dumps",
    "finite_or_null",
    "loads",
    "read_file",
    "read_json",
]
