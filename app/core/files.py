"""Writing files whole or not at all: the one atomic writer every file the app writes goes through.

A file is written to a temporary beside it (same folder, so the rename is atomic), flushed and fsynced, then
renamed over the target, and the folder is fsynced. Several files that belong together (a WAV and its JSON
sidecar) land together or not at all, see :func:`atomic_files`.

Temporaries are hidden and recognisable: ``.<name>.<pid>-<8 hex>.aurascope-part``. Every catchable signal
that would end the process (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2, SIGALRM, SIGXCPU, SIGXFSZ) removes this
process's temporaries first (handlers are installed only while writing, only from the main thread, and the
previous handlers are restored and the signal re-raised); an exception removes them too. What a SIGKILL or a
power cut leaves is cleared by the next write into the same folder (from any process): a temporary whose
process is gone is deleted, and an interrupted group commit is completed (see :func:`clear_stale`).

Mode: temporaries are created with ``0o666`` through ``os.open``, so the kernel applies the umask (and any
default ACL of the folder) exactly as for a plain ``open(path, "w")``: umask 022 gives 0644. ``mkstemp``'s
0600 is never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import BinaryIO

PART = "aurascope-part"
COMMIT = "aurascope-commit"
_STALE = re.compile(r"^\..*\.(\d+)-[0-9a-f]{8}\.(aurascope-part|aurascope-commit)$")
# what writers before this one left (mkstemp: ".x.wav.k2j4_9ab.part", sessions ".x.aurascope.abcd1234.tmp"); they
# carry no pid, so one is taken for abandoned only when untouched for LEGACY_AGE_S
_LEGACY = re.compile(r"^\..+\.(wav|json|png|html|aurascope|autosave|safetensors)\.[a-z0-9_]{8}\.(part|tmp)$")
LEGACY_AGE_S = 3600
_NAME_KEEP = 100  # characters of the target's name kept in a temporary's name (the name limit is 255 bytes)
_MARKER_LIMIT = 1 << 16  # a commit marker is a few hundred bytes; a bigger one is not ours
# every catchable signal whose default action ends the process (SIGXFSZ: a file grew past the size limit)
_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGXCPU", "SIGXFSZ")
_SIGNALS = tuple(getattr(signal, name) for name in _SIGNAL_NAMES if hasattr(signal, name))

_lock = threading.RLock()
_active: set[Path] = set()  # temporaries this process is writing now
_cleared: set[Path] = set()  # folders this process has already cleared of stale temporaries
_guard_depth = 0
_committing = 0
_pending: list[int] = []  # signals that arrived during a commit, handled once it is done
#: A signal's handler as ``signal.getsignal`` gives it: a function, SIG_DFL / SIG_IGN, or None (not set from Python).
Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None
_previous: dict[int, Handler] = {}


# --- writing ---------------------------------------------------------------------------------------------------
def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module doc); raises OSError, leaving no temporary."""
    with atomic_files([path]) as (handle,):
        write_all(handle, data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_files(paths: Sequence[str | Path]) -> Iterator[list[BinaryIO]]:
    """Binary handles to temporaries for ``paths``; on a clean exit all of them land, on any error none does.

    Several paths must share a folder. They land by a small journal: every temporary is complete and fsynced,
    then a commit marker naming the renames is written and fsynced, then the renames run, then the marker goes.
    A process killed between two renames (SIGKILL; catchable signals wait for the renames to finish) leaves the
    marker, and the next write into the folder completes the renames, so a WAV never stays without its sidecar.
    Raises OSError (a full disk, a read-only folder) after removing every temporary.
    """
    targets = [Path(p).absolute() for p in paths]
    if not targets:
        raise ValueError("atomic_files needs at least one path")
    folder = targets[0].parent
    if any(t.parent != folder for t in targets):
        raise ValueError("files that land together must be in one folder")
    folder.mkdir(parents=True, exist_ok=True)
    clear_stale(folder)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    temps = [folder / _temp_name(t.name, token, PART) for t in targets]
    handles: list[BinaryIO] = []
    with _signals_clean_up():
        try:
            for temp in temps:
                with _lock:
                    _active.add(temp)
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                handles.append(os.fdopen(fd, "wb"))
            yield handles
            for handle in handles:
                handle.flush()
                os.fsync(handle.fileno())
            for handle in handles:
                handle.close()
            _commit(folder, list(zip(temps, targets, strict=True)), token)
        except BaseException:
            for handle in handles:
                with contextlib.suppress(OSError):
                    handle.close()
            for temp in temps:
                with contextlib.suppress(OSError):
                    temp.unlink(missing_ok=True)
            raise
        finally:
            with _lock:
                _active.difference_update(temps)


def _commit(folder: Path, moves: list[tuple[Path, Path]], token: str) -> None:
    global _committing
    with _lock:
        _committing += 1
    marker = None
    try:
        if len(moves) > 1:
            marker = folder / _temp_name(moves[0][1].name, token, COMMIT)
            with _lock:
                _active.add(marker)
            doc = {"renames": [[t.name, p.name] for t, p in moves], "complete": True}
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                _write_all(fd, json.dumps(doc).encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(folder)
        done: list[Path] = []
        try:
            for temp, target in moves:
                os.replace(temp, target)
                done.append(target)
        except BaseException:
            # a rename failed (EIO): take back the ones that landed, so none of the group stays alone
            for target in done:
                with contextlib.suppress(OSError):
                    target.unlink()
            raise
        _fsync_dir(folder)
        if marker is not None:
            marker.unlink()
            _fsync_dir(folder)
    except BaseException:
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.unlink(missing_ok=True)
        raise
    finally:
        with _lock:
            if marker is not None:
                _active.discard(marker)
            _committing -= 1
            pending = list(_pending) if _committing == 0 else []
            if pending:
                _pending.clear()
        for signum in pending:
            _deliver(signum, None)


# --- what a killed process left --------------------------------------------------------------------------------
def clear_stale(folder: str | Path, *, again: bool = False) -> list[Path]:
    """Clear what killed writers left in ``folder`` (once per folder per process unless ``again``).

    A temporary is stale when the process named in it is gone (or is this process, which is not writing it).
    A stale commit marker is completed: its temporaries that still exist are renamed over their targets (they
    were complete and fsynced before the marker was written), then the marker is removed; a damaged marker
    (killed while writing it, before any rename) is removed with its temporaries. Other stale temporaries are
    deleted, and so are the hidden ``.part``/``.tmp`` files of writers before this one once an hour old.
    Returns the paths removed or renamed into place; never raises for a file it cannot touch.
    """
    folder = Path(folder).absolute()
    with _lock:
        if folder in _cleared and not again:
            return []
        _cleared.add(folder)
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(".")]
    except OSError:
        return []
    stale = []
    now = time.time()
    for name in names:
        m = _STALE.match(name)
        if m and _dead(int(m.group(1)), folder / name):
            stale.append((name, m.group(2)))
        elif not m and _LEGACY.match(name) and _age(folder / name, now) > LEGACY_AGE_S:
            stale.append((name, PART))
    touched: list[Path] = []
    for name, kind in stale:
        if kind == COMMIT:
            touched += _finish_commit(folder, name)
    for name, kind in stale:
        path = folder / name
        if kind == PART and path.exists():
            with contextlib.suppress(OSError):
                path.unlink()
                touched.append(path)
    return touched


def _finish_commit(folder: Path, name: str) -> list[Path]:
    marker = folder / name
    done: list[Path] = []
    renames: list[tuple[str, str]] = []
    with contextlib.suppress(OSError, ValueError):
        if marker.stat().st_size <= _MARKER_LIMIT:
            doc = json.loads(marker.read_bytes().decode("utf-8"))
            if isinstance(doc, dict) and doc.get("complete") is True:
                renames = [
                    (t, p)
                    for t, p in doc.get("renames", [])
                    if isinstance(t, str) and isinstance(p, str) and "/" not in t + p and _STALE.match(t)
                ]
    for temp, target in renames:
        with contextlib.suppress(OSError):
            if (folder / temp).exists():
                os.replace(folder / temp, folder / target)
                done.append(folder / target)
    if done:
        _fsync_dir(folder)
    with contextlib.suppress(OSError):
        marker.unlink()
        done.append(marker)
    return done


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def _dead(pid: int, path: Path) -> bool:
    if pid == os.getpid():
        with _lock:
            return path not in _active
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # alive (another user's), or we cannot tell: leave it
    return False


def is_temporary(name: str) -> bool:
    """Whether a file name is one of this writer's temporaries or commit markers."""
    return _STALE.match(name) is not None


# --- signals ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _signals_clean_up() -> Iterator[None]:
    """While writing, a terminating signal removes the temporaries before the process ends (main thread only)."""
    global _guard_depth
    main = threading.current_thread() is threading.main_thread()
    if main:
        with _lock:
            _guard_depth += 1
            if _guard_depth == 1:
                _install()
    try:
        yield
    finally:
        if main:
            with _lock:
                _guard_depth -= 1
                if _guard_depth == 0:
                    _restore()


def _install() -> None:
    _previous.clear()
    for signum in _SIGNALS:
        try:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or previous is None:
                continue  # ignored (nohup) or set from C: not ours to change
            signal.signal(signum, _on_signal)
            _previous[signum] = previous
        except (ValueError, OSError):  # not the main interpreter
            continue


def _restore() -> None:
    for signum, previous in list(_previous.items()):
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signum, previous)
    _previous.clear()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    with _lock:
        if _committing:
            _pending.append(signum)  # the renames are short: land the group, then handle the signal
            return
    _deliver(signum, frame)


def _deliver(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        # Python's KeyboardInterrupt or the program's own handler decides; an exception it raises unwinds
        # through atomic_files, which removes the temporaries on its way out
        previous(signum, frame)
        return
    # the default action ends the process at once: remove our temporaries, then end as it would have
    with _lock:
        for temp in list(_active):
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        _restore()
    signal.raise_signal(signum)


def write_all(handle: BinaryIO, data: bytes | memoryview) -> None:
    """Write ``data`` to a handle from :func:`atomic_files` unbuffered, so a full disk raises OSError here."""
    handle.flush()
    _write_all(handle.fileno(), data)


# --- small helpers ---------------------------------------------------------------------------------------------
def _temp_name(name: str, token: str, kind: str) -> str:
    return f".{name[:_NAME_KEEP]}.{token}.{kind}"


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on Windows; the rename is already durable enough there
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


__all__ = ["atomic_files", "clear_stale", "is_temporary", "write_all", "write_bytes", "write_text"]
