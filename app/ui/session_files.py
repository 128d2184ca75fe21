"""The open listening session as a document: autosave after every change, save, crash detection, recent files.

The session itself (`app.core.session.Session`) is the single source of the listener's labels, notes, ratings
and A/B/X results; the window edits it and calls :meth:`SessionKeeper.touch`. Autosave goes to the sibling
``.name.aurascope.autosave`` of a saved session, or to ``untitled.aurascope.autosave`` in the settings'
``sessions`` folder, written atomically a moment after the last change. A clean close removes it, so an
autosave found at start means the last run did not end cleanly. Only the first running window owns that
folder (a lock file); another one autosaves its untitled session in a folder of its own and offers nothing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

from app.core.errors import SessionError
from app.core.session import Session, find_crash_autosave, push_recent
from app.ui import settings as keys
from app.ui.settings import Settings

AUTOSAVE_DELAY_MS = 400  # typing in the inspector is already debounced; this groups bursts of clicks


class SessionKeeper(QObject):
    """Owns ``session`` (replaced on New / Open / Restore). ``changed(dirty)`` after every edit and save;
    ``autosaveFailed(reason)`` when the autosave cannot be written (the session in memory is untouched)."""

    changed = Signal(bool)
    autosaveFailed = Signal(str)

    def __init__(self, settings: Settings, state_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.state_dir = Path(state_dir) if state_dir is not None else settings.state_dir()
        self._lock = QLockFile(str(self.state_dir / "running.lock"))
        self._lock.setStaleLockTime(0)  # never stale by age; a lock left by a dead process is still taken over
        self.primary = self._lock.tryLock(0)
        self.untitled_dir = self.state_dir if self.primary else self.state_dir / f"window-{os.getpid()}-{id(self)}"
        self.session = Session()
        self.last_autosave: Path | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.autosave_now)

    # --- editing -------------------------------------------------------------------------------------------
    def touch(self) -> None:
        """After a change to ``session``: schedule the autosave, tell the window."""
        if self.session.dirty:
            self._timer.start()
        self.changed.emit(self.session.dirty)

    def autosave_now(self) -> Path | None:
        self._timer.stop()
        if not self.session.dirty:
            return None
        try:
            self.untitled_dir.mkdir(parents=True, exist_ok=True)
            self.last_autosave = self.session.write_autosave(self.untitled_dir)
        except (OSError, SessionError) as err:
            self.autosaveFailed.emit(str(err))
            return None
        return self.last_autosave

    @property
    def has_listener_content(self) -> bool:
        """Labels, notes, ratings or A/B/X results: what would be lost without saving."""
        s = self.session
        return bool(s.labelled() or s.abx)

    @property
    def title(self) -> str:
        name = self.session.path.name if self.session.path else "untitled session"
        return f"{name}{' •' if self.session.dirty else ''}"

    # --- files -----------------------------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path:
        """Save (atomically) to ``path`` or the session's own file; raises SessionError and keeps the old file."""
        self._timer.stop()
        untitled = self.session.path is None
        written = self.session.save(path)
        if untitled:
            self.session.discard_autosave(self.untitled_dir)
        self.settings.set(keys.RECENT_SESSIONS, push_recent(self.settings.get(keys.RECENT_SESSIONS), written))
        self.settings.set(keys.OPEN_SESSION, str(written))
        self.changed.emit(False)
        return written

    def replace(self, session: Session) -> None:
        """Make ``session`` the open one (after New, Open or Restore); the previous one's autosave goes."""
        self._timer.stop()
        self.session.discard_autosave(self.untitled_dir)
        self.session = session
        if session.path is not None:
            self.settings.set(keys.RECENT_SESSIONS, push_recent(self.settings.get(keys.RECENT_SESSIONS), session.path))
        self.settings.set(keys.OPEN_SESSION, str(session.path or ""))
        self.touch()

    def crash_autosave(self) -> Path | None:
        """An autosave the last run left behind (it did not close cleanly), or None (also when another window
        is running: what it autosaves is not a crash)."""
        if not self.primary:
            return None
        last = self.settings.get(keys.OPEN_SESSION)
        found = find_crash_autosave(last) if last else None
        return found or find_crash_autosave(state_dir=self.state_dir)

    def discard_autosaves(self) -> None:
        """Forget what a crashed run left (the listener chose not to restore it)."""
        if not self.primary:
            return
        last = self.settings.get(keys.OPEN_SESSION)
        if last:
            Session(path=Path(last)).discard_autosave()
        Session().discard_autosave(self.state_dir)

    def close_clean(self) -> None:
        """On a clean close: no autosave stays behind (whatever was unsaved, the listener chose to drop)."""
        self._timer.stop()
        self.session.discard_autosave(self.untitled_dir)
        if not self.primary:
            with contextlib.suppress(OSError):
                self.untitled_dir.rmdir()
        else:
            self.settings.set(keys.OPEN_SESSION, str(self.session.path or ""))

    def release(self) -> None:
        """The window is gone: the next one to start owns the sessions folder."""
        if self.primary:
            self._lock.unlock()
            self.primary = False
