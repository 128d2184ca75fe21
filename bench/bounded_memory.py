"""Peak memory of the CLI on long clips and on files that declare huge sizes (issue 11.3); JSON lines.

    python bench/bounded_memory.py [--minutes 5 20 120] [--model models/choi2015-genre.safetensors]

Each long clip is synthesised to a temporary folder as 16-bit FLAC at 22050 Hz (a chord with a little noise,
so it compresses); ``predict`` and ``characterise --layer 1 --features 0`` run on it in a subprocess, and the
child's peak resident memory is read from ``os.wait4``. Prints
``{"figure": "peak_rss_mb_predict_120min", "value": ..., "unit": "MB"}`` and the like.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cli_process import run_measured  # noqa: E402


def long_clip(folder: Path, minutes: float, rate: int = 22050) -> Path:
    """A FLAC of ``minutes``, written block by block (never whole in memory)."""
    path = folder / f"long_{minutes:g}min.flac"
    rng = np.random.default_rng(0)
    block = 60 * rate
    t = np.arange(block) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 6
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16", format="FLAC") as out:
        for _ in range(int(np.ceil(minutes))):
            out.write((chord + 0.01 * rng.standard_normal(block)).astype(np.float32))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 120])
    parser.add_argument(
        "--model",
        default=str(ROOT / "models" / "choi2015-genre.safetensors"),
        help="a model file, or 'tiny' (2 maps x 2 layers: measures the streaming itself, quickly)",
    )
    parser.add_argument("--commands", nargs="+", default=["predict", "characterise"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "tiny":
            sys.path.insert(0, str(ROOT))
            from app.core.model import choi2015_spec, random_weights, save_model

            spec = choi2015_spec(n_maps=2, n_layers=2, labels=("a", "b"), head_input_frames=None)
            args.model = str(save_model(Path(tmp) / "tiny.safetensors", spec, random_weights(spec)))
        name = Path(args.model).stem
        for minutes in args.minutes:
            clip = long_clip(Path(tmp), minutes)
            for command in args.commands:
                extra = ["--layer", "1", "--features", "0"] if command == "characterise" else []
                started = time.perf_counter()
                result, peak = run_measured(command, "-m", args.model, "-a", str(clip), *extra, timeout=4 * 3600)
                if result.returncode != 0:
                    reason = result.stderr.strip()[-500:] or f"exit status {result.returncode}"
                    raise SystemExit(f"{command} failed on {minutes} min: {reason}")
                print(
                    json.dumps(
                        {"figure": f"peak_rss_mb_{command}_{minutes:g}min_{name}", "value": round(peak), "unit": "MB"}
                    )
                )
                print(
                    json.dumps(
                        {
                            "figure": f"seconds_{command}_{minutes:g}min_{name}",
                            "value": round(time.perf_counter() - started, 1),
                            "unit": "s",
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
