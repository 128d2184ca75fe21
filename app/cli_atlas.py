"""``aurascope atlas build | top | export``: the corpus atlas from the command line (same core calls as the window).

Kept apart from :mod:`app.cli`, which only hands ``atlas`` here; nothing here imports the CLI back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.core.types import FeatureRef, Mode

MODEL_HELP = "a .safetensors model, a .onnx file or package.module:callable (with --front-end, --weights)"


def _open_model(model: str, weights: Path | None, front_end: Path | None):
    """The network and how a worker opens it again; its fidelity warnings printed."""
    import warnings

    from app.core.atlas.build import ModelSource
    from app.core.errors import FidelityWarning

    source = ModelSource(model, str(weights) if weights else None, str(front_end) if front_end else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidelityWarning)
        network = source.open()
    for warning in caught:
        print(f"aurascope: warning: {warning.message}", file=sys.stderr)
    return network, source


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _show_progress(progress) -> None:
    """One line per committed batch (a terminal rewrites it in place): clips done, skipped, rate and ETA."""
    rate = progress.done / progress.seconds if progress.seconds > 0 else 0.0
    eta = progress.eta
    text = (
        f"atlas: {progress.done}/{progress.total} clips, {progress.skipped} skipped, {rate:.1f} clips/s, "
        f"ETA {_clock(eta) if eta is not None else '?'}"
    )
    if sys.stderr.isatty():
        sys.stderr.write("\r" + text + ("\n" if progress.done == progress.total else ""))
    else:
        sys.stderr.write(text + "\n")
    sys.stderr.flush()


def cmd_build(args: argparse.Namespace) -> int:
    from app.core.atlas import ScanSettings
    from app.core.atlas.build import build_atlas, read_labels
    from app.core.atlas.engines import make_engine
    from app.core.errors import SelectionError

    if args.k < 1:
        raise SelectionError(f"--k must be at least 1, not {args.k}")
    network, source = _open_model(args.model, args.weights, args.front_end)
    settings = ScanSettings.for_network(network, k=args.k)
    if args.workers is not None and args.engine != "pool":
        raise SelectionError("--workers is for --engine pool")
    engine = make_engine(args.engine, network, source, settings, address=args.address, workers=args.workers)
    labels = read_labels(args.labels) if args.labels else None
    summary = build_atlas(
        args.out,
        args.corpus,
        network,
        settings,
        engine=engine,
        source=source,
        batch_size=args.batch,
        labels=labels,
        on_progress=None if args.quiet else _show_progress,
    )
    print(
        f"{args.out}: {summary.scanned} clip(s) scanned, {summary.skipped} skipped, {summary.already} already in "
        f"the atlas, in {summary.seconds:.1f} s"
    )
    return 0


def _ref(atlas, layer: int, feature: int) -> FeatureRef:
    from app.core.errors import SelectionError

    maps = atlas.maps()
    layers = sorted({m[0] for m in maps})
    if layer not in layers:
        raise SelectionError(f"layer {layer} is out of range: the atlas has layers {layers[0]}-{layers[-1]}")
    n = sum(1 for m in maps if m[0] == layer)
    if not 0 <= feature < n:
        raise SelectionError(f"feature {feature} is out of range: layer {layer} has features 0-{n - 1}")
    return FeatureRef(layer, feature)


def cmd_top(args: argparse.Namespace) -> int:
    from app.core.atlas.store import AtlasFile

    with AtlasFile(args.atlas) as atlas:
        ref = _ref(atlas, args.layer, args.feature)
        rows = []
        for rank, hit in enumerate(atlas.hits(ref.layer, ref.index), start=1):
            entry = atlas.clip(hit.clip)
            rows.append(
                {
                    "rank": rank,
                    "clip": entry.path,
                    "sha256": hit.clip,
                    "labels": list(entry.labels),
                    **hit.window_fields(),
                }
            )
    if args.json:
        print(json.dumps({"atlas": str(args.atlas), "layer": ref.layer, "feature": ref.index, "top": rows}, indent=2))
        return 0
    for r in rows:
        print(
            f"{r['rank']:3d}  {r['peak']:10.4f}  {r['start_s']:8.2f}-{r['end_s']:.2f} s"
            f"  peak at {r['peak_time_s']:.2f} s"
            f" {r['peak_frequency_hz']:7.0f} Hz  {r['clip']}"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from app.core.atlas.excerpts import export_excerpts
    from app.core.atlas.store import AtlasFile

    started = time.perf_counter()
    with AtlasFile(args.atlas) as atlas:
        ref = _ref(atlas, args.layer, args.feature)
        meta = atlas.meta
        model = args.model or meta.get("model_source")
        if not model:
            from app.core.errors import AtlasError

            raise AtlasError(args.atlas, "it does not say where its model is: name it with --model")
        weights = args.weights or (Path(meta["model_weights"]) if meta.get("model_weights") else None)
        front_end = args.front_end or (Path(meta["model_front_end"]) if meta.get("model_front_end") else None)
        network, _ = _open_model(model, weights, front_end)
        modes = [Mode(m) for m in dict.fromkeys(args.mode or ["choi"])]
        written = export_excerpts(atlas, ref, network, args.out, modes=modes, subtype=args.format)
    if not args.quiet:
        print(f"wrote {len(written)} file(s) to {Path(args.out).resolve()} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    from app.core.atlas.store import AtlasFile
    from app.core.atlas.tags import corpus_tags

    with AtlasFile(args.atlas) as atlas:
        tags = corpus_tags(atlas, alpha=args.alpha)
    if args.json:
        doc = [
            {
                "layer": t.layer,
                "feature": t.map,
                "label": t.label,
                "hits": t.hits,
                "top_clips": t.top,
                "labelled": t.labelled,
                "corpus": t.corpus,
                "p_value": t.p_value,
                "enrichment": t.enrichment,
            }
            for t in tags
        ]
        print(json.dumps({"atlas": str(args.atlas), "alpha": args.alpha, "tags": doc}, indent=2))
        return 0
    for t in tags:
        print(
            f"L{t.layer} F{t.map:<4d} {t.label}: {t.hits}/{t.top} top clips vs {t.labelled}/{t.corpus} in the corpus "
            f"(x{t.enrichment:.1f}, p = {t.p_value:.2g})"
        )
    if not tags:
        print(f"no label is over-represented at p <= {args.alpha}")
    return 0


def add_atlas_commands(sub: argparse._SubParsersAction) -> None:
    """``atlas build | top | export`` under the CLI's subcommands."""
    atlas = sub.add_parser("atlas", help="the corpus atlas: each map's strongest excerpts over a whole collection")
    verbs = atlas.add_subparsers(dest="atlas_command", metavar="ACTION", required=True)

    def model_options(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--model", "-m", required=required, help=MODEL_HELP)
        p.add_argument("--weights", type=Path, help="for module:callable: a .safetensors or state-dict checkpoint")
        p.add_argument("--front-end", type=Path, help="for module:callable and .onnx: JSON with the front_end block")

    p = verbs.add_parser("build", help="scan a corpus (files and folders) into an atlas; run again to add clips")
    model_options(p, True)
    p.add_argument("corpus", nargs="+", type=Path, help="audio files and folders (searched recursively)")
    p.add_argument("--out", "-o", type=Path, required=True, help="the atlas file (created, or added to)")
    p.add_argument(
        "--engine",
        choices=("local", "pool", "ray"),
        default="local",
        help="local (default: in this process), pool (processes on this machine) or ray",
    )
    p.add_argument("--workers", type=int, help="with --engine pool: processes (default: one per core)")
    p.add_argument("--address", help="a Ray cluster's address (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--k", type=int, default=16, help="excerpts kept per map (default 16)")
    p.add_argument("--batch", type=int, default=16, help="clips per commit: a killed build loses at most these")
    p.add_argument("--labels", type=Path, help="CSV of file,label[;label...] rows: the corpus's own labels")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=cmd_build)

    p = verbs.add_parser("top", help="a map's strongest excerpts in the atlas")
    p.add_argument("--atlas", "-a", type=Path, required=True)
    p.add_argument("--layer", "-l", type=int, required=True, help="layer, from 1")
    p.add_argument("--feature", "-f", type=int, required=True, help="map, from 0")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_top)

    p = verbs.add_parser("export", help="write a map's top excerpts: each one's original and auralised audio")
    p.add_argument("--atlas", "-a", type=Path, required=True)
    p.add_argument("--layer", "-l", type=int, required=True, help="layer, from 1")
    p.add_argument("--feature", "-f", type=int, required=True, help="map, from 0")
    model_options(p, False)
    p.add_argument("--mode", action="append", choices=[m.value for m in Mode], help="resynthesis mode (default choi)")
    p.add_argument("--format", choices=["float32", "pcm24", "pcm16"], default="float32")
    p.add_argument("--out", "-o", type=Path, default=Path("aurascope-atlas-export"))
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=cmd_export)

    p = verbs.add_parser("tags", help="per map, the corpus labels over-represented among its top excerpts")
    p.add_argument("--atlas", "-a", type=Path, required=True)
    p.add_argument("--alpha", type=float, default=0.05, help="largest p-value shown (default 0.05)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_tags)
