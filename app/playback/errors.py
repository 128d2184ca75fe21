"""The one error the playback engine raises (the audio device cannot be used), and PortAudio's errors in words."""

from __future__ import annotations

import re


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


#: PortAudio's error codes (``PaErrorCode`` in portaudio.h) as a listener would put them
_PORTAUDIO_WORDS = {
    -9985: "Device unavailable: another program may be using it, or it was unplugged",  # paDeviceUnavailable
    -9996: "the device is not there any more (unplugged or switched off?)",  # paInvalidDevice
    -9993: "the device is not there any more (unplugged or switched off?)",  # paBadIODeviceCombination
    -9997: "the device cannot play at this sample rate",  # paInvalidSampleRate
    -9998: "the device does not offer that many output channels",  # paInvalidChannelCount
    -9994: "the device does not take 32-bit float samples",  # paSampleFormatNotSupported
    -9987: "the device did not answer in time",  # paTimedOut
    -10000: "the audio system is not initialised",  # paNotInitialized
}
_CODE = re.compile(r"\s*\[PaErrorCode (-?\d+)\]")


def portaudio_words(exc: BaseException) -> str:
    """What a PortAudio error (``sounddevice.PortAudioError``) means, in words, without its raw error code.

    ``"Error opening OutputStream: Illegal combination of I/O devices [PaErrorCode -9993]"`` (the device
    vanished and its number now means something else) becomes "the device is not there any more (unplugged or
    switched off?)"; an error of the host (ALSA, ...) keeps the host's own text.
    """
    args = getattr(exc, "args", ())
    code = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    text = str(args[0]) if args else str(exc)
    found = _CODE.search(text)
    if code is None and found is not None:
        code = int(found.group(1))
    text = _CODE.sub("", text).strip()
    if code in _PORTAUDIO_WORDS:
        return _PORTAUDIO_WORDS[code]
    if len(args) > 2 and isinstance(args[2], tuple) and len(args[2]) == 3 and args[2][2]:
        return f"the audio system reported an error: {args[2][2]}"  # paUnanticipatedHostError: the host's words
    return text or "the audio system reported an error"
