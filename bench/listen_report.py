"""Is it worth listening to? Auralise every map of layers 1-3 of a model on the demo clips and measure each.

    PYTHONPATH=. python bench/listen_report.py [--model models/choi2015-genre.safetensors]
        [--clips resources/demo/*.wav] [--layers 1,2,3] [--export DIR] [--json-out FILE]

Per (clip, layer, map), one JSON line with the auralisation's descriptors (``app.core.descriptors``) next to the
original's: onset correlation (energy envelope vs. the original's onsets), attack-to-sustain ratio (dB),
spectral centroid (Hz), low-frequency share (< 200 Hz), percussive share (HPSS), and its level. Then a ranked
summary of the maps that behave like the 2015 demo's onset detectors, attack suppressors, bass-note selectors
and kick-drum selectors, by the rules in ``ROLES``. ``--export DIR`` writes the best maps of each role as WAV
files (with sidecars) through the core's export, to listen to.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import descriptors as d
from app.core.analysis import Analysis, FeatureRef
from app.core.audio import load_audio
from app.core.export import Loudness, export_features
from app.core.model import load_model
from app.core.resynth import Mode

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "choi2015-genre.safetensors"
DEFAULT_CLIPS = sorted((ROOT / "resources" / "demo").glob("*.wav"))
# Maps quieter than this relative to the original are near silence: their descriptors mean nothing.
SILENT_DB = -50.0


def describe(y: np.ndarray, onsets: np.ndarray, sr: int) -> dict[str, float]:
    """The descriptors of one signal (original or auralisation)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
    return {
        "onset_corr": d.onset_correlation(y, onsets, sr),
        "attack_sustain_db": d.attack_sustain_ratio(y, onsets, sr),
        "centroid_hz": d.spectral_centroid_hz(y, sr),
        "low_share": d.low_frequency_share(y, sr),
        "percussive_share": d.percussive_share(y, sr),
        "rms_db": 20 * math.log10(max(rms, 1e-12)),
    }


@dataclass(frozen=True)
class Role:
    """A behaviour of the 2015 demo: a rule on (map, original) descriptors and a score to rank by."""

    name: str
    rule: str
    test: Callable[[dict, dict], bool]
    score: Callable[[dict, dict], float]


def _delta(key: str) -> Callable[[dict, dict], float]:
    return lambda m, o: m[key] - o[key]


# Rules are relative to the original clip: a Choi-mode rendering is |X|·|D|, which by itself tilts towards
# the loud (low) partials and, through the pooling switches, chops the sound into frame-long pieces, so
# absolute centroids or percussive shares of renderings are not comparable with the original's.
ROLES = (
    Role(
        "onset detector",
        "attack/sustain >= original + 3 dB and onset corr >= original",
        lambda m, o: m["attack_sustain_db"] - o["attack_sustain_db"] >= 3 and m["onset_corr"] >= o["onset_corr"],
        lambda m, o: (m["attack_sustain_db"] - o["attack_sustain_db"]) / 10 + m["onset_corr"] - o["onset_corr"],
    ),
    Role(
        "attack suppressor",
        "attack/sustain <= original - 3 dB, onset corr <= original - 0.05, "
        "percussive share <= original + 0.15 (smoothed, not chopped)",
        lambda m, o: (
            m["attack_sustain_db"] - o["attack_sustain_db"] <= -3
            and m["onset_corr"] <= o["onset_corr"] - 0.05
            and m["percussive_share"] <= o["percussive_share"] + 0.15
        ),
        lambda m, o: o["attack_sustain_db"] - m["attack_sustain_db"],
    ),
    Role(
        "bass-note selector",
        "low share >= min(original + 0.15, 0.85), centroid <= 0.85x original, "
        "percussive share <= original + 0.05, attack/sustain <= original + 3 dB",
        lambda m, o: (
            m["low_share"] >= min(o["low_share"] + 0.15, 0.85)
            and m["centroid_hz"] <= 0.85 * o["centroid_hz"]
            and m["percussive_share"] <= o["percussive_share"] + 0.05
            and m["attack_sustain_db"] <= o["attack_sustain_db"] + 3
        ),
        lambda m, o: m["low_share"] - o["low_share"] - (m["percussive_share"] - o["percussive_share"]),
    ),
    Role(
        "kick-drum selector",
        "low share >= min(original + 0.15, 0.97), percussive share >= original + 0.15, "
        "attack/sustain >= original + 3 dB",
        lambda m, o: (
            m["low_share"] >= min(o["low_share"] + 0.15, 0.97)
            and m["percussive_share"] >= o["percussive_share"] + 0.15
            and m["attack_sustain_db"] - o["attack_sustain_db"] >= 3
        ),
        lambda m, o: (m["attack_sustain_db"] - o["attack_sustain_db"]) / 10 + m["percussive_share"] + m["low_share"],
    ),
)


def measure(model_path: Path, clips: list[Path], layers: list[int], emit: Callable[[dict], None]) -> list[dict]:
    """Render every map of ``layers`` on each clip (Choi mode) and return one row per (clip, layer, map)."""
    torch.set_num_threads(2)
    model = load_model(model_path)
    rows = []
    for path in clips:
        clip = load_audio(path, model.front_end.sample_rate)
        analysis = Analysis(clip, model, device="cpu")
        sr = clip.sample_rate
        # librosa's default picking lands ~30 ms late (past the attack window); these settings find piano
        # onsets within 6 ms, once per note (as app.core.characterise does).
        onsets = d.detect_onsets(clip.samples, sr, hop_length=128, backtrack=True, wait_s=0.05)
        original = describe(clip.samples, onsets, sr)
        emit({"clip": path.name, "original": original, "onsets": len(onsets)})
        for layer in layers:
            maps = list(range(model.layer(layer).n_maps))
            t0 = time.perf_counter()
            for rendering in analysis.render_many(layer, maps, [Mode.CHOI]):
                row = {
                    "clip": path.name,
                    "layer": layer,
                    "map": rendering.ref.index,
                    **describe(rendering.audio, onsets, sr),
                }
                row["level_db"] = row["rms_db"] - original["rms_db"]
                row["silent"] = row["level_db"] < SILENT_DB
                row["roles"] = [r.name for r in ROLES if not row["silent"] and r.test(row, original)]
                row["original"] = original
                rows.append(row)
                emit({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "original"})
            print(
                f"# {path.name} layer {layer}: {len(maps)} maps in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def load_rows(path: Path) -> list[dict]:
    """Rows of an earlier run's JSON lines, each with its clip's original descriptors."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    originals = {r["clip"]: r["original"] for r in lines if "original" in r and "layer" not in r}
    return [{**r, "original": originals[r["clip"]]} for r in lines if "layer" in r]


def summarise(rows: list[dict], top: int = 5) -> dict[str, list[dict]]:
    """For each role, the maps that meet its rule, best first (a map can hold several roles)."""
    out: dict[str, list[dict]] = {}
    for role in ROLES:
        hits = [r for r in rows if role.name in r["roles"]]
        hits.sort(key=lambda r: -role.score(r, r["original"]))
        out[role.name] = hits[:top]
    return out


def _fmt(row: dict) -> str:
    o = row["original"]
    return (
        f"{row['clip']:<22} L{row['layer']}F{row['map']:<3} onset corr {row['onset_corr']:+.2f} "
        f"(orig {o['onset_corr']:+.2f})  att/sus {row['attack_sustain_db']:+5.1f} dB (orig "
        f"{o['attack_sustain_db']:+5.1f})  centroid {row['centroid_hz']:6.0f} Hz (orig {o['centroid_hz']:.0f})  "
        f"low {row['low_share']:.2f} (orig {o['low_share']:.2f})  perc {row['percussive_share']:.2f} "
        f"(orig {o['percussive_share']:.2f})  level {row['level_db']:+.1f} dB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--clips", type=Path, nargs="+", default=DEFAULT_CLIPS)
    parser.add_argument("--layers", default="1,2,3")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--export", type=Path, help="write the best maps of each role here as WAV + sidecar")
    parser.add_argument("--json-out", type=Path, help="also write the JSON lines to this file")
    parser.add_argument("--from-jsonl", type=Path, help="re-rank the JSON lines of an earlier run (no rendering)")
    args = parser.parse_args(argv)
    if not args.clips:
        parser.error("no demo clips: render resources/demo first or pass --clips")
    layers = [int(s) for s in args.layers.split(",")]
    sink = open(args.json_out, "w") if args.json_out else None  # noqa: SIM115

    def emit(obj: dict) -> None:
        line = json.dumps(obj)
        print(line, flush=True)
        if sink:
            sink.write(line + "\n")

    try:
        rows = load_rows(args.from_jsonl) if args.from_jsonl else measure(args.model, list(args.clips), layers, emit)
    finally:
        if sink:
            sink.close()
    for row in rows:
        row["roles"] = [r.name for r in ROLES if not row["silent"] and r.test(row, row["original"])]
    summary = summarise(rows, args.top)
    n_live = sum(not r["silent"] for r in rows)
    print(f"\n== summary: {len(rows)} renderings ({n_live} audible) of layers {args.layers} of {args.model.name}")
    for role in ROLES:
        hits = [r for r in rows if role.name in r["roles"]]
        distinct = sorted({(r["layer"], r["map"]) for r in hits})
        print(
            f"\n{role.name}s ({role.rule}): {len(hits)} renderings, {len(distinct)} distinct maps"
            + (
                f": {', '.join(f'L{a}F{b}' for a, b in distinct[:20])}" + (" ..." if len(distinct) > 20 else "")
                if distinct
                else " -- none"
            )
        )
        for row in summary[role.name]:
            print("  " + _fmt(row))
        if not hits:
            live = [r for r in rows if not r["silent"]]
            live.sort(key=lambda r: -role.score(r, r["original"]))
            print("  closest (rule not met):")
            for row in live[:3]:
                print("  " + _fmt(row))
    if args.export:
        model = load_model(args.model)
        for clip_path in args.clips:
            refs = sorted(
                {
                    FeatureRef(r["layer"], r["map"])
                    for hits in summary.values()
                    for r in hits
                    if r["clip"] == clip_path.name
                }
            )
            if refs:
                analysis = Analysis(load_audio(clip_path, model.front_end.sample_rate), model, device="cpu")
                export_features(analysis, refs, [Mode.CHOI], args.export, loudness=Loudness.MATCH)
        print(f"\nexported the listed maps to {args.export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
