"""The limits on what Aurascope reads, each checked BEFORE anything is allocated for it.

A hostile or damaged file can declare anything in a few bytes: a WAV header saying 1 Hz (15 hours of samples
once resampled), a model declaring a million maps, a JSON header of gigabytes. Each limit here has a default
that covers every real use we know of, a name a user can read in the error, and an environment variable that
raises (or lowers) it:

======================  =====================================  ===============  ==================================
limit                   what it bounds                         default          environment variable
======================  =====================================  ===============  ==================================
lowest sample rate      an audio file's or a front end's rate  1000 Hz          AURASCOPE_MIN_SAMPLE_RATE
highest sample rate     an audio file's or a front end's rate  768000 Hz        AURASCOPE_MAX_SAMPLE_RATE
longest clip            an audio file's duration               14400 s (4 h)    AURASCOPE_MAX_DURATION
channels                an audio file's channel count          64               AURASCOPE_MAX_CHANNELS
maps per layer          a conv's out_channels (and in_)        4096             AURASCOPE_MAX_MAPS
kernel size             a conv's or max-pool's kernel side     4097             AURASCOPE_MAX_KERNEL
layers                  blocks in a model's body or head       256              AURASCOPE_MAX_BLOCKS
n_fft                   a front end's FFT size                 65536            AURASCOPE_MAX_N_FFT
mel bands               a front end's n_mels                   1024             AURASCOPE_MAX_N_MELS
classifier outputs      a linear layer's in/out features       1000000          AURASCOPE_MAX_FEATURES
metadata size           a model's safetensors JSON header,     16 MB            AURASCOPE_MAX_METADATA_BYTES
                        a front-end sidecar file
session size            a session or autosave file             32 MB            AURASCOPE_MAX_SESSION_BYTES
analysis memory         the whole-clip analysis (STFT +        8192 MB          AURASCOPE_MAX_ANALYSIS_MB
                        forward pass) of export/report/window
======================  =====================================  ===============  ==================================

Feature lists (``--features 0-999999999``) are bounded by the model's own maps and checked before a list is
built. ``predict`` and ``characterise`` stream long clips window by window, so their memory does not grow with
the clip's length; the analysis-memory limit is for the whole-clip paths (export, report, the window).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum

from app.core.errors import AurascopeError


class Bound(StrEnum):
    """Whether a limit is a ceiling (``at_most``) or a floor (``at_least``)."""

    AT_MOST = "at_most"
    AT_LEAST = "at_least"


class LimitError(AurascopeError):
    """A declared size beyond a stated limit; the message names the limit and the variable that changes it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Limit:
    """One stated limit: its name in the user's words, its default, its unit and the variable that sets it."""

    name: str
    default: int
    unit: str
    env: str
    bound: Bound = Bound.AT_MOST

    @property
    def value(self) -> int:
        """The limit in force: the environment variable's whole number if set, else the default."""
        text = os.environ.get(self.env)
        if text is None or not text.strip():
            return self.default
        try:
            value = int(text.strip())
        except ValueError:
            raise LimitError(f"the environment variable {self.env} must be a whole number, got {text!r}") from None
        if value < 0:
            raise LimitError(f"the environment variable {self.env} must not be negative, got {value}")
        return value

    def problem(self, value: float, what: str) -> str | None:
        """Why ``value`` (of ``what``, e.g. "layer 1's maps") breaks this limit, or None if it is within it."""
        limit = self.value
        if self.bound is Bound.AT_MOST and value > limit:
            side, change = "over", "raise"
        elif self.bound is Bound.AT_LEAST and value < limit:
            side, change = "under", "lower"
        else:
            return None
        return (
            f"{what} is {_number(value)} {self.unit}, {side} the {self.name} limit of {_number(limit)} {self.unit} "
            f"(set the environment variable {self.env} to {change} it)"
        )

    def check(self, value: float, what: str) -> None:
        """Raise :class:`LimitError` if ``value`` breaks the limit."""
        reason = self.problem(value, what)
        if reason is not None:
            raise LimitError(reason)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


MIN_SAMPLE_RATE = Limit("lowest sample rate", 1000, "Hz", "AURASCOPE_MIN_SAMPLE_RATE", Bound.AT_LEAST)
MAX_SAMPLE_RATE = Limit("highest sample rate", 768_000, "Hz", "AURASCOPE_MAX_SAMPLE_RATE")
MAX_DURATION = Limit("longest clip", 4 * 3600, "s", "AURASCOPE_MAX_DURATION")
MAX_CHANNELS = Limit("channel count", 64, "channels", "AURASCOPE_MAX_CHANNELS")
MAX_MAPS = Limit("maps per layer", 4096, "maps", "AURASCOPE_MAX_MAPS")
# full-height kernels (one column over every bin, Pons et al.'s timbre filters) are real: 4097 = an 8192-point STFT
MAX_KERNEL = Limit("kernel size", 4097, "bins", "AURASCOPE_MAX_KERNEL")
MAX_BLOCKS = Limit("layer count", 256, "blocks", "AURASCOPE_MAX_BLOCKS")
MAX_N_FFT = Limit("FFT size", 65_536, "samples", "AURASCOPE_MAX_N_FFT")
MAX_N_MELS = Limit("mel band count", 1024, "bands", "AURASCOPE_MAX_N_MELS")
MAX_FEATURES = Limit("classifier size", 1_000_000, "features", "AURASCOPE_MAX_FEATURES")
MAX_METADATA_BYTES = Limit("metadata size", 16 * 1024 * 1024, "bytes", "AURASCOPE_MAX_METADATA_BYTES")
MAX_SESSION_BYTES = Limit("session size", 32 * 1024 * 1024, "bytes", "AURASCOPE_MAX_SESSION_BYTES")
MAX_ANALYSIS_MB = Limit("analysis memory", 8192, "MB", "AURASCOPE_MAX_ANALYSIS_MB")


def check_sample_rate(rate: float, what: str) -> None:
    """Both sample-rate limits at once."""
    MIN_SAMPLE_RATE.check(rate, what)
    MAX_SAMPLE_RATE.check(rate, what)
