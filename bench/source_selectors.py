"""Which maps select which source: every map of layers 1-3 of the bundled models on the real demo mixes whose stems
are known (resources/demo/real: the band with its guitar stem, the CC0 groove with drums, bass, piano and choir),
against a random-weight twin of each architecture (the null reference).

    PYTHONPATH=. python bench/source_selectors.py [--model M ...] [--layers 1,2,3] [--no-random] [--json-out F]

Prints JSON lines: per (model, clip, layer) the number of maps per tag (source selector per stem, onset detector,
attack suppressor, bass, kick, melody), the three maps with the highest share of each stem, and the stems'
shares of the mix; a last line per model sums them. Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.analysis import Analysis  # noqa: E402
from app.core.audio import load_audio  # noqa: E402
from app.core.characterise import characterise  # noqa: E402
from app.core.model import Model, load_model, random_weights  # noqa: E402
from app.core.stems import find_stems, load_stems  # noqa: E402

REAL = ROOT / "resources" / "demo" / "real"
CLIPS = (REAL / "groove.flac", REAL / "band.flac")


def bundled_models() -> list[Path]:
    names = ("musicnn-mtt-vgg.safetensors", "choi2015-genre.safetensors")
    return [ROOT / "models" / n for n in names if (ROOT / "models" / n).is_file()]


def emit(obj: dict, sink) -> None:
    line = json.dumps(obj)
    print(line, flush=True)
    if sink:
        sink.write(line + "\n")


def measure(name: str, model: Model, layers: list[int], sink) -> Counter:
    totals: Counter = Counter()
    for clip_path in CLIPS:
        clip = load_audio(clip_path, model.front_end.sample_rate)
        stems = load_stems(clip.samples, clip_path, find_stems(clip_path), clip.sample_rate)
        analysis = Analysis(clip, model, device="cpu")
        for layer in layers:
            refs = [(layer, k) for k in range(model.layer(layer).n_maps)]
            start = time.perf_counter()
            result = characterise([analysis], refs, stems=[stems])
            counts = Counter(t.tag for m in result.maps for t in m.tags)
            audible = [m for m in result.maps if not m.silent]
            tops = {
                stem: [
                    (f"L{m.layer}F{m.index}", round(m.sources[stem], 3))
                    for m in sorted(audible, key=lambda m, s=stem: -m.sources[s])[:3]
                ]
                for stem in stems.names
            }
            emit(
                {
                    "model": name,
                    "clip": clip_path.name,
                    "layer": layer,
                    "maps": len(result.maps),
                    "audible": len(audible),
                    "mix_shares": {k: round(v, 3) for k, v in result.baselines[0].sources.items()},
                    "tags": dict(sorted(counts.items())),
                    "top_share": tops,
                    "wall_s": round(time.perf_counter() - start, 1),
                },
                sink,
            )
            totals.update({f"{clip_path.stem}: {tag}": n for tag, n in counts.items()})
            totals[f"{clip_path.stem}: maps"] += len(result.maps)
    emit({"model": name, "layers": layers, "totals": dict(sorted(totals.items()))}, sink)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append")
    parser.add_argument("--layers", default="1,2,3")
    parser.add_argument("--no-random", action="store_true", help="skip the random-weight twins")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    layers = [int(s) for s in args.layers.split(",")]
    sink = open(args.json_out, "w") if args.json_out else None  # noqa: SIM115
    try:
        for path in args.model or bundled_models():
            model = load_model(path)
            measure(path.stem, model, layers, sink)
            if not args.no_random:
                twin = Model(model.spec, random_weights(model.spec, seed=0))
                measure(f"{path.stem} (random weights, seed 0)", twin, layers, sink)
    finally:
        if sink:
            sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
