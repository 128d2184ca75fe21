"""The one error the playback engine raises: the audio device cannot be used."""

from __future__ import annotations


class AudioDeviceError(Exception):
    """No PortAudio library, no (such) output device, or the device failed or vanished while playing.

    The engine stays usable after it: slots, playhead and settings are kept, and
    `PlaybackEngine.set_device` (or a later `play`) tries again.
    """

    def __init__(self, reason: str, device: str | int | None = None) -> None:
        self.reason = reason
        self.device = device
        where = f"audio output device {device!r}" if device is not None else "audio output"
        super().__init__(f"{where}: {reason}")
