"""``aurascope install-desktop``: a ``.desktop`` entry (and the icon) so the window opens from the desktop's menu
and by double-clicking an audio file. No Qt here: the CLI calls it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "resources" / "aurascope.desktop.in"
ICON = ROOT / "resources" / "aurascope.svg"
DESKTOP_NAME = "aurascope.desktop"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def find_launcher() -> list[str]:
    """The command that opens the window, absolute: the installed ``aurascope-gui`` beside this Python, else
    this Python running ``main.py``."""
    for folder in (Path(sys.executable).parent, Path(sys.argv[0]).resolve().parent):
        candidate = folder / "aurascope-gui"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate.absolute())]
    found = shutil.which("aurascope-gui")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), str(ROOT / "main.py")]


def desktop_entry(launcher: list[str], icon: Path) -> str:
    """The template with the launcher (quoted as the Desktop Entry spec asks) and the icon filled in."""
    exec_line = " ".join(_quote_exec(arg) for arg in launcher)
    return TEMPLATE.read_text().replace("@LAUNCHER@", exec_line).replace("@ICON@", str(icon))


def _quote_exec(arg: str) -> str:
    """Desktop Entry Exec quoting: reserved characters need double quotes, with \\ " ` $ escaped."""
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


def install_desktop(target_dir: Path | None = None, *, launcher: list[str] | None = None) -> Path:
    """Write ``aurascope.desktop`` to ``target_dir`` (default ``$XDG_DATA_HOME/applications``, i.e.
    ``~/.local/share/applications``) and the icon to ``<target_dir>/../icons/hicolor/scalable/apps``.

    Returns the path of the entry; refreshes the desktop database when ``update-desktop-database`` exists.
    """
    apps = Path(target_dir) if target_dir is not None else data_home() / "applications"
    icons = apps.parent / "icons" / "hicolor" / "scalable" / "apps"  # beside it: ~/.local/share/icons/...
    apps.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    icon = icons / "aurascope.svg"
    shutil.copyfile(ICON, icon)
    entry = apps / DESKTOP_NAME
    entry.write_text(desktop_entry(launcher or find_launcher(), icon))
    entry.chmod(0o755)
    if shutil.which("update-desktop-database"):
        subprocess.run(["update-desktop-database", str(apps)], capture_output=True, check=False)
    return entry


def exec_command(entry: Path, files: list[str]) -> list[str]:
    """The command line a desktop would run for ``entry`` with ``files`` (``%F`` expanded)."""
    for line in entry.read_text().splitlines():
        if line.startswith("Exec="):
            args = shlex.split(line[len("Exec=") :])
            out: list[str] = []
            for arg in args:
                out.extend(files) if arg == "%F" else out.append(arg)
            return out
    raise ValueError(f"{entry} has no Exec line")
