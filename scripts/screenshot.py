"""Make docs/screenshot.png: the window on the bundled model and the full-band demo clip, as a user first sees it
after a map has been clicked and a loop region dragged (its layer's thumbnails computed).

    eval "$(bash scripts/ci_env.sh)" && python scripts/screenshot.py [--model M] [--audio A] [--out PNG]

Runs the real window (under Xvfb when DISPLAY is set, else offscreen) with throw-away settings, waits until the
selected map is rendered and its layer's thumbnails are done, then grabs the window with Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--audio", type=Path, default=None)
    parser.add_argument("--map", default="2,0", help="layer,map to show (default 2,0)")
    parser.add_argument("--size", default="1480x900")
    parser.add_argument("--tab", choices=("views", "gallery", "kernels"), default="views", help="centre tab shown")
    parser.add_argument("--compare", default=None, help="layer,map held as C (shown in the gallery)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    settings_dir = tempfile.mkdtemp(prefix="aurascope-shot-")
    os.environ["AURASCOPE_SETTINGS"] = str(Path(settings_dir) / "settings.ini")

    from PySide6.QtWidgets import QApplication

    from app.core.types import FeatureRef
    from app.ui.app import DEFAULT_AUDIO, DEFAULT_MODEL, ICON
    from app.ui.main_window import MainWindow
    from app.ui.style import apply_style

    app = QApplication([sys.argv[0]])
    app.setApplicationName("Aurascope")
    apply_style(app)
    if ICON.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(ICON)))
    window = MainWindow(ask_to_save=False)
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    layer, index = (int(v) for v in args.map.split(","))
    window.start(args.audio or DEFAULT_AUDIO, args.model or DEFAULT_MODEL)

    def wait(condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            if condition():
                return True
            time.sleep(0.01)
        return False

    if not wait(lambda: window.feature is not None, 120):
        print("the window did not render a map within 120 s", file=sys.stderr)
        return 1
    window.tree.select(FeatureRef(layer, index))
    wait(
        lambda: window.feature is not None and window.feature.ref == (layer, index) and window.residual is not None, 60
    )
    n_maps = window.summary.layers[layer - 1].n_maps  # the shown layer's thumbnails are computed first
    thumbs = window.controller  # the controller owns the thumbnail queue
    wait(lambda: thumbs._thumb_done >= n_maps or not thumbs.thumb_queue, 300)
    duration = window.clip.duration
    window.stack._loop_dragged(0.30 * duration, 0.55 * duration, True)
    window.seek(0.41 * duration)
    if args.compare:
        window.set_compare(FeatureRef(*(int(v) for v in args.compare.split(","))))
        wait(lambda: window.compared is not None, 60)
    window.centre.setCurrentIndex(("views", "gallery", "kernels").index(args.tab))
    window.hover_label.setText("")
    window.statusBar().clearMessage()
    wait(lambda: False, 0.5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"wrote {args.out} ({window.width()}x{window.height()})")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
