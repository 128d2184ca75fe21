"""`aurascope install-desktop`: the entry it writes is valid, absolute, and opens audio files (%F)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.desktop import desktop_entry, exec_command, install_desktop

ROOT = Path(__file__).resolve().parents[1]


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser["Desktop Entry"]


def test_install_desktop_through_the_cli(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "share"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "app", "install-desktop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    entry_path = tmp_path / "share" / "applications" / "aurascope.desktop"
    assert out.stdout.strip() == f"wrote {entry_path}"
    entry = _entry(entry_path)
    assert entry["Categories"] == "AudioVideo;Audio;"
    assert entry["MimeType"] == "audio/x-wav;audio/flac;audio/mpeg;audio/ogg;"
    assert entry["Exec"].endswith(" %F") and entry["Type"] == "Application" and entry["Terminal"] == "false"
    command = exec_command(entry_path, ["/music/a b.wav"])
    assert Path(command[0]).is_absolute() and Path(command[0]).exists() and command[-1] == "/music/a b.wav"
    assert Path(entry["Icon"]).is_file() and Path(entry["Icon"]).read_text().startswith("<?xml")
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate not installed (Debian: desktop-file-utils)")
    check = subprocess.run(["desktop-file-validate", str(entry_path)], capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == "", check.stdout + check.stderr


def test_the_launcher_is_the_installed_gui_script_when_there_is_one(tmp_path: Path) -> None:
    launcher = tmp_path / "bin with space" / "aurascope-gui"
    launcher.parent.mkdir()
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o755)
    text = desktop_entry([str(launcher)], tmp_path / "icon.svg")
    assert f'Exec="{launcher}" %F' in text  # quoted, as the Desktop Entry spec wants for spaces
    entry = install_desktop(tmp_path / "apps", launcher=[str(launcher)])
    assert exec_command(entry, ["x.wav"]) == [str(launcher), "x.wav"]
