"""musicnn-mtt-vgg on the five real recordings of ../shared/real/songs: its tags, and how far they are from the
published graph (tests/models/musicnn_reference.py, numpy, float64).

Prints one JSON line per song: the top tags (mean over musicnn's 3 s patches, as musicnn's ``top_tags`` ranks
them), the largest tag difference from the reference over the patches compared, the effect of musicnn's own
float16 cast of the mel spectrogram (which our front end does not make), and per layer how many of the dead
maps (batch-norm variance ~0) fire at all on the song. With ``--deconv``, per layer on the first 10 s of the
band demo clip: seconds for all 128 maps on the explicit (fast) route, and its largest relative difference
from the autograd-rule route over four maps. Usage::

    python bench/musicnn_tags.py [--reference-patches N]     # N patches per song against numpy (default all)
    python bench/musicnn_tags.py --deconv                    # the deconvnet figures only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "models"))

import musicnn_reference as reference  # noqa: E402

from app.core.audio import load_audio  # noqa: E402
from app.core.deconv import deconvolve, deconvolve_autograd  # noqa: E402
from app.core.model import load_model  # noqa: E402
from models.convert_musicnn import fetch_wheel, read_package  # noqa: E402


def real_songs() -> Path:
    """../shared/real/songs beside the checkout (as tests/needs.py looks for it), or $AURASCOPE_REAL/songs."""
    places = [Path(os.environ["AURASCOPE_REAL"])] if os.environ.get("AURASCOPE_REAL") else []
    places += [ROOT.parent / "shared" / "real", ROOT.parent.parent / "shared" / "real"]
    for place in places:
        if (place / "songs").is_dir():
            return place / "songs"
    raise SystemExit("no shared/real/songs beside the checkout; set AURASCOPE_REAL")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference-patches", type=int, default=0, help="0: every patch of every song")
    parser.add_argument("--deconv", action="store_true", help="time the deconvnet per layer instead")
    args = parser.parse_args()
    model = load_model(ROOT / "models" / "musicnn-mtt-vgg.safetensors")
    if args.deconv:
        deconv_figures(model)
        return
    arrays = read_package(fetch_wheel()).arrays
    dead = model.spec.provenance["dead_maps"]
    fe = model.front_end
    for path in sorted(real_songs().glob("*.ogg")):
        y = np.asarray(load_audio(path, 16000).samples, dtype=np.float32)
        x = fe.input_from_stft(fe.stft(torch.from_numpy(y)))
        n = x.shape[-1] // 187
        windows = torch.stack([x[:, i * 187 : (i + 1) * 187] for i in range(n)]).unsqueeze(1)
        ours = model.activate(model.logits(windows)).double().numpy()
        k = n if args.reference_patches <= 0 else min(n, args.reference_patches)
        rep = reference.log_mel(y)
        expected = reference.taggram(arrays, reference.patches(rep)[:k])
        rep16 = reference.log_mel(y, float16=True)
        expected16 = reference.taggram(arrays, reference.patches(rep16)[:k])
        firing = {}
        h = x[None, None]
        with torch.no_grad():
            for i, block in enumerate(model.spec.body):
                h = model._apply_body_op(i, block, h)
                if block.type == "relu":  # the ReLU output, before the batch-norm's constant shift
                    layer = next(layer for layer in model.layers if layer.first_op < i <= layer.last_op)
                    maps = dead[layer.name]
                    firing[layer.name] = int((h[0, maps].amax(dim=(1, 2)) > 0).sum()) if maps else 0
        mean = ours.mean(0)
        top = np.argsort(-mean)[:5]
        print(
            json.dumps(
                {
                    "song": path.name,
                    "patches": n,
                    "patches_compared": k,
                    "max_tag_difference_vs_numpy": float(np.abs(ours[:k] - expected).max()),
                    "float16_cast_effect": float(np.abs(expected16 - expected).max()),
                    "top_tags": [[model.labels[i], round(float(mean[i]), 3)] for i in top],
                    "dead_maps_firing": firing,
                }
            ),
            flush=True,
        )


def deconv_figures(model) -> None:
    y = np.asarray(load_audio(ROOT / "resources" / "demo" / "real" / "band.flac", 16000).samples, dtype=np.float32)
    fe = model.front_end
    x = fe.input_from_stft(fe.stft(torch.from_numpy(y[: 10 * 16000])))[None, None]
    record = model.forward_record(x)
    for layer in model.layers:
        start = time.perf_counter()
        deconvolve(model, record, layer.number)
        seconds = time.perf_counter() - start
        features = [0, 31, 64, 127]
        explicit = deconvolve(model, record, layer.number, features)
        autograd = deconvolve_autograd(model, x, layer.number, features)
        error = float((explicit - autograd).abs().max() / autograd.abs().max().clamp_min(1e-30))
        print(
            json.dumps(
                {
                    "layer": layer.number,
                    "all_maps_seconds_10s_clip": round(seconds, 2),
                    "explicit_vs_autograd_max_relative_error": error,
                    "threads": torch.get_num_threads(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
