"""Deconvnet speed and memory on a 5 x 64-map Choi-architecture model (random weights).

Prints one JSON line per figure: {"figure": ..., "value": ..., "unit": ...}. Never passes or fails on time.
Ratios are measured side by side in the same run. Usage: python bench/deconv.py [--quick] [--no-long]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.analysis import Analysis, FeatureRef  # noqa: E402
from app.core.architecture import Conv2d  # noqa: E402
from app.core.audio import Clip  # noqa: E402
from app.core.deconv import deconvolve, layer_chunk_size  # noqa: E402
from app.core.model import Model, choi2015_spec, random_weights, to_torch_module  # noqa: E402
from app.core.resynth import Mode  # noqa: E402

SR = 11025


def emit(figure: str, value: float, unit: str) -> None:
    print(json.dumps({"figure": figure, "value": round(float(value), 4), "unit": unit}), flush=True)


def make_model() -> Model:
    spec = choi2015_spec(n_maps=64, labels=tuple(f"style{i}" for i in range(8)))
    return Model(spec, random_weights(spec, seed=0))


def make_clip(seconds: float) -> Clip:
    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.mod(t, 0.5) < 0.3) + 0.05 * rng.standard_normal(n)
    y = y.astype(np.float32)
    return Clip(Path(f"bench_{seconds:g}s.wav"), "0" * 64, y, SR, y[None], SR)


def timed(fn, repeat: int = 1) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def layer_flops_per_map(model: Model, record, layer: int) -> tuple[float, list[tuple[Conv2d, tuple, int]]]:
    """FLOPs of one map's back-projection, and the conv stages (block, input (H, W), op) it runs."""
    info = model.layer(layer)
    flops = 0.0
    stages = []
    for i in range(info.first_op, -1, -1):
        block = model.spec.body[i]
        if not isinstance(block, Conv2d):
            continue
        h, w = record.input_sizes[i]
        out_channels = 1 if i == info.first_op else block.out_channels  # the first stage uses map k's slice
        flops += 2.0 * block.in_channels * out_channels * block.kernel_size[0] * block.kernel_size[1] * h * w
        stages.append((block, (h, w), out_channels))
    return flops, stages


def plain_conv_seconds(stages: list, batch: int) -> float:
    """The same conv shapes run forward as plain conv2d (the practical limit of this machine)."""
    tensors = []
    for block, (h, w), out_channels in stages:
        groups = batch if out_channels == 1 and block.in_channels > 1 else 1
        if groups > 1:  # the first stage is a grouped conv: one map's slice per batch element
            x = torch.randn(1, batch * block.in_channels, h, w)
            weight = torch.randn(batch, block.in_channels, *block.kernel_size)
        else:
            x = torch.randn(batch, block.in_channels, h, w)
            weight = torch.randn(out_channels, block.in_channels, *block.kernel_size)
        tensors.append((x, weight, block.padding, groups))

    def run() -> None:
        for x, weight, padding, groups in tensors:
            F.conv2d(x, weight, None, 1, padding, 1, groups)

    return timed(run, 2)


def per_layer(model: Model, seconds: float, quick: bool) -> None:
    from captum.attr import NeuronDeconvolution

    clip = make_clip(seconds)
    analysis = Analysis(clip, model, device="cpu")
    emit(f"forward_{seconds:g}s", timed(lambda: model.forward_record(analysis.input), 2) * 1000, "ms")
    record = analysis.record
    net = to_torch_module(model)
    n_loop = 4
    for layer in range(1, 6):
        info = model.layer(layer)
        maps = list(range(16 if quick else 64))
        batched = timed(lambda layer=layer, maps=maps: deconvolve(model, record, layer, maps)) / len(maps)
        loop = timed(lambda layer=layer: [deconvolve(model, record, layer, [k], chunk=1) for k in range(n_loop)])
        loop /= n_loop
        method = NeuronDeconvolution(net, net[info.last_op])

        def captum_loop(method: NeuronDeconvolution = method) -> None:
            for k in range(n_loop):
                method.attribute(
                    analysis.input.clone(), neuron_selector=lambda a, k=k: 0.5 * (a[:, k] ** 2).sum(dim=(1, 2))
                )

        captum = timed(captum_loop) / n_loop
        flops, stages = layer_flops_per_map(model, record, layer)
        chunk = layer_chunk_size(model, record, layer)
        plain = plain_conv_seconds(stages, chunk) / chunk
        tag = f"L{layer}_{seconds:g}s"
        emit(f"batched_per_map_{tag}", batched * 1000, "ms")
        emit(f"loop_per_map_{tag}", loop * 1000, "ms")
        emit(f"captum_per_map_{tag}", captum * 1000, "ms")
        emit(f"speedup_vs_captum_per_map_{tag}", captum / batched, "x")
        emit(f"speedup_vs_loop_per_map_{tag}", loop / batched, "x")
        emit(f"chunk_{tag}", chunk, "maps")
        emit(f"gflops_batched_{tag}", flops / batched / 1e9, "GFLOP/s")
        emit(f"gflops_plain_conv2d_{tag}", flops / plain / 1e9, "GFLOP/s")
        emit(f"batched_vs_plain_conv2d_{tag}", plain / batched, "ratio")


def whole_model(model: Model) -> None:
    clip = make_clip(4.0)
    start = time.perf_counter()
    analysis = Analysis(clip, model, device="cpu")
    n = 0
    for layer in range(1, 6):
        for _ in analysis.render_many(layer, list(range(64)), [Mode.CHOI]):
            n += 1
    emit("whole_model_320_maps_with_resynthesis_4s", time.perf_counter() - start, "s")
    emit("whole_model_maps", n, "maps")


def one_map_30s(model: Model) -> None:
    analysis = Analysis(make_clip(30.0), model, device="cpu")
    _ = analysis.record
    for layer in range(1, 6):
        start = time.perf_counter()
        analysis.render(FeatureRef(layer, 7), Mode.CHOI)
        emit(f"one_map_after_forward_audible_L{layer}_30s", (time.perf_counter() - start) * 1000, "ms")


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; returns the current RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return read_status_mb("VmRSS")


def read_status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def child_long(seconds: float) -> None:
    """In a child process: forward + one map of each layer; prints time and peak RSS."""
    model = make_model()
    clip = make_clip(seconds)
    base = reset_peak_rss()
    start = time.perf_counter()
    analysis = Analysis(clip, model, device="cpu")
    _ = analysis.record
    for layer in range(1, 6):
        analysis.render(FeatureRef(layer, 3), Mode.CHOI)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "peak_mb": read_status_mb("VmHWM"), "base_mb": base}))


def long_clips(lengths: list[float]) -> None:
    rows = []
    for seconds in lengths:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(seconds)], capture_output=True, text=True, check=True
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append((seconds, row))
        tag = f"{seconds / 60:g}min"
        emit(f"long_clip_forward_plus_one_map_per_layer_{tag}", row["seconds"], "s")
        emit(f"long_clip_peak_rss_{tag}", row["peak_mb"], "MB")
        emit(f"long_clip_peak_rss_above_start_{tag}", row["peak_mb"] - row["base_mb"], "MB")
    if len(rows) >= 2:
        (s0, r0), (s1, r1) = rows[0], rows[-1]
        emit(
            "long_clip_memory_growth_ratio_per_length_ratio",
            ((r1["peak_mb"] - r1["base_mb"]) / (r0["peak_mb"] - r0["base_mb"])) / (s1 / s0),
            "ratio",
        )
        emit("long_clip_time_growth_ratio_per_length_ratio", (r1["seconds"] / r0["seconds"]) / (s1 / s0), "ratio")


def peak_memory_4s_whole_model(model: Model) -> None:
    base = reset_peak_rss()
    whole_model(model)
    emit("whole_model_4s_peak_rss_above_start", read_status_mb("VmHWM") - base, "MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="16 maps per layer, no 10-minute clip")
    parser.add_argument("--no-long", action="store_true")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.child:
        child_long(args.child)
        return
    emit("torch_threads", torch.get_num_threads(), "threads")
    model = make_model()
    for seconds in (4.0, 30.0):
        per_layer(model, seconds, args.quick)
    peak_memory_4s_whole_model(model)
    one_map_30s(model)
    if not (args.quick or args.no_long):
        long_clips([150.0, 300.0, 600.0])


if __name__ == "__main__":
    main()
