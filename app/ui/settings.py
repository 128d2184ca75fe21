"""Every QSettings key the window uses, with its default and type, in one place (as MNELAB keeps them).

The store is the platform's (``~/.config/Aurascope/Aurascope.conf`` on Linux), or the INI file named by the
environment variable ``AURASCOPE_SETTINGS`` (tests, benchmarks and screenshots use a throw-away one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings

T = TypeVar("T")
ENV_FILE = "AURASCOPE_SETTINGS"
MAX_RECENT = 8


@dataclass(frozen=True)
class Key(Generic[T]):
    name: str
    default: T
    doc: str


GEOMETRY = Key("window/geometry", QByteArray(), "main window geometry (QWidget.saveGeometry)")
SPLITTER = Key("window/splitter", QByteArray(), "tree | views | inspector splitter state")
VIEW_SPLITTER = Key("window/view_splitter", QByteArray(), "heights of the three stacked views")
DEVICE = Key("audio/device", "", "output device name ('' = the system default)")
VOLUME = Key("audio/volume", 0.8, "master volume, linear 0..1")
LOUDNESS_MATCH = Key("audio/loudness_match", True, "play B and R at the original's loudness (LUFS gain)")
FULL_QUALITY_A = Key("audio/full_quality_a", False, "A plays the file at its own rate (else what the model hears)")
MODE = Key("render/mode", "choi", "resynthesis of B: 'choi' (X * D) or 'magnitude'")
METHOD = Key("render/method", "deconvnet", "attribution: 'deconvnet' (Choi et al.), 'guided-backprop' or 'gradient'")
FOLLOW = Key("view/follow_playhead", True, "scroll the zoomed views to keep the playhead visible")
SORT_BY_ENERGY = Key("view/sort_by_energy", False, "maps in each layer ordered by activation energy")
RECENT_AUDIO = Key("recent/audio", [], "recently opened audio files, newest first")
RECENT_MODELS = Key("recent/models", [], "recently opened model files, newest first")
LAST_DIR = Key("recent/last_dir", "", "folder of the last file dialog")
EXPORT_DIR = Key("export/folder", "", "last export folder")
EXPORT_FORMAT = Key("export/format", "float32", "float32 | pcm24 | pcm16")
EXPORT_LOUDNESS = Key("export/loudness", "none", "none | match | peak")
EXPORT_MODES = Key("export/modes", ["choi"], "resynthesis modes exported")
RECENT_SESSIONS = Key("recent/sessions", [], "recently opened or saved session files, newest first")
OPEN_SESSION = Key("session/open", "", "the session file open when the window last ran ('' = untitled or none)")
LEFT_SPLITTER = Key("window/left_splitter", QByteArray(), "clip list | feature tree heights")
CENTRE_TAB = Key("window/centre_tab", 0, "spectrograms, layer gallery or layer-1 kernels")
MODULE_SOURCE = Key("model/module_source", "", "the last PyTorch module opened: JSON of the dialog's request")
REPORT_DIR = Key("report/folder", "", "last listening-report folder")

ALL_KEYS = (
    GEOMETRY,
    SPLITTER,
    VIEW_SPLITTER,
    DEVICE,
    VOLUME,
    LOUDNESS_MATCH,
    FULL_QUALITY_A,
    MODE,
    METHOD,
    FOLLOW,
    SORT_BY_ENERGY,
    RECENT_AUDIO,
    RECENT_MODELS,
    LAST_DIR,
    EXPORT_DIR,
    EXPORT_FORMAT,
    EXPORT_LOUDNESS,
    EXPORT_MODES,
    RECENT_SESSIONS,
    OPEN_SESSION,
    LEFT_SPLITTER,
    CENTRE_TAB,
    MODULE_SOURCE,
    REPORT_DIR,
)


class Settings:
    """Typed access to a QSettings store through the keys above."""

    def __init__(self, store: QSettings | None = None) -> None:
        if store is None:
            path = os.environ.get(ENV_FILE)
            store = QSettings(path, QSettings.Format.IniFormat) if path else QSettings("Aurascope", "Aurascope")
        self.store = store

    def get(self, key: Key[T]) -> T:
        value = self.store.value(key.name, None)
        if value is None:
            return key.default
        default = key.default
        try:
            if isinstance(default, bool):
                return (value.lower() == "true" if isinstance(value, str) else bool(value)) if value != "" else default
            if isinstance(default, float):
                return float(value)  # type: ignore[return-value]
            if isinstance(default, list):
                if isinstance(value, str):
                    return [value]  # type: ignore[return-value]  (QSettings gives a 1-item list as a str)
                return [str(v) for v in value]  # type: ignore[return-value]
            if isinstance(default, QByteArray):
                return value if isinstance(value, QByteArray) else QByteArray(value)
            return type(default)(value)
        except (TypeError, ValueError):
            return default

    def set(self, key: Key[T], value: T) -> None:
        self.store.setValue(key.name, value)

    def add_recent(self, key: Key[list], path: str) -> list[str]:
        items = [p for p in self.get(key) if p != path]
        items.insert(0, path)
        items = items[:MAX_RECENT]
        self.set(key, items)
        return items

    def state_dir(self) -> Path:
        """Where untitled sessions autosave: a ``sessions`` folder beside the settings file."""
        folder = Path(self.store.fileName()).parent / "sessions"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def sync(self) -> None:
        self.store.sync()
