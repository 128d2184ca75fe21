"""What the compute worker runs: core calls turned into display-ready values. No Qt.

Everything here runs on the worker thread (`app.ui.worker`); torch and the core modules that import it are
imported inside the functions, so importing this module costs nothing. The GUI receives only the frozen
values defined here (numpy arrays, numbers, strings) plus opaque handles (``Model``, ``Analysis``) that it
passes back into later requests and never calls itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.display import LogFrequencyGrid, band_edges, linear_bin_hz, thumbnail
from app.core.types import DEFAULT_EXCERPTS, FeatureRef, Loudness, Method, Mode

if TYPE_CHECKING:  # names for the type checker only: the worker imports these (and torch) inside the functions
    from app.core.analysis import Analysis, Rendering
    from app.core.characterise import MapCharacter
    from app.core.model import Model
    from app.core.progressive import Chunk
    from app.core.report import Report
    from app.core.session import Session
    from app.core.sources import Network
    from app.core.stems import Stems
    from app.core.trust import ModuleDescription
    from app.playback.progressive import ProgressiveBuffer

    #: What an open returns and later requests take back: our model file, or a traced module or ONNX graph.
    Handle = Model | Network

THUMB_ROWS = 18
THUMB_COLS = 64
GALLERY_ROWS = 40
GALLERY_COLS = 140
#: Longer clips render progressively: the window the listener hears first, then the rest of the clip.
PROGRESSIVE_SECONDS = 20.0
#: Longer clips show this many seconds in thumbnails: their loudest stretch (said in the tree's tooltip). Every
#: map of a 3-minute song costs ~18 s of one core on musicnn-mtt-vgg at 6 s, 32 s at 10 s (bench/long_songs.py,
#: loaded machine): a thumbnail's 64 columns still get 6 frames each.
THUMB_SECONDS = 6.0


@dataclass(frozen=True)
class LayerSummary:
    """One layer as the window shows it; ``kernels`` ``[shape=(n_maps, in_channels, kh, kw)]`` or None when the
    network cannot say (a traced module whose layer is not one plain conv)."""

    number: int
    name: str
    n_maps: int
    kernels: np.ndarray | None
    freq_stride: int
    time_stride: int


@dataclass(frozen=True)
class ModelSummary:
    path: Path
    name: str
    sha256: str
    task: str
    labels: tuple[str, ...]
    output: str
    sample_rate: int
    n_fft: int
    hop_length: int
    scale: str
    n_bins: int
    input_bin_hz: np.ndarray
    layers: tuple[LayerSummary, ...]
    kind: str = "safetensors"  # or "traced" (a PyTorch module or an ONNX graph)
    warnings: tuple[str, ...] = ()  # what the network's graph keeps a method from doing faithfully
    remarks: tuple[str, ...] = ()  # what it does that changes no map (an input gain): said, not alarmed about

    @property
    def grid(self) -> LogFrequencyGrid:
        return LogFrequencyGrid.for_rate(self.sample_rate, self.n_fft)

    @property
    def front_end_text(self) -> str:
        scale = f"{self.scale} {self.n_bins} bands" if self.scale == "mel" else "linear"
        return f"{self.sample_rate} Hz, n_fft {self.n_fft}, hop {self.hop_length}, {scale}"


@dataclass(frozen=True)
class ClipFindings:
    """What the model says about a whole clip, computed after its first map is playable (it needs the whole
    forward pass, or every chunk of a long clip): per-layer energies ``{layer: [shape=(n_maps,)]}`` (mean
    squared activation), the predictions, best first, and the clip's integrated loudness."""

    energies: dict[int, np.ndarray]
    predictions: tuple[tuple[str, float], ...]
    reference_lufs: float
    seconds: float


@dataclass(frozen=True)
class ClipSummary:
    """A clip seen through the model: the original's display now, its findings (energies, predictions) later.

    ``samples``: mono float32 at the model rate (slot A); ``original``: the file's own mono mix at
    ``original_rate`` (slot A at full quality, if asked for). ``original_db`` ``[shape=(grid rows, n_frames)]``.
    ``findings`` is None until `clip_findings` has run on the worker (the window says "…" meanwhile).
    """

    path: Path
    name: str
    sha256: str
    duration: float
    original_rate: int
    channels: int
    samples: np.ndarray
    original: np.ndarray
    original_db: np.ndarray
    n_frames: int
    analysis_seconds: float
    thumbnail_span_s: tuple[float, float] | None = None  # what the thumbnails show (seconds), None: the whole clip
    findings: ClipFindings | None = None

    @property
    def energies(self) -> dict[int, np.ndarray]:
        """Per-layer energies; empty until the findings are in."""
        return self.findings.energies if self.findings is not None else {}

    @property
    def predictions(self) -> tuple[tuple[str, float], ...]:
        """The model's scores, best first; empty until the findings are in (and for a network without a head)."""
        return self.findings.predictions if self.findings is not None else ()


@dataclass(frozen=True)
class Opened:
    """What an open request returns: handles for later requests plus what the window shows."""

    model: Handle  # opaque to the GUI
    summary: ModelSummary
    analysis: Analysis | None = None  # None: no clip yet
    clip: ClipSummary | None = None


@dataclass(frozen=True)
class Auralisation:
    """One rendering, ready for slot B (or R) and the views.

    ``audio`` float32 mono at ``device_rate``; ``display_db`` ``[shape=(grid rows, n_frames)]``;
    ``activation_display`` ``[shape=(grid rows, w)]`` covering ``activation_seconds`` from time 0.
    """

    ref: FeatureRef
    mode: Mode
    audio: np.ndarray
    device_rate: int
    method: Method
    display_db: np.ndarray
    activation: np.ndarray
    activation_display: np.ndarray
    activation_seconds: float
    loudness_lufs: float
    reference_lufs: float
    gain_db: float
    rms_db: float
    peak_db: float
    device_peak_db: float  # after resampling to the device rate (inter-sample peaks): what playback must not clip
    negative_share: float
    centroid_hz: float
    activation_peak: float
    activation_peak_s: float
    activation_peak_hz: float
    seconds: float


# --- opening ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSource:
    """What to open: a model file (``.safetensors``; ``.onnx`` with ``front_end`` or ``<name>.json`` beside it),
    or ``package.module:callable`` with an optional weights file, a front end and a folder to import it from."""

    source: str
    weights: Path | None = None
    front_end: Path | None = None
    search_folder: Path | None = None
    consented: ModuleDescription | None = None  # a module a session names, as the listener agreed to run it

    @property
    def is_module(self) -> bool:
        return not self.source.lower().endswith((".safetensors", ".onnx"))

    @property
    def display_name(self) -> str:
        return self.source if self.is_module else Path(self.source).name


def open_network(path: str | Path | ModelSource) -> tuple[Handle, ModelSummary]:
    """Read a model (raises ModelFormatError / UnsupportedModelError naming it) and describe it.

    ``.safetensors``: our format. ``.onnx``: an ONNX graph with its front end in the JSON sidecar beside it
    (``<name>.json``), traced like the CLI's ``--front-end`` does. A `ModelSource` naming a module imports the
    user's code (trusted, like the CLI's ``module:callable``) from its search folder.
    """
    from app.core.errors import FidelityWarning, ModelFormatError
    from app.core.sources import open_model_noting

    source = path if isinstance(path, ModelSource) else ModelSource(str(path))
    sidecar = source.front_end
    if not source.is_module and source.source.lower().endswith(".onnx") and sidecar is None:
        sidecar = Path(source.source).with_suffix(".json")
        if not sidecar.is_file():
            raise ModelFormatError(
                source.source, f"an ONNX model needs its front end in a JSON sidecar: {sidecar.name}"
            )
    target = source.source if source.is_module else Path(source.source)
    model, caught = open_model_noting(  # a module's search folder is on sys.path only while it is imported
        target,
        weights=source.weights,
        front_end=sidecar,
        search_folder=source.search_folder if source.is_module else None,
        consented=source.consented,
    )
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, FidelityWarning))
    return model, summarise_model(model, notes)


def summarise_model(model: Handle, notes: tuple[str, ...] = ()) -> ModelSummary:
    """What the window shows about a network of either kind (`app.core.sources.Network`)."""
    fe = model.front_end
    layers = []
    for layer in model.layers:
        f_stride, t_stride = model.strides(layer.number)
        kernels = model.kernels(layer.number)
        if kernels is not None:
            kernels = kernels.detach().cpu().numpy().astype(np.float32)
        layers.append(LayerSummary(layer.number, layer.name, layer.n_maps, kernels, int(f_stride), int(t_stride)))
    remarks = tuple(getattr(model, "remarks", ()))
    return ModelSummary(
        path=Path(model.path) if model.path else Path(model.name),
        name=model.name,
        sha256=model.sha256 or "",
        task=getattr(model, "task", "") or "",
        labels=tuple(model.labels),
        output=model.output,
        sample_rate=fe.sample_rate,
        n_fft=fe.n_fft,
        hop_length=fe.hop_length,
        scale=str(fe.scale.value),
        n_bins=fe.n_bins,
        input_bin_hz=np.asarray(fe.bin_frequencies(), dtype=np.float64),
        layers=tuple(layers),
        kind=getattr(model, "kind", "safetensors"),
        warnings=tuple(w for w in dict.fromkeys((*notes, *getattr(model, "warnings", ()))) if w not in remarks),
        remarks=remarks,
    )


def open_session(
    model_path: str | Path | ModelSource | None,
    audio_path: str | Path | None,
    *,
    model: Handle | None = None,
    summary: ModelSummary | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Opened:
    """Load a model (or reuse ``model``), then, if given, a clip at its rate with its STFT: what the window needs
    to show the clip and render its first map. The clip's findings (`clip_findings`) come later, on their own job.

    Raises the core's errors (`ModelFormatError`, `AudioLoadError`, `ClipTooShortError`), each naming its file.
    """
    if model_path is not None:
        model, summary = open_network(model_path)
    if model is None or summary is None:
        raise ValueError("open_session needs a model path or a loaded model")
    if audio_path is None:
        return Opened(model, summary)
    from app.core.analysis import Analysis
    from app.core.audio import load_audio

    started = time.perf_counter()
    clip = load_audio(audio_path, summary.sample_rate)
    analysis = Analysis(clip, model)
    if cancelled():
        return Opened(model, summary)
    return Opened(model, summary, analysis, describe_clip(analysis, summary, started))


def describe_clip(analysis: Analysis, summary: ModelSummary, started: float | None = None) -> ClipSummary:
    """What the window shows of a clip before any map: its spectrogram, length, slot A's samples (no forward
    pass: the first map's window renders before the whole clip is run through the network)."""
    started = time.perf_counter() if started is None else started
    clip = analysis.clip
    grid = summary.grid
    db = analysis.original_spectrogram_db()
    original_db = grid.remap_linear(db, linear_bin_hz(summary.sample_rate, summary.n_fft))
    original = clip.original.mean(axis=0).astype(np.float32) if clip.original.ndim == 2 else clip.original
    return ClipSummary(
        path=Path(clip.path),
        name=clip.name,
        sha256=clip.sha256,
        duration=float(clip.duration),
        original_rate=int(clip.original_rate),
        channels=int(clip.original.shape[0]) if clip.original.ndim == 2 else 1,
        samples=np.ascontiguousarray(clip.samples, dtype=np.float32),
        original=np.ascontiguousarray(original, dtype=np.float32),
        original_db=original_db,
        n_frames=int(db.shape[1]),
        analysis_seconds=time.perf_counter() - started,
        thumbnail_span_s=tuple(x / clip.sample_rate for x in thumbnail_span(analysis)),
    )


def clip_findings(analysis: Analysis, summary: ModelSummary) -> ClipFindings:
    """The clip's energies per layer and the model's predictions: the whole forward pass (kept for every later
    whole-clip render), or exact chunks of a long clip; and its loudness (for the renderings' matching)."""
    started = time.perf_counter()
    if not analysis.chunked:  # a long clip never runs the whole-clip pass (windows and exact chunks instead)
        _ = analysis.record
    energies = {layer.number: analysis.layer_activation_energy(layer.number) for layer in summary.layers}
    predictions = tuple((label, float(score)) for label, score in analysis.predict(top=None))
    lufs = float(analysis.reference_lufs)
    return ClipFindings(energies, predictions, lufs, time.perf_counter() - started)


# --- rendering -----------------------------------------------------------------------------------------------
def render_feature(
    analysis: Analysis,
    summary: ModelSummary,
    ref: FeatureRef,
    mode: Mode,
    device_rate: int,
    *,
    method: Method = Method.DECONVNET,
    residual: bool = True,
    on_first: Callable[[Auralisation], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Auralisation | None:
    """Render map ``ref`` in ``mode`` (slot B) and its residual (slot R) with attribution ``method``, both
    resampled to ``device_rate``.

    ``on_first`` receives the B rendering as soon as it exists (audio ready); the residual is returned (or the
    B rendering when ``residual`` is False). Returns None when cancelled between the two.
    """
    layer, index = ref
    mode = Mode(mode)
    modes = [mode, Mode.RESIDUAL] if mode is not Mode.RESIDUAL and residual else [mode]
    started = time.perf_counter()
    result = None
    for rendering in analysis.render_many(layer, [index], modes, method=Method(method)):
        result = auralise(rendering, analysis, summary, device_rate, time.perf_counter() - started)
        if on_first is not None and rendering.mode is modes[0]:
            on_first(result)
        if cancelled():
            return None
        started = time.perf_counter()
    return result


@dataclass(frozen=True)
class FirstWindow:
    """The first window of a progressive rendering (clips over PROGRESSIVE_SECONDS): slot B can play ``buffer``
    (an ``app.playback.ProgressiveBuffer`` at ``device_rate``, still filling) from ``first_s`` now."""

    ref: FeatureRef
    mode: Mode
    method: Method
    buffer: ProgressiveBuffer
    device_rate: int
    first_s: float
    last_s: float
    seconds: float
    residual: ProgressiveBuffer | None = None  # slot R's, filling alongside (Choi: original minus B, chunk by chunk)


def progressive_wanted(analysis: Analysis, layer: int) -> bool:
    """Whether a map of ``layer`` renders progressively: a long clip, and a layer that is local in time."""
    return analysis.clip.duration > PROGRESSIVE_SECONDS and analysis.windowable(layer)


def render_feature_progressive(
    analysis: Analysis,
    summary: ModelSummary,
    ref: FeatureRef,
    mode: Mode,
    device_rate: int,
    start_s: float,
    end_s: float | None = None,
    *,
    method: Method = Method.DECONVNET,
    on_window: Callable[[FirstWindow], None],
    on_first: Callable[[Auralisation], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Auralisation | None:
    """Render map ``ref`` window first: FIRST_WINDOW_SECONDS from ``start_s`` (or ``[start_s, end_s)``, a loop
    region) go to ``on_window`` in a playback buffer at once, then the rest of the clip fills that buffer chunk
    by chunk (stopping if ``cancelled``). When complete, ``on_first`` gets the whole B rendering (its audio is
    the buffer's) and the residual (slot R; original minus the Choi rendering, from the same deconv) is
    returned, as :func:`render_feature` does. None when cancelled."""
    from app.core.progressive import FIRST_WINDOW_SECONDS, RESAMPLE_MARGIN, ProgressiveRendering, whole_rendering
    from app.playback.progressive import ProgressiveBuffer

    started = time.perf_counter()
    sr, n = analysis.clip.sample_rate, analysis.clip.samples.shape[0]
    first = min(max(0, round(start_s * sr)), max(0, n - sr))
    last = round(end_s * sr) if end_s is not None else first + round(FIRST_WINDOW_SECONDS * sr)
    last = min(n, max(last, first + sr // 2))
    layer, index = ref
    fill = ProgressiveRendering(layer, index, n, sr, (first, last), mode=Mode(mode), method=Method(method))
    buffer = ProgressiveBuffer(n, sr, device_rate)
    # the residual is linear in the mask: ISTFT(X - X*D) = original - ISTFT(X*D), so in Choi mode slot R fills
    # from the same chunks (other modes' R comes with the complete rendering)
    residual = ProgressiveBuffer(n, sr, device_rate) if Mode(mode) is Mode.CHOI else None
    samples = analysis.clip.samples
    margin = max(RESAMPLE_MARGIN, buffer.margin_needed)  # more only for a device far below the model's rate

    def write(chunk: Chunk) -> None:
        buffer.write(chunk.first, chunk.last, chunk.audio, chunk.padded_first)
        if residual is not None:
            span = slice(chunk.padded_first, chunk.padded_first + chunk.audio.shape[0])
            residual.write(chunk.first, chunk.last, samples[span] - chunk.audio, chunk.padded_first)

    write(fill.fill_next(analysis, margin))
    seconds = time.perf_counter() - started
    ref = FeatureRef.of(ref)
    on_window(
        FirstWindow(ref, Mode(mode), Method(method), buffer, device_rate, first / sr, last / sr, seconds, residual)
    )
    while not fill.complete:
        if cancelled():
            return None
        write(fill.fill_next(analysis, margin))
    rendering = whole_rendering(fill, analysis)
    feature = auralise(rendering, analysis, summary, device_rate, time.perf_counter() - started, buffer.audio)
    if on_first is not None:
        on_first(feature)
    if cancelled():
        return None
    return auralise(_residual_of(rendering, analysis), analysis, summary, device_rate, 0.0)


def _residual_of(rendering: Rendering, analysis: Analysis) -> Rendering:
    """The residual rendering (original minus Choi, in the STFT domain) from a rendering's deconv."""
    import dataclasses

    import torch

    from app.core.resynth import loudness_lufs, masked_spectrum, to_db

    fe = analysis.model.front_end
    with torch.no_grad():
        d = torch.from_numpy(rendering.deconv).to(analysis.spectrum.device)
        spectrum = masked_spectrum(analysis.spectrum, fe.mask_to_linear(d), Mode.RESIDUAL)
        audio = fe.istft(spectrum, analysis.clip.samples.shape[0]).cpu().numpy().astype(np.float32)
    return dataclasses.replace(
        rendering,
        mode=Mode.RESIDUAL,
        audio=audio,
        spectrogram_db=to_db(spectrum.abs()),
        loudness_lufs=loudness_lufs(audio, rendering.sample_rate),
    )


def auralise(
    rendering: Rendering,
    analysis: Analysis,
    summary: ModelSummary,
    device_rate: int,
    seconds: float,
    device_audio: np.ndarray | None = None,
) -> Auralisation:
    """A core Rendering as display arrays, figures, and audio at the device rate (``device_audio`` when it is
    already resampled, e.g. a filled progressive buffer)."""
    from app.core.resampling import resample

    grid = summary.grid
    layer = summary.layers[rendering.ref.layer - 1]
    audio = rendering.audio
    spec_db = rendering.spectrogram_db
    bin_hz = linear_bin_hz(summary.sample_rate, summary.n_fft)
    display = grid.remap_linear(spec_db, bin_hz)
    act = np.asarray(rendering.activation, dtype=np.float32)
    edges = band_edges(summary.input_bin_hz, act.shape[0], layer.freq_stride)
    act_display = grid.remap_bands(act, edges)
    frame_s = summary.hop_length / summary.sample_rate
    peak_row, peak_col = np.unravel_index(int(np.argmax(act)), act.shape) if act.size else (0, 0)
    power = np.power(10.0, spec_db.astype(np.float64) / 10.0)
    total = float(power.sum())
    centroid = float((power.sum(axis=1) * bin_hz).sum() / total) if total > 0 else 0.0
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    deconv = rendering.deconv
    t0 = time.perf_counter()
    if device_audio is None:
        device_audio = resample(audio, rendering.sample_rate, device_rate)
    return Auralisation(
        ref=FeatureRef.of(rendering.ref),
        mode=Mode(rendering.mode),
        audio=device_audio,
        device_rate=int(device_rate),
        method=Method(rendering.method),
        display_db=display,
        activation=act,
        activation_display=act_display,
        activation_seconds=act.shape[1] * layer.time_stride * frame_s,
        loudness_lufs=float(rendering.loudness_lufs),
        reference_lufs=float(rendering.reference_lufs),
        gain_db=float(rendering.gain_to_match_db),
        rms_db=float(rendering.rms_db),
        peak_db=20.0 * math.log10(peak) if peak > 0 else -math.inf,
        device_peak_db=_peak_db(device_audio),
        negative_share=float(np.mean(deconv < 0)) if deconv.size else 0.0,
        centroid_hz=centroid,
        activation_peak=float(act[peak_row, peak_col]) if act.size else 0.0,
        activation_peak_s=(peak_col + 0.5) * layer.time_stride * frame_s,
        activation_peak_hz=float(0.5 * (edges[peak_row] + edges[peak_row + 1])),
        seconds=seconds + time.perf_counter() - t0,
    )


def _peak_db(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def thumbnails(
    analysis: Analysis,
    summary: ModelSummary,
    layer: int,
    indices: Sequence[int],
    method: Method = Method.DECONVNET,
    *,
    threads: int | None = 1,
) -> dict[FeatureRef, tuple[np.ndarray, np.ndarray]]:
    """Small images of the auralised (Choi) spectrograms of some maps of one layer, deconvolved as a batch.

    ``|X * D|`` in dB is the Choi rendering's spectrogram, so no inverse STFT is needed here. Per map two uint8
    images: the tree's ``[shape=(THUMB_ROWS, THUMB_COLS)]`` and the gallery's ``[shape=(GALLERY_ROWS, GALLERY_COLS)]``.
    A clip longer than THUMB_SECONDS shows its loudest THUMB_SECONDS (`thumbnail_span`; the same stretch for
    every map, so the thumbnails compare maps), computed exactly on that window alone. ``threads``: torch threads
    for the job; the window uses 1, which leaves a core to the audio callback, PulseAudio and the GUI (and two
    threads beside another busy process ran 3x slower than one: OpenMP's threads wait for each other by
    spinning); None: all of them.
    """
    import torch

    from app.core.resynth import to_db

    grid = LogFrequencyGrid(summary.grid.fmin, summary.grid.fmax, THUMB_ROWS)
    large = LogFrequencyGrid(summary.grid.fmin, summary.grid.fmax, GALLERY_ROWS)
    bin_hz = linear_bin_hz(summary.sample_rate, summary.n_fft)
    fe = analysis.model.front_end
    out: dict[FeatureRef, tuple[np.ndarray, np.ndarray]] = {}
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        with torch.no_grad():
            first, last = thumbnail_span(analysis)
            if (first, last) == (0, analysis.clip.samples.shape[0]) or not analysis.windowable(layer):
                d = analysis.deconv(layer, list(indices), method=Method(method))
                magnitude = analysis.spectrum.abs()
            else:
                frames = analysis.frames_for_samples(first, last)
                d = analysis.deconv_frames(layer, list(indices), frames, method=Method(method))
                magnitude = analysis.spectrum[:, frames[0] : frames[1]].abs()
            for k, dk in zip(indices, d, strict=True):
                db = to_db(magnitude * fe.mask_to_linear(dk).abs())
                small, big = thumbnail(db, grid, bin_hz, THUMB_COLS), thumbnail(db, large, bin_hz, GALLERY_COLS)
                out[FeatureRef(layer, k)] = (small, big)
    finally:
        torch.set_num_threads(before)
    return out


def thumbnail_span(analysis: Analysis) -> tuple[int, int]:
    """Samples ``[first, last)`` the thumbnails show: the whole clip, or its loudest THUMB_SECONDS."""
    return analysis.loudest_window(THUMB_SECONDS)


def export(
    analysis: Analysis,
    refs: Sequence[FeatureRef],
    modes: Sequence[Mode],
    out_dir: str | Path,
    *,
    subtype: str,
    loudness: Loudness,
    method: Method = Method.DECONVNET,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[Path]:
    """The CLI's exporter (`app.core.export.export_features`): same files, same sidecars."""
    from app.core.export import export_features

    return export_features(
        analysis,
        [FeatureRef.of(ref) for ref in refs],
        [Mode(m) for m in modes],
        out_dir,
        subtype=subtype,
        loudness=Loudness(loudness),
        progress=progress,
        cancelled=cancelled,
        method=method,
    )


def characterise(
    analyses: Sequence[Analysis],
    refs: Sequence[FeatureRef] | None,
    *,
    method: Method = Method.DECONVNET,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[MapCharacter]:
    """`app.core.characterise.characterise` over the session's clips (the CLI's ``aurascope characterise``), with
    each clip's stems where they lie beside it (``song.wav`` -> ``song.drums.wav``...), as the CLI finds them."""
    from app.core.characterise import characterise as run

    analyses = list(analyses)
    return run(analyses, refs, method=method, progress=progress, cancelled=cancelled, stems=stems_of(analyses))


def stems_of(analyses: Sequence[Analysis]) -> list[Stems | None]:
    """Per analysis, the stems beside its clip that add up to it, else None (unusable ones are left out)."""
    from app.core.stems import stems_beside

    return [stems_beside(a.clip.path, a.clip.samples, a.clip.sample_rate)[0] for a in analyses]


def write_report(
    out_dir: Path,
    analyses: Sequence[Analysis],
    refs: Sequence[FeatureRef] | None,
    session: Session | None,
    *,
    title: str,
    method: Method,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    atlas: Path | None = None,
    excerpts: int = DEFAULT_EXCERPTS,
) -> Report:
    """`app.core.report.write_report` (the CLI's ``aurascope report``): the same folder, page and JSON; with
    ``atlas``, each map's top ``excerpts`` excerpts of that corpus too."""
    from app.core.report import write_report as run

    analyses = list(analyses)
    return run(
        out_dir,
        analyses,
        refs,
        session,
        title=title,
        method=method,
        progress=progress,
        cancelled=cancelled,
        stems=stems_of(analyses),
        atlas=atlas,
        excerpts=excerpts,
    )


def analyse_clip(model: Handle, summary: ModelSummary, path: str | Path) -> tuple[Analysis, ClipSummary]:
    """Another clip of the session with the model already loaded: (analysis handle, what the window shows; its
    findings come from `clip_findings` later)."""
    from app.core.analysis import Analysis
    from app.core.audio import load_audio

    started = time.perf_counter()
    analysis = Analysis(load_audio(path, summary.sample_rate), model)
    return analysis, describe_clip(analysis, summary, started)
