"""The window's actions (what menus, buttons and shortcuts trigger), its menus, recent files, drag and drop
and help: a part of `MainWindow`, kept apart because it changes when a command is added, not when state does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QMessageBox,
    QStyle,
)

from app.playback import Slot
from app.ui import settings as keys

TAB_VIEWS, TAB_GALLERY, TAB_KERNELS = 0, 1, 2  # the centre's tabs: spectrograms, layer gallery, kernels


class WindowActions:
    """Methods of `MainWindow` (mixed in); ``self`` is the window."""

    def _action(self, text: str, slot=None, shortcut=None, checkable=False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip + (f"  ({action.shortcut().toString()})" if shortcut else ""))
            action.setStatusTip(tip)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        style = self.style()
        self.icon_play = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self.icon_pause = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        a = self._action
        self.act_new_session = a("&New session", self.new_session, QKeySequence.StandardKey.New)
        self.act_open_session = a("&Open session…", self.choose_session, "Ctrl+Alt+O")
        self.act_save_session = a("&Save session", self.save_session, QKeySequence.StandardKey.Save)
        self.act_save_session_as = a("Save session as…", self.save_session_as, "Ctrl+Shift+S")
        self.act_open_audio = a("Add &clip…", self.choose_audio, QKeySequence.StandardKey.Open)
        self.act_open_model = a("Open &model…", self.choose_model, "Ctrl+Shift+O")
        self.act_open_module = a("Open PyTorch mo&dule…", self.choose_module)
        self.act_open_atlas = a("Open &atlas…", self.choose_atlas, tip="A corpus atlas: each map's strongest excerpts")
        self.act_export = a("&Export selected features…", self.export_selected, "Ctrl+E")
        self.act_report = a("Export listening &report…", self.export_report, "Ctrl+Shift+R")
        self.act_characterise_layer = a("Characterise this &layer's maps", lambda: self.characterise(True), "Ctrl+K")
        self.act_characterise_all = a("Characterise &all maps", lambda: self.characterise(False), "Ctrl+Shift+K")
        self.act_abx = a("Blind A/B/&X test of this map…", self.start_abx, "Ctrl+T")
        self.act_compare = a(
            "Compare: hold this map as C",
            self.toggle_compare,
            "C",
            tip="Keep the selected map as C; then B toggles between the map you move to and C",
        )
        self.act_next_clip = a("Next clip", lambda: self.step_clip(1), "]", tip="Same map, next clip, same playhead")
        self.act_prev_clip = a("Previous clip", lambda: self.step_clip(-1), "[")
        self.act_tab_views = a("Spectrograms", lambda: self.centre.setCurrentIndex(TAB_VIEWS), "Ctrl+1")
        self.act_tab_gallery = a("Layer gallery", lambda: self.centre.setCurrentIndex(TAB_GALLERY), "Ctrl+2")
        self.act_tab_kernels = a("Layer-1 kernels", lambda: self.centre.setCurrentIndex(TAB_KERNELS), "Ctrl+3")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_play = a("Play", self.toggle_play, "Space", True, "Play / pause")
        self.act_play.setIcon(self.icon_play)
        self.act_start = a("Go to start", lambda: self.seek(0.0), "Home")
        self.act_slot_a = a("A original", lambda: self.select_slot(Slot.A), "A", True, "Hear the original clip")
        self.act_slot_b = a("B feature", lambda: self.select_slot(Slot.B), None, True, "Hear the auralised feature")
        self.act_slot_r = a(
            "R residual", lambda: self.select_slot(Slot.R), None, True, "Hear what the feature leaves out"
        )
        self.act_slot_c = a("C compared", lambda: self.select_slot(Slot.C), None, True, "Hear the map held as C")
        group = QActionGroup(self)
        for act in (self.act_slot_a, self.act_slot_b, self.act_slot_r, self.act_slot_c):
            group.addAction(act)
        self.act_slot_b.setChecked(True)
        self.act_toggle_ab = a("Toggle A/B", self.toggle_ab, "B", tip="Switch between original and feature")
        self.act_slot_b.setToolTip("Hear the auralised feature  (B toggles A/B)")
        self.act_toggle_r = a("Residual on/off", self.toggle_residual, "R", tip="Switch to the residual and back")
        self.act_slot_r.setToolTip("Hear what the feature leaves out  (R)")
        self.act_loop = a("Loop", self.set_looping, "L", True, "Loop the region dragged on the views (or the clip)")
        self.act_clear_loop = a("Clear loop region", self.clear_loop_region, "Shift+L")
        self.act_match = a("Match loudness", self.set_loudness_match, "M", True, "Play B and R at the original's LUFS")
        self.act_full_a = a("A plays the file at its own rate", self._full_quality_changed, None, True)
        self.act_full_a.setToolTip("Off: A is the mono clip at the model's rate, as the network hears it")
        self.act_next_map = a("Next map", lambda: self.step_map(1), "Down")
        self.act_prev_map = a("Previous map", lambda: self.step_map(-1), "Up")
        self.act_next_layer = a("Next layer", lambda: self.step_layer(1), "Right")
        self.act_prev_layer = a("Previous layer", lambda: self.step_layer(-1), "Left")
        self.act_sort = a("Sort maps by energy", self._sort_changed, "Ctrl+Shift+E", True)
        self.act_follow = a("Follow playhead", self._follow_changed, "F", True)
        self.act_reset_zoom = a("Show whole clip", self.reset_zoom, "Ctrl+0")
        self.act_keys = a("Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self.act_about = a("About Aurascope", self.show_about)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.act_new_session)
        menu.addAction(self.act_open_session)
        self.recent_session_menu = menu.addMenu("Recent sessions")
        menu.addAction(self.act_save_session)
        menu.addAction(self.act_save_session_as)
        menu.addSeparator()
        menu.addAction(self.act_open_audio)
        self.recent_audio_menu = menu.addMenu("Recent audio")
        menu.addAction(self.act_open_model)
        menu.addAction(self.act_open_module)
        self.recent_model_menu = menu.addMenu("Recent models")
        menu.addAction(self.act_open_atlas)
        menu.addSeparator()
        menu.addAction(self.act_export)
        menu.addAction(self.act_report)
        menu.addSeparator()
        menu.addAction(self.act_quit)
        menu = self.menuBar().addMenu("&Analyse")
        for act in (self.act_characterise_layer, self.act_characterise_all, None, self.act_abx, self.act_compare):
            menu.addSeparator() if act is None else menu.addAction(act)
        menu = self.menuBar().addMenu("&Playback")
        for act in (
            self.act_play,
            self.act_start,
            None,
            self.act_slot_a,
            self.act_slot_b,
            self.act_slot_r,
            self.act_slot_c,
            self.act_toggle_ab,
            self.act_toggle_r,
            None,
            self.act_loop,
            self.act_clear_loop,
            self.act_match,
            self.act_full_a,
        ):
            menu.addSeparator() if act is None else menu.addAction(act)
        menu = self.menuBar().addMenu("&View")
        for act in (
            self.act_next_map,
            self.act_prev_map,
            self.act_next_layer,
            self.act_prev_layer,
            self.act_next_clip,
            self.act_prev_clip,
            None,
            self.act_tab_views,
            self.act_tab_gallery,
            self.act_tab_kernels,
            None,
            self.act_sort,
            self.act_follow,
            self.act_reset_zoom,
            None,
            self.excerpts.toggleViewAction(),
        ):
            menu.addSeparator() if act is None else menu.addAction(act)
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.act_keys)
        menu.addAction(self.act_about)
        self._rebuild_recent()

    # ==== recent files, drag and drop ===========================================================================
    def _rebuild_recent(self) -> None:
        for menu, key, opener in (
            (self.recent_session_menu, keys.RECENT_SESSIONS, self._open_recent_session),
            (self.recent_audio_menu, keys.RECENT_AUDIO, self.open_audio),
            (self.recent_model_menu, keys.RECENT_MODELS, self.open_model),
        ):
            menu.clear()
            items = self.settings.get(key)
            for path in items:
                action = menu.addAction(Path(path).name)
                action.setToolTip(path)
                action.triggered.connect(lambda _=False, p=path, o=opener: o(Path(p)))
            menu.setEnabled(bool(items))

    def _open_recent_session(self, path: Path) -> None:
        if self._may_discard("open another session"):
            self.open_session_file(path)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    # ==== help ============================================================================================
    def show_shortcuts(self) -> None:
        rows = [
            ("Space", "play / pause"),
            ("A", "original"),
            ("B", "toggle original / feature (an excerpt's, while the Top excerpts panel plays one)"),
            ("R", "residual on / off"),
            ("L", "loop on / off (drag on a view to set the region)"),
            ("Shift+L", "clear the loop region"),
            ("M", "loudness match on / off"),
            ("Home", "go to start"),
            ("↑ / ↓", "previous / next map (in the tree's order)"),
            ("← / →", "previous / next layer"),
            ("[ / ]", "previous / next clip (same map, same playhead)"),
            ("C", "hold the selected map as C; then B toggles between the map you move to and C"),
            ("Shift+click", "in the layer gallery: compare that map with the selected one"),
            ("Ctrl+1 / 2 / 3", "spectrograms / layer gallery / layer-1 kernels"),
            ("Ctrl+K / Ctrl+Shift+K", "characterise this layer's maps / all maps (suggested tags)"),
            ("Ctrl+T", "blind A/B/X test of the selected map"),
            ("Ctrl+S / Ctrl+Shift+S", "save the session / save it as"),
            ("Ctrl+Shift+R", "export a listening report"),
            ("F", "follow the playhead"),
            ("Ctrl+0", "show the whole clip"),
            ("wheel / Ctrl+wheel", "zoom time / frequency"),
            ("Shift+drag", "pan"),
            ("Ctrl+E", "export the selected maps"),
            ("Ctrl+O / Ctrl+Shift+O", "add a clip / open a model"),
            ("Ctrl+Alt+O", "open a session"),
            ("Ctrl+N", "new session (on the model and clip that are open)"),
            ("Ctrl+Shift+E", "sort maps by energy"),
            ("F1", "this list"),
        ]
        html = (
            "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        )
        QMessageBox.information(self, "Keyboard shortcuts", html)

    def show_about(self) -> None:
        from app import __version__

        QMessageBox.about(
            self,
            "About Aurascope",
            f"<b>Aurascope {__version__}</b><br>Listen to what a music CNN has learned: each feature map is "
            "projected back to the spectrogram with a deconvnet and resynthesised with the original phase "
            "(Choi, Kim, Fazekas &amp; Sandler, ISMIR 2015).",
        )
