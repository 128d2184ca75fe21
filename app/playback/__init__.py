"""Playback: one sounddevice output stream, A/B/R slots with a shared playhead, crossfade, loop. No Qt.

Importing this package never touches PortAudio; sounddevice is imported when a device is first needed, and
a missing PortAudio library becomes an `AudioDeviceError`.
"""

from __future__ import annotations

from app.playback.devices import OutputDevice, list_output_devices
from app.playback.engine import PlaybackEngine
from app.playback.errors import AudioDeviceError
from app.playback.mixer import Mixer, MixSettings, Slot

__all__ = [
    "AudioDeviceError",
    "MixSettings",
    "Mixer",
    "OutputDevice",
    "PlaybackEngine",
    "Slot",
    "list_output_devices",
]
