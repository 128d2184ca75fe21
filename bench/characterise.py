"""Automatic characterisation on real models and clips: cost per map, the distribution of every figure, and how
often each suggested tag fires. The thresholds in ``app/core/characterise.py`` were chosen from these figures.

    PYTHONPATH=. python bench/characterise.py [--model M ...] [--random] [--clips resources/demo/*.wav]
        [--layers 1,2,3,4,5] [--chunk 16] [--json-out FILE]

``--random`` adds a 5 x 64-map Choi-architecture model with random weights (seed 0): the null reference, i.e.
how often a tag fires on maps that learned nothing. Prints JSON lines: one per (model, clip, map), then
``{"summary": ...}`` lines with quantiles of each change per (model, layer) and the tag counts, and the cost.
Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.analysis import Analysis  # noqa: E402
from app.core.audio import load_audio  # noqa: E402
from app.core.characterise import RULES, characterise  # noqa: E402
from app.core.model import Model, choi2015_spec, load_model, random_weights  # noqa: E402

DEFAULT_MODEL = ROOT / "models" / "choi2015-genre.safetensors"
DEFAULT_CLIPS = sorted((ROOT / "resources" / "demo").glob("*.wav"))
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def emit(obj: dict, sink) -> None:
    line = json.dumps(obj)
    print(line, flush=True)
    if sink:
        sink.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append")
    parser.add_argument("--random", action="store_true", help="also a random-weight model (the null reference)")
    parser.add_argument("--clips", type=Path, nargs="+", default=DEFAULT_CLIPS)
    parser.add_argument("--layers", default="1,2,3,4,5")
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    layers = [int(s) for s in args.layers.split(",")]
    models: list[tuple[str, Model]] = [(p.name, load_model(p)) for p in (args.model or [DEFAULT_MODEL])]
    if args.random:
        spec = choi2015_spec(n_maps=64, labels=tuple(f"style{i}" for i in range(8)))
        models.append(("random-seed0", Model(spec, random_weights(spec, seed=0))))
    sink = open(args.json_out, "w") if args.json_out else None  # noqa: SIM115
    try:
        for name, model in models:
            rows = []
            for clip_path in args.clips:
                analysis = Analysis(load_audio(clip_path, model.front_end.sample_rate), model, device="cpu")
                refs = [(layer, k) for layer in layers for k in range(model.layer(layer).n_maps)]
                start = time.perf_counter()
                result = characterise(analysis, refs, chunk=args.chunk)
                wall = time.perf_counter() - start
                base = result.baselines[0]
                emit(
                    {
                        "model": name,
                        "clip": clip_path.name,
                        "original": base.figures.to_dict(),
                        "onsets": len(base.onsets),
                        "baseline_s": round(base.seconds, 3),
                        "maps": len(result.maps),
                        "wall_s": round(wall, 2),
                        "s_per_map": round(wall / max(1, len(result.maps)), 4),
                    },
                    sink,
                )
                for m in result.maps:
                    row = {"model": name, **m.to_dict()}
                    rows.append(row)
                    emit(row, sink)
            for layer in layers:
                here = [r for r in rows if r["layer"] == layer and not r["silent"]]
                summary: dict = {"model": name, "layer": layer, "audible": len(here)}
                for key in rows[0]["changes"]:
                    values = np.array([r["changes"][key] for r in here if r["changes"][key] is not None], dtype=float)
                    values = values[np.isfinite(values)]
                    if values.size:
                        summary[key] = [round(float(q), 3) for q in np.quantile(values, QUANTILES)]
                summary["low_share"] = [
                    round(float(q), 3) for q in np.quantile([r["figures"]["low_share"] for r in here], QUANTILES)
                ]
                summary["tags"] = {
                    rule.tag: sum(any(t["tag"] == rule.tag for t in r["tags"]) for r in here) for rule in RULES
                }
                summary["maps_tagged_on_every_clip"] = {
                    rule.tag: sum(
                        all(
                            any(t["tag"] == rule.tag for t in r["tags"])
                            for r in here
                            if (r["layer"], r["index"]) == (layer, k)
                        )
                        and any((r["layer"], r["index"]) == (layer, k) for r in here)
                        for k in range(model.layer(layer).n_maps)
                    )
                    for rule in RULES
                }
                emit({"summary": summary}, sink)
    finally:
        if sink:
            sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
