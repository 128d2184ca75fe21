"""Playback from the window: the audio device, play/pause/seek, A/B/R/C, loop, loudness-matched gains and the
~30 Hz playhead poll. A part of `MainWindow`; the `PlaybackEngine` does the audio."""

from __future__ import annotations

import math
from dataclasses import replace

from app.core.display import format_time
from app.core.loudness import Level, common_gains, meter_loaded, peak_dbfs
from app.core.types import Method, Mode
from app.playback import AudioDeviceError, Slot
from app.ui import settings as keys

A_MEASURE_INLINE_S = 60.0  # slot A longer than this is measured for loudness matching on the worker, not here


class PlaybackPanel:
    """Methods of `MainWindow` (mixed in); ``self`` is the window."""

    # ==== playback ========================================================================================
    def _load_slot_a(self) -> None:
        if self.clip is None:
            return
        if self.act_full_a.isChecked():
            self.engine.load(Slot.A, self.clip.original, self.clip.original_rate)
        else:
            self.engine.load(Slot.A, self.clip.samples, self.summary.sample_rate)

    def open_device(self) -> bool:
        """Open the output stream (kept open while the app runs); a banner says so if there is none."""
        self.refresh_devices()  # before the stream runs: PortAudio's ALSA probe of every device is slow
        try:
            self.engine.open()
        except AudioDeviceError as err:
            self._device_failed(err)
            return False
        self._device_ok = True
        self.banner.hide()
        self._update_rate_label()
        return True

    def _device_failed(self, err: AudioDeviceError, lost: bool = False) -> None:
        self._device_ok = False
        self._update_rate_label()  # "no device", not the lost device's rate
        what = "The audio device was lost" if lost else "No audio output"
        self.banner.text.setText(
            f"<b>{what}</b>: {err.reason}<br>Everything else works, export included. Pick an output device at "
            "the bottom right (⟳ looks again) or press <i>Try again</i>; playback resumes there."
        )
        self.banner.show()
        self._poll()

    def retry_device(self) -> None:
        self.refresh_devices()
        self.choose_device(self.settings.get(keys.DEVICE))

    def refresh_devices(self) -> None:
        try:
            devices = self.engine.list_output_devices()
        except AudioDeviceError as err:
            self.transport.set_devices([("no output device", "")], "")
            self.transport.device.setToolTip(err.reason)
            return
        names = [("System default", "")] + [(f"{d.name} ({d.host_api})", d.name) for d in devices]
        self.transport.set_devices(names, self.settings.get(keys.DEVICE))

    def choose_device(self, name: str) -> None:
        was_playing = self._was_playing or self.engine.is_playing
        try:
            self.engine.set_device(name or None)
            self.engine.open()
        except AudioDeviceError as err:
            self._device_failed(err)
            return
        self.settings.set(keys.DEVICE, name)
        try:
            self.excerpt_engine.set_device(name or None)  # the Top excerpts panel plays there too
        except AudioDeviceError as err:
            self.excerpts.status.setText(f"No audio output for the excerpts: {err.reason}")
        self._device_ok = True
        self.banner.hide()
        self._update_rate_label()
        if was_playing and not self.engine.is_playing:
            self.play()
        self.statusBar().showMessage(f"Playing through {self.engine.device.name if self.engine.device else name}", 4000)

    def toggle_play(self) -> None:
        if self.excerpts.has_keys():  # Space while an excerpt plays (or the Top excerpts panel has the focus)
            self.excerpts.toggle_play()
            return
        if self.engine.is_playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        self.excerpts.pause()  # one thing sounds at a time
        ready = self.engine.loaded(Slot.B) or self.engine.progressive(Slot.B) is not None
        if self.clip is None or (self.analysis is not None and not ready):  # opening: play once a map is ready
            self._play_queued = True
            self.statusBar().showMessage("preparing… (playback starts when the first map is ready)")
            return
        try:
            self.engine.play()
        except AudioDeviceError as err:
            self._device_failed(err)
            return
        self._was_playing = True
        self._device_ok = True
        self.banner.hide()

    def pause(self) -> None:
        self._play_queued = False
        self.engine.pause()
        self._was_playing = False

    def seek(self, seconds: float) -> None:
        if self.clip is not None:
            self.engine.seek(seconds)
            self.stack.set_playhead(seconds)

    def select_slot(self, slot: Slot) -> None:
        if slot is Slot.C and self.compare is None:
            slot = Slot.B
        self.engine.select(slot)
        actions = {Slot.A: self.act_slot_a, Slot.B: self.act_slot_b, Slot.R: self.act_slot_r, Slot.C: self.act_slot_c}
        actions[slot].setChecked(True)
        self._show_rendering()
        if slot is not Slot.C and self.session.playback.slot != slot.value:
            self.session.set_playback(slot=slot.value)
            self._edited()

    def toggle_ab(self) -> None:
        """A <-> B; while a map is held as C, B <-> C (A stays on its own key)."""
        if self.excerpts.has_keys():  # B while an excerpt plays: its original <-> its feature
            self.excerpts.toggle_ab()
            return
        current = self.engine.selected
        if self.compare is not None and current in (Slot.B, Slot.C):
            self.select_slot(Slot.C if current is Slot.B else Slot.B)
        else:
            self.select_slot(Slot.B if current is Slot.A else Slot.A)

    def toggle_residual(self) -> None:
        self.select_slot(Slot.B if self.engine.selected is Slot.R else Slot.R)

    def set_looping(self) -> None:
        self.engine.set_looping(self.act_loop.isChecked())
        self._playback_edited(loop=self.act_loop.isChecked())

    def _playback_edited(self, **changes) -> None:
        current = self.session.playback
        if all(getattr(current, k) == v for k, v in changes.items()):
            return
        if self._quiet:
            self.session.playback = replace(current, **changes)
            return
        self.session.set_playback(**changes)
        self._edited()

    def _loop_region_changed(self, region) -> None:
        start, end = region
        self.engine.set_loop(start, end)
        if self.clip is not None:
            start, end = round(start, 4), round(end, 4)
            known = self.session.loops.get(self.clip.sha256)
            if known is None or (known.start_s, known.end_s) != (start, end):
                self.session.set_loop(self.clip.sha256, start, end)
                self._edited()
        if not self.act_loop.isChecked():
            self.act_loop.setChecked(True)
            self.set_looping()
        self.statusBar().showMessage(
            f"Loop {format_time(start)} – {format_time(end)} (L toggles, Shift+L clears)", 4000
        )

    def clear_loop_region(self) -> None:
        self.stack.set_loop(None)
        self.engine.clear_loop()
        if self.clip is not None and self.clip.sha256 in self.session.loops:
            self.session.clear_loop(self.clip.sha256)
            self._edited()

    def set_loudness_match(self) -> None:
        self.settings.set(keys.LOUDNESS_MATCH, self.act_match.isChecked())
        self.excerpts.set_loudness_match(self.act_match.isChecked())
        self._apply_gains()
        self._playback_edited(loudness_match=self.act_match.isChecked())

    def _apply_gains(self) -> None:
        """Every loaded slot at one loudness when matching is on, none above -0.1 dBFS ever (`common_gains`): when
        a rendering cannot be raised to the original's loudness without clipping, the original is turned down
        with it, so B is never left quieter than A by a capped gain. A is measured as it plays (its device-rate
        buffer, which may be the file at its own rate), the renderings by their BS.1770 loudness and device peak.
        """
        on = self.act_match.isChecked()
        levels: dict[Slot, Level] = {}
        a_level = self._slot_a_level()
        if a_level is not None:
            levels[Slot.A] = a_level
        for slot, shown in ((Slot.B, self.feature), (Slot.R, self.residual), (Slot.C, self.compared)):
            if shown is not None:
                levels[slot] = Level(shown.loudness_lufs, shown.device_peak_db)
        gains = common_gains(levels, Slot.A, match=on) if Slot.A in levels else {}
        for slot in Slot:
            self.engine.set_slot_gain_db(slot, gains.get(slot, 0.0) if slot in levels else 0.0)
        if Slot.B not in levels:
            self.transport.set_gain(None, on)
            return
        shown = {slot.value: gains.get(slot, 0.0) for slot in (Slot.A, Slot.B, Slot.R) if slot in levels}
        self.transport.set_gain(shown, on)

    def _slot_a_level(self) -> Level | None:
        """Loudness and peak of what slot A plays (measured once per buffer: a clip, the full-rate file, a device
        rate change each load a new one). A buffer over `A_MEASURE_INLINE_S`, or any before the meter is imported
        (start-up: its import would hold the first map back by ~1 s), is measured on the worker (about
        0.15 s of CPU per minute of audio); until then only its peak is known, so nothing is matched to it yet
        (nothing clips either), and the gains are applied again when the measurement arrives."""
        source = self.engine.source(Slot.A)
        if source is None:
            return None
        if self._a_level is not None and self._a_level[0] is source:
            return self._a_level[1]
        rate = self.engine.sample_rate
        if len(source) <= A_MEASURE_INLINE_S * rate and meter_loaded():  # never the meter's import here
            self._a_level = (source, Level.of(source, rate))
            return self._a_level[1]
        if self._a_level_pending is not source:
            self._a_level_pending = source

            def measured(level: Level) -> None:
                if self.engine.source(Slot.A) is source:
                    self._a_level = (source, level)
                    self._apply_gains()

            refused: list[BaseException] = []

            def failed(err: BaseException) -> None:  # said once; this buffer is not measured again
                refused.append(err)
                self.show_error("Cannot measure the original's loudness", str(err))

            def ended() -> None:  # dropped (cancelled, superseded): measured again when the gains are next applied
                if self._a_level_pending is source and not refused:
                    self._a_level_pending = None

            handle = self.controller.measure_level(source, rate)
            handle.finished.connect(measured)
            handle.failed.connect(failed)
            handle.ended.connect(ended)
        return Level(-math.inf, peak_dbfs(source))

    def _volume_changed(self, volume: float) -> None:
        self.engine.set_volume(volume)
        self.excerpts.set_volume(volume)
        self.settings.set(keys.VOLUME, volume)
        self._playback_edited(volume=round(volume, 3))

    def _mode_changed(self, mode: Mode) -> None:
        self.settings.set(keys.MODE, mode.value)
        self._playback_edited(mode=mode.value)
        self._excerpts_outdated()
        if self.selected is not None:
            ref = self.controller.forget_selection()
            self.request_render(ref)
        if self.compare is not None:
            self._set_compare(self.compare)

    def _method_changed(self, method: Method) -> None:
        self.settings.set(keys.METHOD, method.value)
        self._excerpts_outdated()
        if self.selected is not None:
            ref = self.controller.forget_selection()
            self.request_render(ref)
            if self.analysis is not None:
                self._start_thumbnails(ref[0])  # the thumbnails show the method in use
        if self.compare is not None:
            self._set_compare(self.compare)

    def _full_quality_changed(self) -> None:
        self.settings.set(keys.FULL_QUALITY_A, self.act_full_a.isChecked())
        self._load_slot_a()
        self._playback_edited(full_quality_a=self.act_full_a.isChecked())

    def _update_rate_label(self) -> None:
        if self.summary is None:
            return
        device = f"device {self.engine.sample_rate} Hz" if self._device_ok else "no device"
        self.rate_label.setText(f"model {self.summary.sample_rate} Hz · {device}")

    def _poll(self) -> None:
        """~30 Hz: the playhead (latency-compensated by the engine), play state, underflows, a lost device."""
        engine = self.engine
        err = engine.device_error
        if err is not None and self._device_ok:
            self._device_failed(err, lost=True)
        playing = engine.is_playing
        if playing != self._shown_playing or playing != self.act_play.isChecked():
            self._shown_playing = playing
            self.act_play.setChecked(playing)
            self.act_play.setIcon(self.icon_pause if playing else self.icon_play)
            self.act_play.setText("Pause" if playing else "Play")
            if not playing and err is None:
                self._was_playing = False
        if self.clip is not None:
            position = engine.position()
            self.stack.set_playhead(position, playing)
            self.transport.set_time(position, self.clip.duration)
        count = engine.underflows
        if count != self._underflows_seen:  # the mixer knows which gaps interrupted sound (heard) and which not
            self._underflows_seen = count
            self.underflows_playing = engine.heard_underflows
            self.underflows_idle = count - self.underflows_playing
            self.transport.set_underflows(self.underflows_playing, self.underflows_idle)
        holding = engine.waiting_for_fill
        if holding != self._holding_shown:
            self._holding_shown = holding
            if holding:
                self.statusBar().showMessage("preparing… (the rendering is catching up with the playhead)")
            else:
                self.statusBar().clearMessage()
