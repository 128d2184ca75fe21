"""The headless command line: ``aurascope info | layers | predict | export | characterise | report`` (same core calls
as the window)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from app import __version__
from app.cli_atlas import add_atlas_commands
from app.core.types import DEFAULT_EXCERPTS, FeatureRef, Loudness, Method, Mode

EXIT_BAD_INPUT = 2
MODEL_HELP = "a .safetensors model, a .onnx file or package.module:callable (with --front-end, --weights)"


def parse_index_list(text: str, upper: int, what: str) -> list[int]:
    """``"0,5,9-12"`` or ``"all"`` -> sorted unique indices, each checked against ``[first, upper)``.

    Every number is checked against the model's range before a list is built, so ``0-999999999`` is refused
    at once instead of building a billion-element set.
    """
    from app.core.errors import SelectionError

    first = 1 if what == "layer" else 0
    if text.strip().lower() == "all":
        return list(range(first, upper))
    spans: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                cut = part.index("-", 1)
                lo, hi = int(part[:cut]), int(part[cut + 1 :])
                if hi < lo:
                    raise ValueError
            else:
                lo = hi = int(part)
        except ValueError:
            raise SelectionError(f"cannot read {what} list {text!r}: use numbers, ranges like 9-12, or 'all'") from None
        for i in (lo, hi):
            if not first <= i < upper:
                raise SelectionError(f"{what} {i} is out of range: the model has {what}s {first}-{upper - 1}")
        spans.append((lo, hi))
    return sorted({i for lo, hi in spans for i in range(lo, hi + 1)})


def _positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 (``--top 0`` or ``-1`` would drop labels without a word)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = (time.perf_counter() - started) / max(done, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {rate:.2f} s/file")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def load_network(args: argparse.Namespace, source: str | Path | None = None):
    """The model named by ``--model`` (or ``source``): our file, ``module:callable`` or ONNX with ``--weights`` and
    ``--front-end``; what the network's graph keeps a method from doing faithfully is printed as warnings."""
    from app.core.sources import open_model_noting

    network, caught = open_model_noting(
        source if source is not None else args.model,
        weights=getattr(args, "weights", None),
        front_end=getattr(args, "front_end", None),
    )
    remarks = set(getattr(network, "remarks", ()))  # said, but harmless to the method
    for warning in caught:
        kind = "note" if str(warning.message) in remarks else "warning"
        print(f"aurascope: {kind}: {warning.message}", file=sys.stderr)
    return network


def cmd_info(args: argparse.Namespace) -> int:
    from app.core.model import Model
    from app.core.sources import layer_table, table_frames

    model = load_network(args)
    if not isinstance(model, Model):
        return _info_traced(model, args.json)
    spec = model.spec
    fe = spec.front_end
    layers = layer_table(model)
    info = {
        "file": str(model.path),
        "sha256": model.sha256,
        "name": model.name,
        "task": spec.task,
        "labels": list(spec.labels),
        "output": spec.output,
        "head_input_frames": spec.head_input_frames,
        "front_end": fe.to_dict(),
        "shape_clip_frames": table_frames(model),
        "layers": layers,
        "provenance": dict(spec.provenance),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{model.name}  ({model.path.name}, sha256 {model.sha256[:12]})")
    if spec.task:
        print(f"task: {spec.task}")
    print(
        f"front end: {fe.sample_rate} Hz, n_fft {fe.n_fft}, hop {fe.hop_length}, {fe.scale.value}"
        + (f" {fe.n_mels} bands" if fe.scale.value == "mel" else "")
        + f", compression {fe.compression.value}"
    )
    cmd_layers_print(layers, model)
    if spec.labels:
        print(f"labels ({len(spec.labels)}): {', '.join(spec.labels)}")
    for key, value in spec.provenance.items():
        print(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    return 0


def _info_traced(network, as_json: bool) -> int:
    """``info`` for a traced module or ONNX graph: its layers as found in the graph, ReLUs, warnings."""
    from app.core.sources import layer_table, table_frames
    from app.core.traced import describe_relus

    fe = network.front_end
    layers = layer_table(network)
    info = {
        "source": network.source,
        "file": str(network.path) if network.path else None,
        "sha256": network.sha256,
        "name": network.name,
        "task": network.task,
        "labels": list(network.labels),
        "output": network.output if network.has_head else None,
        "head_input_frames": network.head_input_frames,
        "front_end": fe.to_dict(),
        "shape_clip_frames": table_frames(network),
        "layers": layers,
        "relus": describe_relus(network.relus),
        "warnings": list(network.warnings),
    }
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{network.name}  ({network.source}, traced graph)")
    print(
        f"front end: {fe.sample_rate} Hz, n_fft {fe.n_fft}, hop {fe.hop_length}, {fe.scale.value}"
        + (f" {fe.n_mels} bands" if fe.scale.value == "mel" else "")
        + f", compression {fe.compression.value}"
    )
    cmd_layers_print(layers, network)
    print(info["relus"])
    if network.labels:
        print(f"labels ({len(network.labels)}): {', '.join(network.labels)}")
    return 0


def cmd_layers_print(layers: list[dict], network) -> None:
    from app.core.sources import table_frames

    fe = network.front_end
    frames = table_frames(network)
    seconds = (frames - 1) * fe.hop_length / fe.sample_rate if fe.center else 0.0
    clip = "4 s clip" if layers and layers[0]["output_shape_4s"] is not None else f"{frames} frames, {seconds:.1f} s"
    width = max([6, *(len(row["name"]) for row in layers)])
    print(f"layer  {'name':<{width}}  maps  kernel  output (C x H x W, {clip})")
    for row in layers:
        shape = " x ".join(map(str, row["output_shape"]))
        kernel = "x".join(map(str, row["kernel"])) if row.get("kernel") else "-"
        print(f"{row['layer']:>5}  {row['name']:<{width}}  {row['maps']:>4}  {kernel:<6}  {shape}")


def cmd_layers(args: argparse.Namespace) -> int:
    model = load_network(args)
    for layer in model.layers:
        print(f"{layer.number}\t{layer.name}\t{layer.n_maps}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from app.core.analysis import Analysis, pad_for_prediction, rank_scores

    model = load_network(args)
    if not model.has_head:
        print("aurascope: error: this model has no classifier head", file=sys.stderr)
        return EXIT_BAD_INPUT
    rate = model.front_end.sample_rate
    parts = []
    for clip in _clip_windows(args.audio, rate):
        # a clip shorter than the model's window is a fair question (a 0.27 s kick): padded with silence
        padded, added = pad_for_prediction(clip, model)
        if added and not parts:
            print(
                f"aurascope: note: '{clip.path.name}' lasts {clip.duration:.2f} s, shorter than the model's "
                f"window: padded with {added:.2f} s of silence",
                file=sys.stderr,
            )
        parts.append(Analysis(padded, model).window_scores())
    ranked = rank_scores(model, np.concatenate(parts).mean(axis=0), args.top)
    if args.json:
        print(
            json.dumps(
                {
                    "audio": str(Path(args.audio).resolve()),
                    "model": model.name,
                    "task": model.task,
                    "output": model.output,
                    "scores": [{"label": label, "score": score} for label, score in ranked],
                },
                indent=2,
            )
        )
    else:
        for label, score in ranked:
            print(f"{score:7.3f}  {label}")
    return 0


STREAM_WINDOW_S = 60.0  # predict and characterise read a longer clip in windows of this length


def _clip_windows(path: Path, sample_rate: int):
    """The clip whole, or for one longer than 1.5 windows, its windows streamed one at a time (bounded memory)."""
    from app.core.audio import iter_windows, load_audio

    if _is_long(path):
        yield from iter_windows(path, sample_rate, STREAM_WINDOW_S)
    else:
        yield load_audio(path, sample_rate)


def _is_long(path: Path) -> bool:
    from app.core.audio import audio_header

    header = audio_header(path)
    return header is not None and header.duration > 1.5 * STREAM_WINDOW_S


def cmd_export(args: argparse.Namespace) -> int:
    from app.core.analysis import Analysis
    from app.core.audio import load_audio
    from app.core.errors import SelectionError
    from app.core.export import export_features

    model = load_network(args)
    refs = _selected_refs(model, args.layer, args.features)
    names: dict[str, Path] = {}
    for path in args.audio:  # several clips write into one folder: two of one name would overwrite each other
        if Path(path).stem in names and Path(path).resolve() != names[Path(path).stem].resolve():
            raise SelectionError(
                f"clips '{names[Path(path).stem]}' and '{path}' would write files of the same names; rename one"
            )
        names[Path(path).stem] = Path(path)
    paths = list(dict.fromkeys(Path(p).resolve() for p in args.audio))
    modes = [Mode(m) for m in dict.fromkeys(args.mode or ["choi"])]
    started = time.perf_counter()
    show = sys.stderr.isatty() and not args.quiet
    total = len(paths) * len(refs) * len(modes)
    written: list[Path] = []
    for path in paths:
        analysis = Analysis(load_audio(path, model.front_end.sample_rate), model)
        before = len(written)
        written += export_features(
            analysis,
            refs,
            modes,
            args.out,
            subtype=args.format,
            loudness=Loudness(args.loudness),
            progress=(lambda d, t, b=before: _progress(b + d, total, started)) if show else None,
            method=args.method,
        )
    if not args.quiet:
        clips = f" from {len(paths)} clips" if len(paths) > 1 else ""
        print(
            f"wrote {len(written)} file(s){clips} to {Path(args.out).resolve()} "
            f"in {time.perf_counter() - started:.1f} s"
        )
    return 0


def _selected_refs(model, layer_texts: list[str] | None, features: str) -> list[FeatureRef]:
    layers: list[int] = []
    for text in layer_texts or ["all"]:
        layers += parse_index_list(text, len(model.layers) + 1, "layer")
    return [
        FeatureRef(layer, k)
        for layer in sorted(set(layers))
        for k in parse_index_list(features, model.layer(layer).n_maps, "feature")
    ]


def _open_many(args: argparse.Namespace):
    """The session (if any), the model and the clips' paths: ``--model``/``--audio`` win over the session's."""
    from app.core.errors import AurascopeError
    from app.core.session import FileStatus, Session

    session = Session.load(args.session) if getattr(args, "session", None) else None
    if session is not None:
        for line in session.problems():
            print(f"aurascope: warning: {line}", file=sys.stderr)
    model_path = args.model or (session.model.path if session is not None and session.model else None)
    module = session.model_module if session is not None and not args.model else None
    if model_path is None and module is None:
        raise AurascopeError("no model: pass --model, or --session with a session that names one")
    audio = list(args.audio or [])
    if not audio and session is not None:
        missing = {loc.path for loc in session.located if loc.status is FileStatus.MISSING}
        audio = [c.path for c in session.clips if c.path not in missing]
    if not audio:
        raise AurascopeError("no audio: pass --audio, or --session with a session that has clips")
    model = _session_module(args, session, module) if module is not None else load_network(args, model_path)
    return session, model, audio


def _session_module(args: argparse.Namespace, session, module):
    """A session's ``module:callable`` network, imported only with ``--trust-module`` (importing runs its code)."""
    from app.core.errors import UnsupportedModelError
    from app.core.sources import open_model_noting
    from app.core.trust import describe_module

    description = describe_module(module.source, module.search_folder)
    if not args.trust_module:
        raise UnsupportedModelError(
            module.source,
            f"session '{session.path}' names a module whose code would run: {description.text()}; pass "
            "--trust-module to run it, or --model to use another model",
        )
    network, caught = open_model_noting(
        module.source,
        weights=module.weights.path if module.weights else None,
        front_end=module.front_end.path,
        search_folder=module.search_folder,
        consented=description,
    )
    for warning in caught:
        print(f"aurascope: warning: {warning.message}", file=sys.stderr)
    return network


def _stems_of(args: argparse.Namespace, analyses) -> list:
    """Per clip, the stems found beside it (``clip.<stem>.<ext>``) unless ``--stems none``; unusable ones warn."""
    from app.core.stems import stems_beside

    out = []
    for analysis in analyses:
        stems, problem = (None, None)
        if args.stems == "auto":
            stems, problem = stems_beside(analysis.clip.path, analysis.clip.samples, analysis.clip.sample_rate)
        if problem:
            print(f"aurascope: warning: {problem}; measuring without them", file=sys.stderr)
        out.append(stems)
    return out


def cmd_characterise(args: argparse.Namespace) -> int:
    from app.core.analysis import Analysis
    from app.core.characterise import characterise, combine_windows, join_clips
    from app.core.errors import AurascopeError

    if args.update_session and not args.session:
        raise AurascopeError("--update-session needs --session")
    session, model, audio = _open_many(args)
    refs = _selected_refs(model, args.layer, args.features)
    started = time.perf_counter()
    show = sys.stderr.isatty() and not args.json
    per_clip = []
    for number, path in enumerate(audio):
        windows, seconds = [], []
        streamed = _is_long(path)
        for clip in _clip_windows(path, model.front_end.sample_rate):  # a long clip: one window in memory at once
            done_before = number * len(refs)
            analysis = Analysis(clip, model)
            windows.append(
                characterise(
                    analysis,
                    refs,
                    method=args.method,
                    progress=(lambda d, t, b=done_before: _progress(b + d, len(audio) * t, started)) if show else None,
                    stems=None if streamed else _stems_of(args, [analysis]),  # stems are whole files
                )
            )
            seconds.append(clip.duration)
        per_clip.append(combine_windows(windows, seconds))
    result = join_clips(per_clip)
    if args.update_session and session is not None:
        session.set_suggestions(result.suggestions())
        session.save()
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, ensure_ascii=False, allow_nan=False))
        return 0
    for layer, index in result.refs():
        tags = result.tags((layer, index))
        label = session.notes_for((layer, index)).label if session is not None else ""
        named = f"  [{label}]" if label else ""
        print(f"L{layer}F{index}{named}  " + ("; ".join(t.text() for t in tags) if tags else "-"))
    print(
        f"{len(result.refs())} map(s) x {len(result.baselines)} clip(s) in {result.seconds:.1f} s "
        f"({1000 * result.seconds_per_map:.0f} ms per map and clip)"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from app.core.analysis import Analysis
    from app.core.audio import load_audio
    from app.core.errors import SelectionError
    from app.core.report import write_report

    if args.excerpts is not None and args.atlas is None:
        raise SelectionError("--excerpts needs --atlas (the corpus atlas to take the excerpts from)")
    session, model, audio = _open_many(args)
    refs = _selected_refs(model, args.layer, args.features)
    analyses = [Analysis(load_audio(path, model.front_end.sample_rate), model) for path in audio]
    started = time.perf_counter()
    show = sys.stderr.isatty() and not args.quiet
    report = write_report(
        args.out,
        analyses,
        refs,
        session,
        method=args.method,
        progress=(lambda d, t: _progress(d, t, started)) if show else None,
        stems=_stems_of(args, analyses),
        atlas=args.atlas,
        excerpts=args.excerpts if args.excerpts is not None else DEFAULT_EXCERPTS,
    )
    if not args.quiet:
        print(
            f"wrote {report.maps} map(s) x {report.clips} clip(s), {report.files} files"
            + (f" ({report.excerpts} corpus excerpt(s))" if args.atlas is not None else "")
            + f", to {report.index.resolve()} in {report.seconds:.1f} s"
        )
    return 0


def cmd_front_end(args: argparse.Namespace) -> int:
    """Print a sidecar to start from: a preset's front end with fields overridden (``n_fft=512 fmax=8000``)."""
    from app.core.errors import ModelFormatError
    from app.core.frontend import PRESETS, FrontEnd

    if args.preset is None:
        for name, fe in PRESETS.items():
            print(f"{name:<11} {json.dumps(fe.to_dict())}")
        return 0
    block: dict[str, object] = {"preset": args.preset}
    for item in args.fields:
        name, sep, text = item.partition("=")
        if not sep or not name:
            print(f"aurascope: error: expected FIELD=VALUE, got {item!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            block[name] = json.loads(text)
        except json.JSONDecodeError:
            block[name] = text  # a word: htk, reflect, log10_1p
    try:
        fe = FrontEnd.from_dict(block)
    except ModelFormatError as err:
        print(f"aurascope: error: field '{err.field}': {err.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps({"front_end": fe.to_dict()}, indent=2))
    return 0


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from app.desktop import install_desktop

    entry = install_desktop(args.dir)
    print(f"wrote {entry}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line (exit status 2) like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"aurascope: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    return _parser_and_commands()[0]


def _parser_and_commands() -> tuple[argparse.ArgumentParser, argparse.Action]:
    """The whole parser, and its action holding the commands (its ``choices``: command name -> sub-parser)."""
    parser = _Parser(
        prog="aurascope",
        description="Listen to the features a convolutional network has learned from music. "
        "With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"aurascope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def method_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--method",
            choices=[m.value for m in Method],
            default="deconvnet",
            help="how the signal passes each ReLU on its way down (default deconvnet, as Choi et al.)",
        )

    def sources(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--weights", type=Path, help="for module:callable: a .safetensors or state-dict checkpoint (weights_only)"
        )
        p.add_argument(
            "--front-end", type=Path, help="for module:callable and .onnx: JSON with the front_end block (+ labels)"
        )

    p = sub.add_parser("info", help="front end, layers, labels and provenance of a model file")
    p.add_argument("model", help=MODEL_HELP)
    sources(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("layers", help="the model's layers, one per line (number, name, maps)")
    p.add_argument("model", help=MODEL_HELP)
    sources(p)
    p.set_defaults(run=cmd_layers)

    p = sub.add_parser("predict", help="what the network thinks it hears in a clip")
    p.add_argument("--model", "-m", required=True, help=MODEL_HELP)
    sources(p)
    p.add_argument("--audio", "-a", type=Path, required=True)
    p.add_argument("--top", type=_positive_int, default=None, help="show only the best N labels (N >= 1)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("export", help="auralise feature maps and write WAV files with JSON sidecars")
    p.add_argument("--model", "-m", required=True, help=MODEL_HELP)
    sources(p)
    method_option(p)
    p.add_argument(
        "--audio", "-a", type=Path, action="append", required=True, help="audio file; repeat for several clips"
    )
    p.add_argument("--layer", "-l", action="append", help="layer(s) from 1: repeat, '1,3', '2-4' or 'all' (default)")
    p.add_argument("--features", "-f", default="all", help="maps from 0: '0,5,9-12' or 'all' (default)")
    p.add_argument(
        "--mode",
        action="append",
        choices=[m.value for m in Mode],
        help="resynthesis mode; repeat for several (default choi)",
    )
    p.add_argument("--format", choices=["float32", "pcm24", "pcm16"], default="float32")
    p.add_argument(
        "--loudness",
        choices=[m.value for m in Loudness],
        default="none",
        help="none: raw level (default); match: the original's LUFS; peak: -0.1 dBFS peak",
    )
    p.add_argument("--out", "-o", type=Path, default=Path("aurascope-export"))
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=cmd_export)

    def many(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", "-m", help=f"{MODEL_HELP} (default: the session's)")
        sources(p)
        p.add_argument("--audio", "-a", type=Path, action="append", help="audio file; repeat for several clips")
        p.add_argument("--session", "-s", type=Path, help="a .aurascope session: its model, clips and labels")
        p.add_argument(
            "--trust-module",
            action="store_true",
            help="run the session's module:callable model (importing it runs its code; without this it is refused)",
        )
        p.add_argument(
            "--layer", "-l", action="append", help="layer(s) from 1: repeat, '1,3', '2-4' or 'all' (default)"
        )
        p.add_argument("--features", "-f", default="all", help="maps from 0: '0,5,9-12' or 'all' (default)")
        p.add_argument(
            "--stems",
            choices=("auto", "none"),
            default="auto",
            help="auto (default): a clip's stems beside it (song.wav -> song.drums.wav, ...) give each map its share "
            "of every stem and 'source selector' tags; none: ignore them",
        )
        method_option(p)

    p = sub.add_parser("characterise", help="measure what each map does to the clips and suggest tags for it")
    many(p)
    p.add_argument("--json", action="store_true", help="every figure, change and tag as JSON")
    p.add_argument("--update-session", action="store_true", help="store the suggested tags in --session")
    p.set_defaults(run=cmd_characterise)

    p = sub.add_parser("report", help="write a listening report: index.html with spectrograms and players, + JSON")
    many(p)
    p.add_argument("--out", "-o", type=Path, default=Path("aurascope-report"))
    p.add_argument(
        "--atlas", type=Path, help="a corpus atlas of the same model: each map shows its top excerpts of the corpus"
    )
    p.add_argument("--excerpts", type=int, help=f"with --atlas: top excerpts per map (default {DEFAULT_EXCERPTS})")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=cmd_report)

    add_atlas_commands(sub)

    p = sub.add_parser(
        "front-end",
        help="print a front-end sidecar from a preset (librosa, torchaudio, musicnn, kapre) with fields overridden",
    )
    p.add_argument("preset", nargs="?", help="a preset's name; without one, every preset is listed")
    p.add_argument("fields", nargs="*", metavar="FIELD=VALUE", help="e.g. n_fft=512 hop_length=256 fmax=8000")
    p.set_defaults(run=cmd_front_end)

    p = sub.add_parser("install-desktop", help="add Aurascope to the desktop's menu and 'Open with' for audio files")
    p.add_argument(
        "--dir", type=Path, default=None, help="folder for the .desktop file (default ~/.local/share/applications)"
    )
    p.set_defaults(run=cmd_install_desktop)
    return parser, sub


def command_names() -> frozenset[str]:
    """The commands ``aurascope`` runs headless (``info``, ``export``, ...): what app.launch sends here."""
    return frozenset(_parser_and_commands()[1].choices or ())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every error a user can cause ends in one line on stderr and exit status 2: our own
    errors, and every OS error (a path too long, a folder that is a file, a full disk, a read-only folder...),
    named with its path. A closed pipe (``aurascope info m | head``) ends quietly."""
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 file name or label is printed escaped, never a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _run(argv)
        sys.stdout.flush()  # inside the try: a reader that closed the pipe is noticed here, not at exit
        return code
    except BrokenPipeError:
        # as the Python docs advise (signal module, "Note on SIGPIPE"): point stdout at devnull so the flush at
        # exit does not raise again, and exit quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(argv: Sequence[str] | None) -> int:
    from app.core.errors import AurascopeError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the window is app.launch's to open, never the command line's
        parser.error("a command is needed")
    try:
        return int(args.run(args))
    except AurascopeError as err:
        print(f"aurascope: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        raise
    except OSError as err:
        print(f"aurascope: error: {os_error_text(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("aurascope: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a user's network (or a bug of ours) failing where nothing expected it: one line
        if os.environ.get("AURASCOPE_TRACEBACK"):
            raise
        text = str(err).strip().splitlines()
        print(
            f"aurascope: error: {type(err).__name__}: {text[0] if text else ''} "
            "(set AURASCOPE_TRACEBACK=1 to see where)",
            file=sys.stderr,
        )
        return 1


def os_error_text(err: OSError) -> str:
    """One line for an OS error: the path(s) it names and the system's reason (``No space left on device``)."""
    reason = err.strerror or _one_line(str(err)) or type(err).__name__
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    shown = " -> ".join(f"'{os.fsdecode(p) if isinstance(p, bytes) else p}'" for p in paths)
    return f"{shown}: {reason}" if shown else reason


def _one_line(text: str) -> str:
    return " ".join(text.split())
