"""The traced (autograd) route on a 5-layer Choi-architecture model: maps batched in one backward pass
(``is_grads_batched``) against one backward pass per map, and against the explicit route, per layer.

Prints one JSON line per figure: {"figure": ..., "value": ..., "unit": ...}. Never passes or fails on time.
Usage: python bench/traced.py [--maps 16] [--seconds 4] [--layers 1,3,5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.deconv import deconvolve  # noqa: E402
from app.core.methods import Method  # noqa: E402
from app.core.model import Model, choi2015_spec, random_weights  # noqa: E402
from app.core.traced import TracedNetwork  # noqa: E402


def emit(figure: str, value: float, unit: str) -> None:
    print(json.dumps({"figure": figure, "value": round(float(value), 4), "unit": unit}), flush=True)


def timed(fn, repeats: int = 1) -> tuple[float, torch.Tensor]:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--maps", type=int, default=16, help="maps deconvolved per layer")
    parser.add_argument("--width", type=int, default=64, help="maps per layer of the model")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (the machine is shared)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--layers", default="1,3,5")
    parser.add_argument("--chunk", type=int, default=None, help="maps per batched backward (default: by memory)")
    args = parser.parse_args()
    spec = choi2015_spec(n_maps=args.width)
    model = Model(spec, random_weights(spec, seed=0))
    frames = spec.front_end.n_frames(int(args.seconds * spec.front_end.sample_rate))
    x = torch.rand(1, 1, spec.front_end.n_bins, frames, generator=torch.Generator().manual_seed(0)) ** 2
    twin = TracedNetwork.from_model(model)
    record = twin.forward_record(x)
    explicit_record = model.forward_record(x)
    maps = list(range(args.maps))
    emit("threads", torch.get_num_threads(), "threads")
    emit("input_frames", frames, "frames")
    emit("maps_per_layer", args.width, "maps")
    for layer in (int(v) for v in args.layers.split(",")):
        chunk = args.chunk or twin.chunk_size(record, layer)
        emit(f"layer{layer}_chunk", chunk, "maps per backward")
        for method in (Method.DECONVNET, Method.GUIDED_BACKPROP):

            def run(batched: bool, method: Method = method, layer: int = layer, chunk: int = chunk) -> torch.Tensor:
                parts = twin.iter_attribute(record, layer, maps, method=method, chunk=chunk, batched=batched)
                return torch.cat([d for _, d in parts])

            run(True)  # warm-up
            t_batched, batched = timed(lambda run=run: run(True), args.repeats)
            t_loop, looped = timed(lambda run=run: run(False), args.repeats)
            tag = f"layer{layer}_{method.value}"
            emit(f"{tag}_batched_per_map", 1000 * t_batched / len(maps), "ms")
            emit(f"{tag}_loop_per_map", 1000 * t_loop / len(maps), "ms")
            emit(f"{tag}_loop_over_batched", t_loop / t_batched, "x")
            emit(f"{tag}_max_rel_diff", float((batched - looped).abs().max() / looped.abs().max()), "")
        t_explicit, _ = timed(lambda layer=layer: deconvolve(model, explicit_record, layer, maps), args.repeats)
        emit(f"layer{layer}_explicit_per_map", 1000 * t_explicit / len(maps), "ms")


if __name__ == "__main__":
    main()
