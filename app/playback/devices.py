"""Finding output devices through sounddevice, imported lazily so a missing PortAudio is an error, not a crash.

``import sounddevice`` raises OSError when the PortAudio library is absent; importing `app.playback` must
still work then (the app runs without sound and says why), so every use goes through `load_sounddevice`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TypedDict

from app.playback.errors import AudioDeviceError, portaudio_words

#: Module name imported by `load_sounddevice`; tests point it at a stand-in to simulate a broken install.
SOUNDDEVICE_MODULE = "sounddevice"


@dataclass(frozen=True)
class OutputDevice:
    """One PortAudio output device as the user picks it.

    index: PortAudio device index (valid until PortAudio is re-initialised).
    name: device name, e.g. ``"default"`` or ``"pulse"``.
    host_api: host API name, e.g. ``"ALSA"``.
    max_output_channels: channels the device accepts.
    default_sample_rate: the device's preferred rate in Hz.
    is_default: whether it is the current default output device.
    """

    index: int
    name: str
    host_api: str
    max_output_channels: int
    default_sample_rate: float
    is_default: bool = False


def load_sounddevice() -> ModuleType:
    """Import and return the sounddevice module.

    Raises:
        AudioDeviceError: the PortAudio library (Debian: ``libportaudio2``) cannot be loaded.
    """
    try:
        return importlib.import_module(SOUNDDEVICE_MODULE)
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise AudioDeviceError(
            f"the PortAudio library cannot be loaded ({exc}); install it (Debian: libportaudio2)"
        ) from exc
    except ImportError as exc:
        raise AudioDeviceError(f"the sounddevice package is not installed ({exc})") from exc


class DeviceInfo(TypedDict):
    """The keys of ``sounddevice.query_devices()``'s entries read here."""

    index: int
    name: str
    hostapi: int
    max_output_channels: int
    default_samplerate: float


def _to_device(sd: ModuleType, info: DeviceInfo, default_index: int) -> OutputDevice:
    host_api = sd.query_hostapis(info["hostapi"])["name"]
    return OutputDevice(
        index=int(info["index"]),
        name=str(info["name"]),
        host_api=str(host_api),
        max_output_channels=int(info["max_output_channels"]),
        default_sample_rate=float(info["default_samplerate"]),
        is_default=int(info["index"]) == default_index,
    )


def _default_output_index(sd: ModuleType) -> int:
    try:
        return int(sd.default.device[1])
    except (TypeError, ValueError, IndexError):
        return -1


def list_output_devices() -> list[OutputDevice]:
    """All devices with at least one output channel, in PortAudio's order.

    Raises:
        AudioDeviceError: PortAudio is missing or cannot enumerate devices.
    """
    sd = load_sounddevice()
    try:
        infos = sd.query_devices()
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list devices: {portaudio_words(exc)}") from exc
    default_index = _default_output_index(sd)
    return [_to_device(sd, info, default_index) for info in infos if info["max_output_channels"] > 0]


def resolve_output_device(name_or_index: str | int | None) -> OutputDevice:
    """The output device for a name (substring, as sounddevice matches it), an index, or None = default.

    Raises:
        AudioDeviceError: no such output device, it has no output channels, or there is no default.
    """
    sd = load_sounddevice()
    try:
        info = sd.query_devices(name_or_index, kind="output")
    except (ValueError, sd.PortAudioError) as exc:
        words = portaudio_words(exc) if isinstance(exc, sd.PortAudioError) else str(exc)
        if name_or_index is None:
            reason = f"there is no default output device ({words})"
        else:
            names = ", ".join(repr(d.name) for d in _safe_list(sd)) or "none"
            reason = f"no such output device ({words}); output devices: {names}"
        raise AudioDeviceError(reason, name_or_index) from exc
    if int(info["max_output_channels"]) < 1:
        raise AudioDeviceError("the device has no output channels", name_or_index)
    return _to_device(sd, info, _default_output_index(sd))


def _safe_list(sd: ModuleType) -> list[OutputDevice]:
    try:
        return list_output_devices()
    except AudioDeviceError:
        return []
