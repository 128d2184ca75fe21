"""``aurascope``: a command runs headless (:mod:`app.cli`); no arguments, or files, open the window
(:mod:`app.ui.app`). The one place that knows both, so the command line never imports the window.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: The window's own options (see ``app.ui.app.parse_args``); every other leading option is the CLI's.
WINDOW_LONG_OPTIONS = ("--model", "--audio", "--no-thumbnails")
WINDOW_SHORT_OPTIONS = ("-m", "-a")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if opens_window(args):
        from app.ui.app import main as open_window

        return open_window(args)
    from app.cli import main as run_command

    return run_command(args)


def opens_window(args: Sequence[str]) -> bool:
    """True for no arguments, the window's options, or files (``aurascope song.wav model.safetensors``); False
    for a command or the CLI's options (``--help``, ``--version``)."""
    if not args:
        return True
    first = args[0]
    if first.startswith("-"):
        return is_window_option(first)
    from app.cli import command_names

    if first in command_names():
        return False
    # a bare word that names no file is a mistyped command: the CLI says so in one line instead of a window
    # opening on a file that is not there
    return Path(first).exists() or "." in first or os.sep in first


def is_window_option(arg: str) -> bool:
    """``arg`` is one of the window's options as argparse reads it: ``--model x``, ``--model=x``, an unambiguous
    abbreviation (``--mod=x``, ``--no-thumb``), ``-m x``, ``-mx`` or ``-m=x``."""
    if arg.startswith("--"):
        name = arg.split("=", 1)[0]
        return len(name) > 2 and any(option.startswith(name) for option in WINDOW_LONG_OPTIONS)
    return arg[:2] in WINDOW_SHORT_OPTIONS
