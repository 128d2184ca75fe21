"""``aurascope`` dispatches: a command to the headless CLI (which never imports the window), files or nothing to
the window. The window itself is started in tests/test_app_launch.py; here the choice and the CLI's side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import ROOT, run

from app.cli import command_names
from app.launch import opens_window


def test_the_commands_are_the_parsers() -> None:
    assert {"info", "layers", "export", "report", "install-desktop", "atlas"} <= command_names()


@pytest.mark.parametrize(
    ("args", "window"),
    [
        ([], True),
        (["song.wav"], True),
        (["song.wav", "model.safetensors"], True),
        (["--model", "m.safetensors"], True),
        (["-a", "x.flac", "--no-thumbnails"], True),
        (["info", "m.safetensors"], False),
        (["export", "--help"], False),
        (["--version"], False),
        (["--help"], False),
        (["exprot"], False),  # a mistyped command: the CLI names it, no window on a missing file
        (["--model=m.safetensors"], True),  # the window's options as argparse also reads them
        (["--audio=x.flac"], True),
        (["-mm.safetensors"], True),
        (["-ax.flac", "-m", "m.safetensors"], True),
        (["--mod", "m.safetensors"], True),
        (["--no-thumb"], True),
        (["--version=1"], False),
        (["--"], False),
        (["-v"], False),
    ],
)
def test_what_opens_the_window(args: list[str], window: bool) -> None:
    assert opens_window(args) is window


def test_a_bare_word_that_is_a_file_opens_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "take").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert opens_window(["take"]) is True


def test_a_mistyped_command_is_one_line_and_status_2() -> None:
    result = run("exprot", "-m", "x")
    assert result.returncode == 2
    assert "invalid choice: 'exprot'" in result.stderr and "Traceback" not in result.stderr


def test_a_command_through_the_launcher_never_imports_the_window(model_file: Path) -> None:
    code = (
        "import sys; from app.launch import main; code = main(['layers', sys.argv[1]]);"
        "print(sorted(m for m in sys.modules if m.startswith(('app.ui', 'PySide6'))), file=sys.stderr);"
        "raise SystemExit(code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(model_file)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{n}\tconv{n}\t8" for n in range(1, 6)]
    assert out.stderr.strip() == "[]"


def test_the_cli_alone_with_no_command_asks_for_one() -> None:
    code = "from app.cli import main; raise SystemExit(main([]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "a command is needed" in out.stderr and "Traceback" not in out.stderr


def test_the_launcher_gives_the_windows_attached_options_to_the_window(tmp_path: Path) -> None:
    """Through the real launcher in a process of its own; the window's entry point is replaced by one that says
    what it was given (no window opens), so a wrong dispatch shows as the CLI's "a command is needed", status 2."""
    code = (
        "import sys; import app.ui.app as window;"
        "window.main = lambda args: print('window', *args) or 0;"
        "from app.launch import main; raise SystemExit(main(sys.argv[1:]))"
    )
    for args in (["--model=m.safetensors"], ["-mm.safetensors", "--audio=x.flac"]):
        out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert (out.returncode, out.stdout.split()) == (0, ["window", *args]), out.stderr
