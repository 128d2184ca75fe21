"""The corpus atlas in the window: File › Open atlas…, the Top excerpts dock, the session's memory of the atlas, and
opening an excerpt's clip in the main views. A part of `MainWindow`; the atlas jobs are the controller's.

An atlas built with another model than the open one is refused, not shown read-only: its hits are that network's
peaks, and listing them under this network's map of the same number would put another map's excerpts under this
map's name (auralising them with this network would only make the mismatch audible, not right).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel

from app.core.session import FileRef
from app.core.session import Session as ListeningSession
from app.core.types import FeatureRef
from app.playback import AudioDeviceError, PlaybackEngine
from app.ui import settings as keys
from app.ui.excerpts_panel import ExcerptsPanel
from app.ui.jobs.atlas_jobs import AtlasSummary, Excerpt

ATLAS_SUFFIX = ".atlas"


class AtlasCommands:
    """Methods of `MainWindow` (mixed in); ``self`` is the window."""

    def _build_atlas_panel(self, engine: PlaybackEngine | None) -> None:
        device = self.settings.get(keys.DEVICE)
        self.excerpt_engine = engine if engine is not None else PlaybackEngine(device or None, stall_timeout_s=3.0)
        self._pending_atlas: FileRef | None = None  # the session's atlas, opened once its model is
        self._remembered_atlas: FileRef | None = None  # what the session said about the atlas being opened
        self.excerpts = ExcerptsPanel(self.excerpt_engine, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.excerpts)
        self.excerpts.hide()
        # which atlas the panel shows, or that the session's is missing: kept in the status bar, not a passing note
        self.atlas_label = QLabel("")
        self.atlas_label.setStyleSheet("padding: 0 8px; border-left: 1px solid #44444f;")
        self.atlas_label.hide()
        self.statusBar().addPermanentWidget(self.atlas_label)
        self.excerpts.renderRequested.connect(self._render_excerpt)
        self.excerpts.openRequested.connect(self.open_excerpt)
        self.excerpts.auditionStarted.connect(self._audition_started)
        c = self.controller
        c.atlasOpened.connect(self._atlas_opened)
        c.atlasFailed.connect(self._atlas_failed)
        c.excerptFound.connect(self.excerpts.add_excerpt)
        c.excerptsListed.connect(self.excerpts.set_listed)
        c.excerptRendered.connect(self.excerpts.set_audio)
        c.excerptFailed.connect(self.excerpts.show_failure)

    # ==== opening =============================================================================================
    def choose_atlas(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open atlas", self._last_dir(), f"Corpus atlases (*{ATLAS_SUFFIX});;All files (*)"
        )
        if path:
            self.open_atlas(Path(path))

    def open_atlas(self, path: Path, remembered: FileRef | None = None, *, after_model: bool = False) -> None:
        """Open the atlas at ``path`` (hashed and checked on the worker) into the Top excerpts panel. A missing
        file is said in the status bar; without a model open (or ``after_model``: one is being opened with it) it
        waits for one."""
        path = Path(path)
        if not path.is_file():
            self._atlas_missing(path)
            return
        ref = remembered or FileRef(path.resolve(), "", None)
        if self.model_handle is None or after_model:
            self._pending_atlas = ref
            self.statusBar().showMessage(f"The atlas {path.name} opens once a model is open", 8000)
            return
        self._pending_atlas = None
        self._remembered_atlas = remembered
        self.settings.set(keys.LAST_DIR, str(path.parent))
        self.controller.open_atlas(path)

    def _open_pending_atlas(self) -> None:
        """A model was opened: the atlas waiting for it opens, and an open one is checked against it again."""
        if self._pending_atlas is not None:
            ref = self._pending_atlas
            self.open_atlas(ref.path, ref if ref.sha256 else None)
        elif self.controller.atlas is not None:
            self.controller.open_atlas(self.controller.atlas.path)

    def _atlas_opened(self, atlas: AtlasSummary) -> None:
        remembered, self._remembered_atlas = self._remembered_atlas, None
        self.excerpts.set_atlas(atlas)
        self._show_atlas_label(f"atlas {atlas.name}", str(atlas.path))
        self.excerpts.show()
        self.excerpts.raise_()
        if remembered is not None and remembered.sha256 != atlas.sha256:
            self.statusBar().showMessage(
                f"The atlas {atlas.name} changed since the session was saved (built further?): showing it as it is",
                10000,
            )
        else:
            self.statusBar().showMessage(f"Opened atlas {atlas.name}: {atlas.clips} clips", 5000)
        known = self.session.atlas
        if known is None or (known.path, known.sha256) != (atlas.path, atlas.sha256):
            self.session.set_atlas(atlas.path, atlas.sha256)
            self._edited()
        if self.selected is not None:
            self._list_excerpts(self.selected)

    def _atlas_failed(self, path: Path, reason: str) -> None:
        self._remembered_atlas = None
        self.excerpts.set_atlas(None)
        self._show_atlas_label("", "")
        self.show_error(f"Cannot open atlas {Path(path).name}", reason, Path(path))

    def _close_atlas(self) -> None:
        self.controller.close_atlas()
        self.excerpts.set_atlas(None)
        self._show_atlas_label("", "")

    def _atlas_missing(self, path: Path) -> None:
        """Not fatal: the session opens without it, the status bar and the panel say which file is gone."""
        text = f"The session's atlas {path.name} is missing (was at {path})"
        self.excerpts.show()
        self.excerpts.status.setText(text)
        self._show_atlas_label(f"atlas {path.name} missing", text)
        self.statusBar().showMessage(text, 10000)

    def _show_atlas_label(self, text: str, tip: str) -> None:
        self.atlas_label.setText(text)
        self.atlas_label.setToolTip(tip)
        self.atlas_label.setVisible(bool(text))

    def _session_atlas(self, session: ListeningSession) -> None:
        """A session was applied: its atlas opens once its model is open (the one open now may be another)."""
        ref = session.atlas
        if ref is None:
            self._pending_atlas = None
            self._close_atlas()
            self.excerpts.hide()
            return
        if self.controller.atlas is not None and self.controller.atlas.path == ref.path.resolve():
            return  # the same atlas stays open (a new session on what is open)
        self._close_atlas()
        if not ref.path.is_file():
            self._pending_atlas = None
            self._atlas_missing(ref.path)
            return
        self._pending_atlas = ref

    # ==== the selected map's excerpts =========================================================================
    def _list_excerpts(self, ref: FeatureRef) -> None:
        if ref == self.excerpts.ref and self.excerpts.excerpts:
            return  # listed already (a new clip, the same map)
        self.excerpts.show_map(ref)
        self.controller.list_excerpts(ref)

    def _excerpts_outdated(self) -> None:
        """The mode or method changed: an excerpt rendered before is rendered again when played (at once if playing)."""
        self.excerpts.forget_audio()

    def _render_excerpt(self, excerpt: Excerpt) -> None:
        try:
            self.excerpt_engine.open()  # its device rate is the rendering's
        except AudioDeviceError as err:
            self.excerpts.status.setText(f"No audio output for the excerpts: {err.reason}")
        self.controller.render_excerpt(
            excerpt, self.options.current_mode(), self.options.current_method(), self.excerpt_engine.sample_rate
        )

    def _audition_started(self) -> None:
        """An excerpt is about to play: the main transport pauses; the volume and matching are the window's."""
        self.pause()
        self.excerpts.set_volume(self.engine.volume)
        self.excerpts.set_loudness_match(self.act_match.isChecked())

    def open_excerpt(self, excerpt: Excerpt) -> None:
        """Open the excerpt's clip in the main views (added to the session's clips if new), the same map selected
        and the playhead at the excerpt's start."""
        self.excerpts.pause()
        self._pending_selection = {"ref": excerpt.ref, "compare": self.compare, "playhead": excerpt.start_s}
        entry = self.clip_entries.get(excerpt.clip_sha256)
        if entry is not None and entry.status not in ("missing", "error"):
            self.show_clip(excerpt.clip_sha256)
        else:
            self.open_audio(excerpt.clip_path)
        self.statusBar().showMessage(f"Opening {excerpt.name} at {excerpt.start_s:.2f} s (excerpt #{excerpt.rank})")
