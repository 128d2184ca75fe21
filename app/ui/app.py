"""Starting the window: ``aurascope-gui [files...]``, ``aurascope`` with no arguments, ``python main.py``.

With no files it opens the bundled model and the real band demo clip (resources/demo/real/band.flac), layer 2
map 0 selected and ready to play. Files may be audio, model or ``.aurascope`` session files in any order (the
``.desktop`` entry passes ``%F``); a session opens its own model and clips.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "musicnn-mtt-vgg.safetensors"
DEFAULT_AUDIO = ROOT / "resources" / "demo" / "real" / "band.flac"
ICON = ROOT / "resources" / "aurascope.svg"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aurascope-gui", description="Open the Aurascope listening window.")
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="audio, model (.safetensors, .onnx), session (.aurascope) and/or corpus atlas (.atlas) files",
    )
    parser.add_argument("--model", "-m", type=Path, help="model file (default: the bundled musicnn-mtt-vgg)")
    parser.add_argument("--audio", "-a", type=Path, help="audio file (default: the real band demo clip)")
    parser.add_argument("--no-thumbnails", action="store_true", help="do not compute map thumbnails")
    return parser.parse_args(list(argv))


def choose_files(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """(audio, model): explicit options first, then positional files by extension, then the bundled defaults."""
    from app.core.session import SUFFIX as SESSION_SUFFIX  # here, not at import: `--help` needs neither
    from app.ui.window_atlas import ATLAS_SUFFIX
    from app.ui.window_opening import MODEL_EXTENSIONS

    audio, model = args.audio, args.model
    for path in args.files:
        if path.suffix.lower() in MODEL_EXTENSIONS:
            model = model or path
        elif path.suffix.lower() not in (SESSION_SUFFIX, ATLAS_SUFFIX):
            audio = audio or path
    if model is None and DEFAULT_MODEL.is_file():
        model = DEFAULT_MODEL
    named = [p for p in args.files if p.suffix.lower() != ATLAS_SUFFIX]  # an atlas alone still shows the demo clip
    if audio is None and DEFAULT_AUDIO.is_file() and not named:
        audio = DEFAULT_AUDIO
    return audio, model


def choose_atlas(args: argparse.Namespace) -> Path | None:
    """The corpus atlas named among the files (the last one), for the Top excerpts panel; a session names its own."""
    from app.ui.window_atlas import ATLAS_SUFFIX

    named = [p for p in args.files if p.suffix.lower() == ATLAS_SUFFIX]
    return named[-1] if named else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    gc.disable()  # until the first map is ready: see `_collect_again_after_start_up`
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Aurascope")
    app.setOrganizationName("Aurascope")
    app.setDesktopFileName("aurascope")
    if ICON.is_file():
        app.setWindowIcon(QIcon(str(ICON)))
    from app.ui.main_window import MainWindow
    from app.ui.style import apply_style

    apply_style(app)
    window = MainWindow(thumbnails=not args.no_thumbnails)
    window.show()
    # the first frame is the real window: painted now, before the worker starts importing torch (whose libraries
    # hold the GIL for about a second, which would leave a mapped but unpainted, black window meanwhile)
    app.processEvents()
    window.repaint()
    window.painted_at = time.time()
    audio, model = choose_files(args)
    from app.core.session import SUFFIX as SESSION_SUFFIX

    session = next((p for p in reversed(args.files) if p.suffix.lower() == SESSION_SUFFIX), None)
    if model is None and session is None:
        window.statusBar().showMessage("No model: open one with Ctrl+Shift+O (the bundled model was not found)")
    atlas = choose_atlas(args) if session is None else None

    def start() -> None:
        window.start(audio, model, session)
        if atlas is not None:
            window.open_atlas(atlas, after_model=model is not None)  # opened once the model is, checked against it

    QTimer.singleShot(0, start)
    _collect_again_after_start_up(window)
    _close_on_signals(window)
    return app.exec()


def _collect_again_after_start_up(window, at_the_latest_ms: int = 20_000) -> None:
    """Start-up runs with the cyclic garbage collector paused. Importing PySide6, pyqtgraph and torch makes about a
    million long-lived objects, and each full collection meanwhile walked them all to free almost nothing (three
    collections, 0.3-0.4 s of a 2.5 s launch). Once the first map is ready (or after ``at_the_latest_ms``: no
    model, a failed open, a restore question waiting), what start-up made is frozen (later collections skip it,
    so none holds the GIL long while audio plays) and collection resumes."""
    from PySide6.QtCore import QTimer

    def resume() -> None:
        if not gc.isenabled():
            gc.freeze()
            gc.enable()

    window.controller.firstMapReady.connect(resume)
    QTimer.singleShot(at_the_latest_ms, resume)


def _close_on_signals(window) -> None:
    """Ctrl+C in the terminal (or SIGTERM) closes the window properly: settings saved, device released."""
    import signal

    from PySide6.QtCore import QTimer

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    tick = QTimer(window)  # the interpreter only runs signal handlers between bytecodes: wake it up now and then
    tick.timeout.connect(lambda: None)
    tick.start(200)


if __name__ == "__main__":
    raise SystemExit(main())
