"""The engine: audio, front ends, model files, the deconvnet and resynthesis. No Qt, no sounddevice.

Tensor layout everywhere: ``(batch, channel, freq, time)``. A spectrogram on its own is
``(n_freq, n_frames)``; audio is mono float32 ``(n_samples,)``. Layers are counted from 1, feature maps
from 0, as in the 2015 demo.
"""

from app.core.errors import (
    AudioLoadError,
    AurascopeError,
    ClipTooShortError,
    FidelityWarning,
    ModelFormatError,
    ReportError,
    SelectionError,
    SessionError,
    UnsupportedModelError,
)

__all__ = [
    "AudioLoadError",
    "AurascopeError",
    "ClipTooShortError",
    "FidelityWarning",
    "ModelFormatError",
    "ReportError",
    "SelectionError",
    "SessionError",
    "UnsupportedModelError",
]
