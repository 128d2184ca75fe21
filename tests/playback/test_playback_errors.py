"""PortAudio's errors reach the listener in words, never as a raw PaErrorCode."""

from __future__ import annotations

from app.playback.errors import portaudio_words


def test_portaudio_errors_in_words() -> None:
    import sounddevice as sd  # the real exception class, shaped as sounddevice raises it

    assert portaudio_words(
        sd.PortAudioError("Error opening OutputStream: Illegal combination of I/O devices", -9993)
    ) == ("the device is not there any more (unplugged or switched off?)")
    host = sd.PortAudioError("Unanticipated host error", -9999, (0, -32, "Broken pipe"))
    assert portaudio_words(host) == "the audio system reported an error: Broken pipe"
    odd = sd.PortAudioError("Error starting stream: Something new [PaErrorCode -9970]")
    assert portaudio_words(odd) == "Error starting stream: Something new"
