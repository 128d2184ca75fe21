"""Double-click target: the Aurascope window on the bundled model and the full-band demo clip, layer 2 map 0
selected and ready to play (Space).  Usage: python main.py [audio and/or model files], or a command
(``python main.py info model.safetensors``) as ``aurascope`` runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from app.launch import main

    raise SystemExit(main(sys.argv[1:]))
