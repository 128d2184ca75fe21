"""`PlaybackEngine` without a sound card: a stand-in sounddevice whose callback the test pumps by hand, the
missing-PortAudio path, and device errors."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from playback_fakes import FakeOutputStream

from app.core.resampling import resample
from app.playback import AudioDeviceError, PlaybackEngine, Slot, devices

ROOT = Path(__file__).resolve().parents[2]


def _tone(freq: float, sr: int, seconds: float) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(round(sr * seconds)) / sr)).astype(np.float32)


def test_importing_app_playback_does_not_import_sounddevice() -> None:
    code = "import sys, app.playback; assert 'sounddevice' not in sys.modules, 'imported eagerly'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_missing_portaudio_is_an_audio_device_error_and_the_engine_stays_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a module that fails exactly as sounddevice does when libportaudio2 is absent
    (tmp_path / "no_portaudio_sd.py").write_text("raise OSError('PortAudio library not found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(devices, "SOUNDDEVICE_MODULE", "no_portaudio_sd")
    engine = PlaybackEngine()
    engine.load(Slot.A, _tone(440, 22050, 1.0), 22050)  # works: falls back to 48 kHz
    assert engine.sample_rate == 48000 and engine.length == 48000
    assert isinstance(engine.device_error, AudioDeviceError)
    with pytest.raises(AudioDeviceError, match=r"PortAudio library cannot be loaded.*libportaudio2"):
        engine.play()
    with pytest.raises(AudioDeviceError, match="PortAudio"):
        engine.list_output_devices()
    engine.select(Slot.B)
    engine.seek(0.5)
    assert engine.position() == pytest.approx(0.5)
    assert not engine.is_playing


def test_resample_keeps_pitch_and_length() -> None:
    x = _tone(1000, 11025, 1.0)
    y = resample(x, 11025, 48000)
    assert y.dtype == np.float32 and y.flags.c_contiguous and len(y) == 48000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.argmax(spectrum) * 48000 / len(y) == pytest.approx(1000, abs=1)


def test_load_resamples_to_the_device_rate_and_play_runs_through_the_callback(fake_sd) -> None:
    engine = PlaybackEngine(crossfade_s=0.0)
    a = _tone(440, 24000, 1.0)
    engine.load(Slot.A, a, 24000)
    assert engine.sample_rate == 48000 and engine.length == 48000  # default device "speakers": 48 kHz
    engine.play()
    stream = FakeOutputStream.instances[-1]
    assert stream.kwargs["blocksize"] == 0 and stream.kwargs["dtype"] == "float32"
    assert stream.kwargs["latency"] == 0.1 and stream.channels == 2 and stream.kwargs["device"] == 1
    out = stream.pump(512)
    np.testing.assert_array_equal(out[:, 0], engine.mixer.settings.sources[0][:512])
    np.testing.assert_array_equal(out[:, 1], out[:, 0])
    assert engine.is_playing and engine.playhead_samples == 512


def test_position_is_the_audible_sample_not_the_written_one(fake_sd) -> None:
    engine = PlaybackEngine()
    engine.load(Slot.A, _tone(440, 48000, 2.0), 48000)
    engine.play()
    stream = FakeOutputStream.instances[-1]
    t0 = stream.time
    for _ in range(20):  # 20 blocks of 480 = 0.2 s written, each audible 0.1 s after it is written
        stream.pump(480)
    assert engine.playhead_samples == 9600
    stream.time = t0 + 0.15  # 0.15 s after the first block was written: its DAC time + 0.05 s
    assert engine.position_samples() == 2400
    assert engine.position() == pytest.approx(0.05)
    engine.pause()
    stream.pump(480)  # the stream clock moves on by 10 ms
    # the buffered audio still plays out after a pause: the display glides on, it does not jump ahead
    assert engine.position_samples() == 2880 and engine.playhead_samples == 9600 + 240
    engine.seek(1.5)  # a seek while paused shows at once
    assert engine.position() == pytest.approx(1.5)


def test_end_of_buffer_stops_and_select_is_applied_by_the_callback(fake_sd) -> None:
    engine = PlaybackEngine(crossfade_s=0.0)
    engine.load(Slot.A, np.ones(1000, dtype=np.float32), 48000)
    engine.load(Slot.B, np.full(1000, 0.5, dtype=np.float32), 48000)
    engine.play()
    stream = FakeOutputStream.instances[-1]
    stream.pump(256)
    engine.select(Slot.B)
    assert engine.selected is Slot.B
    out = stream.pump(1024)[:, 0]
    np.testing.assert_array_equal(out[:744], 0.5)
    np.testing.assert_array_equal(out[744:], 0.0)
    assert not engine.is_playing
    engine.play()  # from the start again
    stream.pump(10)
    assert engine.is_playing and engine.playhead_samples == 10


def test_slot_gain_and_volume_reach_the_callback(fake_sd) -> None:
    engine = PlaybackEngine(crossfade_s=0.0)
    engine.load(Slot.B, np.ones(4800, dtype=np.float32), 48000)
    engine.select(Slot.B)
    engine.set_slot_gain_db(Slot.B, -20.0)
    engine.set_volume(0.5)
    engine.play()
    out = FakeOutputStream.instances[-1].pump(64)
    np.testing.assert_allclose(out, 0.05, rtol=1e-6)


def test_loop_in_seconds(fake_sd) -> None:
    engine = PlaybackEngine(crossfade_s=0.0)
    engine.load(Slot.A, np.arange(48000, dtype=np.float32), 48000)
    engine.set_loop(0.25, 0.5)
    engine.set_looping(True)
    assert engine.loop_region == (12000, 24000)
    engine.seek(0.49)
    engine.play()
    out = FakeOutputStream.instances[-1].pump(1000)[:, 0]
    assert out[479] == 23999 and out[480] == 12000


def test_underflow_flags_from_portaudio_are_counted(fake_sd) -> None:
    engine = PlaybackEngine()
    engine.load(Slot.A, np.ones(48000, dtype=np.float32), 48000)
    engine.play()
    stream = FakeOutputStream.instances[-1]
    for flag in (False, True, True, False):
        stream.pump(256, underflow=flag)
    assert engine.underflows == 2


def test_unknown_device_is_a_specific_error_and_the_engine_stays_usable(fake_sd) -> None:
    engine = PlaybackEngine()
    engine.load(Slot.A, np.ones(48000, dtype=np.float32), 48000)
    engine.play()
    with pytest.raises(AudioDeviceError, match=r"'no such card'.*no such output device.*'speakers'"):
        engine.set_device("no such card")
    with pytest.raises(AudioDeviceError, match="no output channels"):
        engine.set_device(0)
    assert engine.is_playing  # still on the old device
    for _ in range(30):
        FakeOutputStream.instances[-1].pump(480)  # 0.3 s written, 0.2 s of it heard
    engine.set_device("hdmi")  # 44.1 kHz: slots resampled, playhead converted, playing goes on
    assert engine.device is not None and engine.device.name == "hdmi"
    assert engine.sample_rate == 44100 and engine.length == 44100
    assert engine.playhead_samples == round(9600 * 44100 / 48000)  # resumes at the audible sample
    stream = FakeOutputStream.instances[-1]
    assert stream.kwargs["device"] == 2 and stream.channels == 2  # 8-channel device, stereo stream
    stream.pump(100)
    assert engine.is_playing


def test_portaudio_refusing_the_stream_is_an_audio_device_error(fake_sd) -> None:
    engine = PlaybackEngine()
    engine.load(Slot.A, np.ones(4800, dtype=np.float32), 48000)
    FakeOutputStream.fail_open = fake_sd.PortAudioError("Device unavailable [PaErrorCode -9985]")
    with pytest.raises(AudioDeviceError, match="cannot open an output stream: Device unavailable"):
        engine.play()
    assert not engine.is_playing and engine.device_error is not None
    FakeOutputStream.fail_open = None
    engine.play()
    assert engine.is_playing and engine.device_error is None


def test_device_lost_mid_play_is_reported_and_the_engine_recovers(fake_sd) -> None:
    engine = PlaybackEngine()
    engine.load(Slot.A, np.ones(48000, dtype=np.float32), 48000)
    engine.play()
    stream = FakeOutputStream.instances[-1]
    for _ in range(3):
        stream.pump(4800)  # 0.3 s written; the first 0.2 s of it has reached the DAC
    stream.die()
    err = engine.device_error
    assert isinstance(err, AudioDeviceError) and "stopped by itself" in str(err)
    assert not engine.is_playing and stream.closed
    assert engine.position_samples() == 9600  # the last audible sample, not the last written one
    engine.play()  # reopens the device and resumes where the listener was
    assert engine.device_error is None and engine.is_playing
    assert engine.playhead_samples == 9600


def test_callbacks_that_stop_coming_are_a_lost_device(fake_sd) -> None:
    engine = PlaybackEngine(stall_timeout_s=0.5)
    engine.load(Slot.A, np.ones(48000, dtype=np.float32), 48000)
    engine.play()
    stream = FakeOutputStream.instances[-1]
    stream.pump(480)
    stream.time += 0.4
    assert engine.device_error is None
    stream.time += 0.2  # 0.6 s since the last callback, stream still "active"
    assert "asked for no audio" in str(engine.device_error)
    assert not engine.is_playing


def test_a_failing_callback_aborts_the_stream_and_is_reported(fake_sd) -> None:
    engine = PlaybackEngine()
    engine.load(Slot.A, np.ones(48000, dtype=np.float32), 48000)
    engine.play()
    stream = FakeOutputStream.instances[-1]
    with pytest.raises(fake_sd.CallbackAbort):
        stream.callback(np.zeros((16, 3), dtype=np.float32), 16, None, None)  # broken time info
    stream.die()
    assert "callback failed" in str(engine.device_error)


@pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="PortAudio (libportaudio2) not installed: run `bash scripts/ci_env.sh`",
)
def test_real_portaudio_unknown_device_name() -> None:
    code = textwrap.dedent(
        """
        import numpy as np
        from app.playback import AudioDeviceError, PlaybackEngine, Slot, list_output_devices
        devices = list_output_devices()
        engine = PlaybackEngine("no such sound card 4711")
        engine.load(Slot.A, np.zeros(100, dtype=np.float32), 48000)
        try:
            engine.play()
        except AudioDeviceError as exc:
            assert "no such sound card 4711" in str(exc) and "no such output device" in str(exc), exc
        else:
            raise AssertionError("no AudioDeviceError")
        assert not engine.is_playing and engine.position() == 0.0
        print(len(devices))
        """
    )
    # a subprocess, so this process does not initialise PortAudio before the real-sink tests want it
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_stream_whose_callback_is_never_called_is_a_lost_device(fake_sd) -> None:
    engine = PlaybackEngine(stall_timeout_s=0.1)
    engine.load(Slot.A, np.ones(4800, dtype=np.float32), 48000)
    engine.play()  # the stand-in never calls the callback unless pumped
    assert engine.device_error is None
    time.sleep(0.15)
    assert "asked for no audio within 0.1 s" in str(engine.device_error)
    assert not engine.is_playing


def test_list_output_devices_skips_input_only_devices(fake_sd) -> None:
    found = PlaybackEngine.list_output_devices()
    assert [(d.index, d.name, d.max_output_channels, d.is_default) for d in found] == [
        (1, "speakers", 2, True),
        (2, "hdmi", 8, False),
    ]
    assert found[1].default_sample_rate == 44100.0 and found[0].host_api == "FakeAPI"
