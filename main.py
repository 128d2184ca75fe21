"""Double-click target: Aurascope on the bundled model and the full-band demo clip.

Until the window lands this runs the headless path: what the model hears in the clip, then layer 2's
maps exported as WAV files to ./aurascope-export.  Usage: python main.py [audio file] [model file]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = ROOT / "models" / "choi2015-genre.safetensors"
DEFAULT_AUDIO = ROOT / "resources" / "demo" / "full_band.wav"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from app.cli import main as cli

    audio = Path(argv[0]) if argv else DEFAULT_AUDIO
    model = Path(argv[1]) if len(argv) > 1 else DEFAULT_MODEL
    status = cli(["predict", "--model", str(model), "--audio", str(audio), "--top", "3"])
    if status:
        return status
    return cli(
        [
            "export",
            "--model",
            str(model),
            "--audio",
            str(audio),
            "--layer",
            "2",
            "--features",
            "0-7",
            "--out",
            str(Path.cwd() / "aurascope-export"),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
