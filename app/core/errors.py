"""Specific errors the core raises; each names the file (or thing) and the reason."""

from __future__ import annotations

from pathlib import Path


class AurascopeError(Exception):
    """Base of every error the core raises on bad input."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type's name if empty): the reason a library gave, in short."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class AudioLoadError(AurascopeError):
    """An audio file is missing, corrupt or in a format we cannot read."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read audio file '{self.path}': {reason}")


class ModelFormatError(AurascopeError):
    """A model file is not one of ours, or its metadata or weights are malformed."""

    def __init__(self, path: str | Path | None, reason: str, field: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        self.field = field
        where = f"'{self.path}'" if self.path is not None else "model"
        what = f" (field '{field}')" if field else ""
        super().__init__(f"not a valid Aurascope model file {where}{what}: {reason}")


class ClipTooShortError(AurascopeError):
    """A clip shorter than the smallest input the model's layers can take."""

    def __init__(self, path: str | Path, seconds: float, needed: float) -> None:
        self.path = Path(path)
        super().__init__(f"clip '{self.path}' lasts {seconds:.2f} s; this model needs at least {needed:.2f} s")


class SelectionError(AurascopeError):
    """A layer or feature index outside what the model has."""


class SessionError(AurascopeError):
    """A session file that cannot be read (damaged JSON, a wrong type, a newer format) or written."""

    def __init__(self, path: str | Path, reason: str, field: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        self.field = field
        what = f" (field '{field}')" if field else ""
        super().__init__(f"cannot use session file '{self.path}'{what}: {reason}")


class UnsupportedModelError(AurascopeError):
    """A network (a module or an ONNX graph) that cannot be traced, converted or written; names the layer."""

    def __init__(self, source: str | Path, reason: str, node: str | None = None) -> None:
        self.source = str(source)
        self.reason = reason
        self.node = node
        where = f" at '{node}'" if node else ""
        super().__init__(f"cannot use model '{self.source}'{where}: {reason}")


class FidelityWarning(UserWarning):
    """A network that loads, but where the chosen method is not the textbook one at some layer (says which)."""


class ReportError(AurascopeError):
    """A listening report that cannot be written (the folder, the disk) or has nothing to show."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot write the report in '{self.path}': {reason}")


class AtlasError(AurascopeError):
    """An atlas file that cannot be opened, is not an atlas, or was built with another model or settings."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot use atlas '{self.path}': {reason}")


class EngineError(AurascopeError):
    """An atlas engine that cannot run here (Ray not installed, no cluster at the address)."""


class NonFiniteError(AurascopeError):
    """A result that overflowed to NaN or infinity (samples or weights huge but finite): refused, never written."""
