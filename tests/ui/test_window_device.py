"""A lost audio device, as the listener meets it: Space afterwards says what happened in words (never a raw
PortAudio error code), and the status bar stops showing the lost device's rate."""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import Qt
from ui_fakes import RealTimeStream

VANISHED = "Error opening OutputStream: Illegal combination of I/O devices [PaErrorCode -9993]"


def test_space_after_the_device_is_lost_explains_in_words(make_window, qtbot, fake_device, wav_file, model_file):
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: bool(RealTimeStream.instances) and RealTimeStream.instances[-1].active, timeout=5000)
    assert "device" in window.rate_label.text() and "Hz" in window.rate_label.text()
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)
    assert window.engine.is_playing

    def vanished(**kwargs):  # the device's number now names something else, as after unplugging it
        raise fake_device.PortAudioError(VANISHED)

    fake_device.OutputStream = vanished
    RealTimeStream.instances[-1].close()  # the stream ends by itself
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert "The audio device was lost" in window.banner.text.text()
    assert window.rate_label.text().endswith("no device"), window.rate_label.text()  # not the lost one's rate
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)  # play again: the reopen fails
    text = window.banner.text.text()
    assert "No audio output" in text and "the device is not there any more" in text, text
    assert "PaErrorCode" not in text and "-9993" not in text
    assert not window.engine.is_playing


def test_a_gap_the_listener_hears_shows_in_the_transport(make_window, qtbot, wav_file, model_file) -> None:
    """The stand-in device raises no underflow flag (as PortAudio's ALSA layer often does not); the gap in its
    DAC clock after a starved callback is still counted, and shown as heard because it interrupted playback."""
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: bool(RealTimeStream.instances) and RealTimeStream.instances[-1].active, timeout=5000)
    window.act_loop.setChecked(True)
    window.set_looping()
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)
    qtbot.wait(300)
    assert window.engine.is_playing and window.transport.underflows.text() == "underflows 0"
    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # the audio thread cannot take the GIL from this busy loop: 0.4 s > the latency
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.4:
            pass
    finally:
        sys.setswitchinterval(old)
    qtbot.waitUntil(lambda: window.transport.underflows.text() != "underflows 0", timeout=3000)
    heard = int(window.transport.underflows.text().split()[-1])
    assert heard >= 1 and window.engine.heard_underflows >= 1
    assert window.engine.mixer.clock_gaps >= 1  # seen in the DAC clock: no flag was raised
