"""Consent before a shared file runs code: a session's ``package.module:callable`` model is imported only once the
user has seen which files that import executes (path and SHA-256) and agreed, once or always.

A session is what listeners exchange, and importing a module runs it. So nothing here imports anything:
:func:`describe_module` finds the files the import would execute (each package's ``__init__.py``, then the
module) with :class:`importlib.machinery.PathFinder`, which only looks at the file system. "Always trust" is
remembered by hash, not by name, in ``trusted-modules.json`` in the user's config folder
(:func:`config_dir`: ``$AURASCOPE_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/aurascope``, else
``~/.config/aurascope``): the same bytes anywhere are trusted, a changed byte is asked about again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from importlib.machinery import PathFinder
from pathlib import Path

from app.core.audio import file_sha256
from app.core.errors import UnsupportedModelError
from app.core.files import write_text

TRUST_FILE = "trusted-modules.json"
TRUST_FORMAT = "aurascope-trusted-modules"


class Consent(StrEnum):
    """What the user chose when a session names a module: run it this time, always (by hash), or not at all."""

    ONCE = "once"
    ALWAYS = "always"
    WITHOUT_MODEL = "without_model"


@dataclass(frozen=True)
class ModuleFile:
    """One file an import executes."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class ModuleDescription:
    """What importing ``source`` would run: ``files`` in execution order (package ``__init__`` files first, the
    module last); ``sha256`` identifies them all (the module file's own SHA-256 when it is the only file)."""

    source: str
    search_folder: Path | None
    files: tuple[ModuleFile, ...]

    @property
    def path(self) -> Path:
        """The module's own file."""
        return self.files[-1].path

    @property
    def sha256(self) -> str:
        if len(self.files) == 1:
            return self.files[0].sha256
        joined = "".join(f"{f.sha256}  {f.path.name}\n" for f in self.files)
        return hashlib.sha256(joined.encode()).hexdigest()

    def text(self) -> str:
        """One line: the module, its file and the hash, as the CLI and the window show them."""
        extra = f" (and {len(self.files) - 1} package file(s))" if len(self.files) > 1 else ""
        return f"'{self.source}' from '{self.path}'{extra}, sha256 {self.sha256}"


def describe_module(source: str, search_folder: str | Path | None = None) -> ModuleDescription:
    """Find the files importing ``package.module:callable`` would execute, without executing any.

    Looks in ``search_folder`` first, then ``sys.path`` (as the import would). Raises
    :class:`UnsupportedModelError` if the module is not a Python source file found on that path (a module
    already imported, built in or compiled cannot be described by its file, so it is not offered).
    """
    module_name = source.partition(":")[0]
    folder = Path(search_folder).resolve() if search_folder is not None else None
    paths: list[str] | None = ([str(folder)] if folder is not None else []) + [p for p in sys.path if p]
    files: list[ModuleFile] = []
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        spec = PathFinder.find_spec(name, paths)
        if spec is None or spec.origin is None or not spec.has_location:
            raise UnsupportedModelError(source, f"cannot find the Python file of '{name}'")
        origin = Path(spec.origin)
        if origin.suffix != ".py":
            raise UnsupportedModelError(source, f"'{name}' is not a Python source file ({origin.name})")
        files.append(ModuleFile(origin.resolve(), file_sha256(origin)))
        paths = list(spec.submodule_search_locations or [])
        if depth < len(parts) and not paths:
            raise UnsupportedModelError(source, f"'{name}' is a module, not a package")
    return ModuleDescription(source, folder, tuple(files))


def config_dir() -> Path:
    """The user's Aurascope config folder (see the module doc)."""
    if os.environ.get("AURASCOPE_CONFIG_DIR"):
        return Path(os.environ["AURASCOPE_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aurascope"


class TrustStore:
    """Module files the user chose to always trust, by SHA-256 (``trusted-modules.json`` in :func:`config_dir`)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else config_dir() / TRUST_FILE

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}  # no store (or a damaged one) trusts nothing
        entries = data.get("trusted") if isinstance(data, dict) and data.get("format") == TRUST_FORMAT else None
        return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}

    def is_trusted(self, description: ModuleDescription) -> bool:
        return description.sha256 in self._read()

    def trust(self, description: ModuleDescription) -> None:
        """Remember ``description``'s files as trusted, by hash."""
        entries = self._read()
        entries[description.sha256] = {
            "source": description.source,
            "path": str(description.path),
            "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        text = json.dumps({"format": TRUST_FORMAT, "version": 1, "trusted": entries}, indent=2, sort_keys=True)
        write_text(self.path, text + "\n")
