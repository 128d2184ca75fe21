"""``Analysis(clip, model)``: the forward pass cached once, deconvolutions cached per map, renderings on demand."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from app.core import limits
from app.core.audio import Clip
from app.core.errors import ClipTooShortError, NonFiniteError
from app.core.limits import LimitError
from app.core.methods import Method
from app.core.model import Model
from app.core.resynth import Mode, loudness_lufs, masked_spectrum, matching_gain_db, to_db
from app.core.types import FeatureRef
from app.core.windowing import Interval, TimeGraph, crop_is_exact, frames_for_samples, plan_window

if TYPE_CHECKING:
    from app.core.deconv import ForwardRecord
    from app.core.sources import Network
    from app.core.traced.network import GraphRecord, TracedNetwork

    #: A forward pass as its network keeps it (layer outputs and switches, or the autograd graph).
    Record = ForwardRecord | GraphRecord

#: Deconvnet results are cached by their map alone, other methods' by (map, method).
CacheKey = FeatureRef | tuple[FeatureRef, Method]

#: Memory budget of an Analysis. Per clip, linear in its length and kept: the samples, the complex STFT and the
#: network's input (~0.22 MB per second of clip on choi2015: ~130 MB for 10 minutes). Bounded: the forward passes
#: of the last WINDOW_RECORDS window crops (a window plus its context, whatever the clip's length), and whole-clip
#: deconvolutions cached per map up to DEFAULT_CACHE_BYTES, the least recently used evicted first (~27 MB per
#: map for 10 minutes on choi2015: the last ~38 maps). Clips past CHUNK_FRAMES never keep a whole-clip forward pass.
DEFAULT_CACHE_BYTES = 1 << 30
#: Forward passes over window crops kept (each is the size of a window plus its context, whatever the clip length).
WINDOW_RECORDS = 3
#: Clips with more input frames than this never run the whole-clip forward pass (its record is ~12 bytes per
#: activation of every layer: 4 GB for a 10-minute clip on choi2015): whole-clip results are assembled from
#: exact chunks of this many frames instead (~47 s on choi2015, ~48 s on mel-tagger).
CHUNK_FRAMES = 2048
#: Head windows per batch in :meth:`Analysis.predict` (bounds its memory on long clips).
PREDICT_BATCH = 8


def default_device() -> torch.device:
    """A GPU when one is there, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def prediction_frames(model: Network) -> int:
    """Frames a prediction needs: the frames the model's head takes, or the fewest its layers take."""
    return max(model.min_input_frames(), model.head_input_frames or 0)


def pad_for_prediction(clip: Clip, model: Network) -> tuple[Clip, float]:
    """The clip with silence appended up to :func:`prediction_frames` (a 0.27 s kick is a fair question to a
    tagger whose window is 3 s), and the seconds of silence added (0.0 for a long enough clip)."""
    fe = model.front_end
    need = prediction_frames(model)
    if fe.n_frames(clip.samples.shape[-1]) >= need:
        return clip, 0.0
    samples = (need - 1) * fe.hop_length + (0 if fe.center else fe.n_fft)
    padded = np.zeros(samples, dtype=clip.samples.dtype)
    padded[: clip.samples.shape[-1]] = clip.samples
    return replace(clip, samples=padded), (samples - clip.samples.shape[-1]) / fe.sample_rate


@dataclass(frozen=True, eq=False)
class Rendering:
    """One feature map made audible.

    ``audio`` ``[shape=(n_samples,)]`` float32 at ``sample_rate``, raw level (no normalisation);
    ``spectrogram_db`` ``[shape=(n_freq, n_frames)]`` magnitude of the played spectrum in dB;
    ``deconv`` ``[shape=(n_bins, n_frames)]`` the method's result (deconvnet by default) in the input domain;
    ``activation`` ``[shape=(h, w)]`` the map's own activation at its layer.
    """

    ref: FeatureRef
    mode: Mode
    audio: np.ndarray
    sample_rate: int
    spectrogram_db: np.ndarray
    deconv: np.ndarray
    activation: np.ndarray
    loudness_lufs: float
    reference_lufs: float
    seconds: float
    method: Method = Method.DECONVNET

    @property
    def gain_to_match_db(self) -> float:
        """Gain that would bring this rendering to the original's loudness."""
        return matching_gain_db(self.loudness_lufs, self.reference_lufs)

    @property
    def rms_db(self) -> float:
        rms = float(np.sqrt(np.mean(np.square(self.audio, dtype=np.float64)))) if self.audio.size else 0.0
        return 20.0 * np.log10(max(rms, 1e-12))


@dataclass(frozen=True, eq=False)
class WindowRendering:
    """One feature map made audible over samples ``[first_sample, first_sample + len(audio))`` of the clip only,
    equal there (to float rounding) to the whole clip's :class:`Rendering`.

    ``audio`` ``[shape=(n,)]`` float32 at ``sample_rate``; ``deconv`` ``[shape=(n_bins, m)]`` and
    ``spectrogram_db`` ``[shape=(n_freq, m)]`` over STFT frames ``[first_frame, first_frame + m)`` (the frames
    that overlap the samples, plus one each side); ``context_frames`` the crop's frames the forward pass ran on.
    """

    ref: FeatureRef
    mode: Mode
    method: Method
    first_sample: int
    audio: np.ndarray
    sample_rate: int
    first_frame: int
    deconv: np.ndarray
    spectrogram_db: np.ndarray
    context_frames: int
    seconds: float

    @property
    def last_sample(self) -> int:
        return self.first_sample + self.audio.shape[0]


class Analysis:
    """A clip seen through a model (our :class:`Model` or any :class:`~app.core.sources.Network`, e.g. a traced
    module). Thread-safe; meant for one worker thread."""

    def __init__(
        self,
        clip: Clip,
        model: Model | Network,
        *,
        device: torch.device | str | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        fe = model.front_end
        if clip.sample_rate != fe.sample_rate:
            raise ValueError(f"clip is at {clip.sample_rate} Hz, the model wants {fe.sample_rate} Hz")
        need = model.min_input_frames()
        if fe.n_frames(clip.samples.shape[-1]) < need:
            raise ClipTooShortError(clip.path, clip.duration, (need - 1) * fe.hop_length / fe.sample_rate)
        self.clip = clip
        self.model = model
        self.device = torch.device(device) if device is not None else default_device()
        if model.device != self.device:
            model.to(self.device)
        self._lock = threading.RLock()
        self._record: Record | None = None
        # the autograd twin of a Model and its record (for the methods other than the deconvnet)
        self._twin: tuple[TracedNetwork, GraphRecord | None] | None = None
        # deconvnet results are keyed by their FeatureRef alone, other methods' by (FeatureRef, Method)
        self._deconv_cache: OrderedDict[CacheKey, torch.Tensor] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        need_mb = analysis_bytes(model, clip.samples.shape[-1]) / 2**20
        reason = limits.MAX_ANALYSIS_MB.problem(round(need_mb), "the whole-clip analysis")
        if reason is not None:  # before the STFT and forward pass that would take it
            raise LimitError(
                f"clip '{clip.path}' ({clip.duration / 60:.1f} min) with model '{model.name}': {reason}; predict "
                "and characterise stream long clips in bounded memory"
            )
        self.samples = torch.from_numpy(clip.samples).to(self.device)
        self.spectrum = fe.stft(self.samples)  # complex (n_freq, n_frames), phase kept
        self.input = fe.input_from_stft(self.spectrum)[None, None]  # (1, 1, n_bins, n_frames)
        if not (bool(torch.isfinite(self.input).all()) and bool(torch.isfinite(self.spectrum).all())):
            peak = float(np.abs(clip.samples).max()) if clip.samples.size else 0.0
            raise NonFiniteError(
                f"clip '{clip.path}': its spectrogram overflows float32 (samples peak at {peak:.3g}; audio lies "
                "within +-1)"
            )
        self._reference_lufs: float | None = None
        self._graphs: dict[int, TimeGraph | None] = {}
        # forward passes over crops, newest last: (network, start, end, layers run, record)
        self._windows: list[tuple[Model | Network, int, int, int, Record]] = []
        self._chunk_frames = CHUNK_FRAMES

    # --- cached passes ------------------------------------------------------------------------
    @property
    def record(self) -> Record:
        with self._lock:
            if self._record is None:
                record = self.model.forward_record(self.input)
                for layer in self.model.layers:
                    if not bool(torch.isfinite(self.model.layer_output(record, layer.number)).all()):
                        raise NonFiniteError(self._overflow(f"layer {layer.number}'s activations"))
                self._record = record
            return self._record

    def _overflow(self, what: str) -> str:
        return (
            f"{what} overflowed to NaN or infinity on clip '{self.clip.path}' with model "
            f"'{self.model.path or self.model.name}': its "
            "weights or the clip's samples are too large for float32"
        )

    def _route(self, method: Method) -> tuple[Model | Network, Record]:
        """The network and recorded pass that compute ``method``: our files' explicit route does the deconvnet
        only, so the other methods run by autograd on a traced twin with the same weights."""
        if method is Method.DECONVNET or not isinstance(self.model, Model):
            return self.model, self.record
        with self._lock:
            twin = self._network(method)
            if self._twin is None or self._twin[1] is None:
                self._twin = (twin, twin.forward_record(self.input))
            return self._twin

    def _network(self, method: Method) -> Model | Network:
        """The network that computes ``method`` (the traced twin of a Model for the autograd methods)."""
        if method is Method.DECONVNET or not isinstance(self.model, Model):
            return self.model
        with self._lock:
            if self._twin is None:
                from app.core.traced import TracedNetwork

                self._twin = (TracedNetwork.from_model(self.model), None)
            return self._twin[0]

    @property
    def reference_lufs(self) -> float:
        if self._reference_lufs is None:
            self._reference_lufs = loudness_lufs(self.clip.samples, self.clip.sample_rate)
        return self._reference_lufs

    def original_spectrogram_db(self) -> np.ndarray:
        """``[shape=(n_freq, n_frames)]`` |X| in dB."""
        return to_db(self.spectrum.abs())

    @property
    def chunked(self) -> bool:
        """Whether whole-clip results come in exact chunks (a long clip whose every layer is local in time)
        instead of from one forward pass over the whole clip."""
        if self.n_frames <= self._chunk_frames:
            return False
        return all(self.windowable(layer.number) for layer in self.model.layers)

    def _chunks(self, layer: int) -> list[Interval]:
        """Input-frame chunks that tile the clip, each starting on layer ``layer``'s pooling grid."""
        graph = self.time_graph(layer)
        align = graph.alignment if graph is not None else 1
        size = max(align, self._chunk_frames // align * align)
        return [(a, min(a + size, self.n_frames)) for a in range(0, self.n_frames, size)]

    def _layer_output_chunks(self, layer: int) -> Iterator[torch.Tensor]:
        """Layer ``layer``'s output ``(1, C, h, w_chunk)`` chunk by chunk along time, exactly as the whole-clip
        pass gives it (each chunk's positions are ones whose footprint lies in its input frames)."""
        graph = self.time_graph(layer)
        assert graph is not None
        stride = graph.strides()[graph.output]
        width = graph.lengths(self.n_frames)[graph.output]
        for a, b in self._chunks(layer):
            _, record, (start, _) = self._crop_record(Method.DECONVNET, layer, (a, b))
            out = self.model.layer_output(record, layer)
            lo, hi = a // stride, (width if b == self.n_frames else b // stride)
            yield out[..., lo - start // stride : hi - start // stride]

    def activation(self, ref: FeatureRef) -> torch.Tensor:
        """Map ``ref``'s activation at its layer ``[shape=(h, w)]``."""
        if self.chunked:
            return torch.cat([out[0, ref.index] for out in self._layer_output_chunks(ref.layer)], dim=-1)
        return self.model.layer_output(self.record, ref.layer)[0, ref.index]

    def layer_activation_energy(self, layer: int) -> np.ndarray:
        """Mean squared activation per map of a layer ``[shape=(n_maps,)]``: cheap, from the forward pass."""
        if self.chunked:
            total, count = None, 0
            for out in self._layer_output_chunks(layer):
                part = out[0].double().square().sum(dim=(-2, -1))
                total = part if total is None else total + part
                count += out.shape[-2] * out.shape[-1]
            return (total / count).float().cpu().numpy()
        out = self.model.layer_output(self.record, layer)[0]
        return out.square().mean(dim=(-2, -1)).cpu().numpy()

    def deconv(self, layer: int, features: Sequence[int], *, method: Method | str = Method.DECONVNET) -> torch.Tensor:
        """Results of ``method`` (deconvnet by default) ``[shape=(K, n_bins, n_frames)]``; uncached maps are
        computed in one batch."""
        method = Method(method)
        with self._lock:
            found: dict[int, torch.Tensor] = {}
            for k in dict.fromkeys(features):
                key = _cache_key(FeatureRef(layer, k), method)
                if key in self._deconv_cache:
                    self._deconv_cache.move_to_end(key)
                    found[k] = self._deconv_cache[key]
            missing = [k for k in dict.fromkeys(features) if k not in found]
            if missing and self.chunked:  # exact chunks, never the whole clip's forward pass
                parts = [self.deconv_frames(layer, missing, chunk, method=method) for chunk in self._chunks(layer)]
                whole = torch.cat(parts, dim=-1)
                for k, dk in zip(missing, whole, strict=True):
                    found[k] = dk.clone()
                    self._remember(_cache_key(FeatureRef(layer, k), method), found[k])
                missing = []
            if missing:
                network, record = self._route(method)
                for part, d in network.iter_attribute(record, layer, missing, method=method):
                    for k, dk in zip(part, d, strict=True):
                        found[k] = dk.detach()
                        self._remember(_cache_key(FeatureRef(layer, k), method), found[k])
            return torch.stack([found[k] for k in features])

    def _remember(self, ref: CacheKey, d: torch.Tensor) -> None:
        self._deconv_cache[ref] = d
        self._cached_bytes += d.numel() * d.element_size()
        while self._cached_bytes > self._cache_bytes and len(self._deconv_cache) > 1:
            _, old = self._deconv_cache.popitem(last=False)
            self._cached_bytes -= old.numel() * old.element_size()

    # --- windows: exact results over part of the clip, at a cost independent of its length ------------
    @property
    def n_frames(self) -> int:
        return int(self.input.shape[-1])

    def time_graph(self, layer: int) -> TimeGraph | None:
        """Layer ``layer`` along time, or None when the network cannot say (it then renders whole clips)."""
        with self._lock:
            if layer not in self._graphs:
                self.model.layer(layer)
                graph = getattr(self.model, "time_graph", None)
                self._graphs[layer] = graph(layer) if graph is not None else None
            return self._graphs[layer]

    def windowable(self, layer: int) -> bool:
        """Whether ``layer`` can be rendered exactly on a window without the whole clip's forward pass."""
        return self.time_graph(layer) is not None

    def loudest_window(self, seconds: float) -> Interval:
        """Samples ``[first, last)`` of the ``seconds`` of the clip with the most energy (the whole clip when it
        is not longer), starting on a hop boundary."""
        n = int(self.samples.shape[-1])
        width = round(seconds * self.clip.sample_rate)
        if n <= width:
            return (0, n)
        hop = self.model.front_end.hop_length
        power = np.concatenate([[0.0], np.cumsum(np.square(self.clip.samples, dtype=np.float64))])
        starts = np.arange(0, n - width + 1, hop)
        best = int(starts[np.argmax(power[starts + width] - power[starts])])
        return (best, best + width)

    def frames_for_samples(self, first: int, last: int) -> Interval:
        """The STFT frames an exact resynthesis of samples ``[first, last)`` reads."""
        fe = self.model.front_end
        return frames_for_samples(
            first, last, n_fft=fe.n_fft, hop=fe.hop_length, center=fe.center, n_frames=self.n_frames
        )

    def _crop_record(self, method: Method, layer: int, frames: Interval) -> tuple[Model | Network, Record, Interval]:
        """The network for ``method``, its forward pass over a crop exact for ``layer`` on ``frames``, and the
        crop ``[start, end)``; crops already run are reused when they are exact for this request too."""
        network = self._network(method)
        graph = self.time_graph(layer)
        with self._lock:
            if graph is None:  # not local as far as we can tell: the whole clip
                return network, self._route(method)[1], (0, self.n_frames)
            for i, (net, start, end, depth, record) in enumerate(self._windows):
                if net is network and depth >= layer and crop_is_exact(graph, self.n_frames, frames, start, end):
                    self._windows.append(self._windows.pop(i))
                    return network, record, (start, end)
            plan = plan_window(graph, self.n_frames, frames)
            record = network.forward_record(self.input[..., plan.start : plan.end], layer)
            self._windows.append((network, plan.start, plan.end, layer, record))
            del self._windows[:-WINDOW_RECORDS]
            return network, record, (plan.start, plan.end)

    def deconv_frames(
        self, layer: int, features: Sequence[int], frames: Interval, *, method: Method | str = Method.DECONVNET
    ) -> torch.Tensor:
        """``method``'s result on input frames ``[frames[0], frames[1])`` only ``[shape=(K, n_bins, m)]``,
        equal to the same frames of :meth:`deconv` (computed on a crop with its context, not the whole clip)."""
        d, _ = self._deconv_frames(layer, features, frames, Method(method))
        return d

    def _deconv_frames(
        self, layer: int, features: Sequence[int], frames: Interval, method: Method
    ) -> tuple[torch.Tensor, Interval]:
        network, record, (start, end) = self._crop_record(method, layer, frames)
        parts: dict[int, torch.Tensor | None] = dict.fromkeys(features)
        with self._lock:
            for part, d in network.iter_attribute(record, layer, list(parts), method=method):
                for k, dk in zip(part, d, strict=True):
                    parts[k] = dk[..., frames[0] - start : frames[1] - start].detach()
        return torch.stack([parts[k] for k in features]), (start, end)

    def render_window(
        self,
        layer: int,
        features: Sequence[int],
        first_sample: int,
        last_sample: int,
        modes: Sequence[Mode] = (Mode.CHOI,),
        *,
        method: Method | str = Method.DECONVNET,
    ) -> Iterator[WindowRendering]:
        """Maps of one layer made audible over samples ``[first_sample, last_sample)`` only, one rendering per
        (feature, mode); inside the window they equal :meth:`render_many`'s audio to float rounding."""
        fe = self.model.front_end
        method = Method(method)
        n = int(self.samples.shape[-1])
        first, last = max(0, int(first_sample)), min(n, int(last_sample))
        if last <= first:
            raise ValueError(f"empty window [{first_sample}, {last_sample}) in a clip of {n} samples")
        start = time.perf_counter()
        frames = self.frames_for_samples(first, last)
        with torch.no_grad():
            d, crop = self._deconv_frames(layer, features, frames, method)
            mask = fe.mask_to_linear(d)
            spectrum = self.spectrum[:, frames[0] : frames[1]]
            offset = first - frames[0] * fe.hop_length  # sample 0 of the frames' own inverse: the first's centre
            per_map = (time.perf_counter() - start) / max(1, len(features))
            for i, k in enumerate(features):
                deconv = d[i].cpu().numpy()
                for mode in modes:
                    t0 = time.perf_counter()
                    masked = masked_spectrum(spectrum, mask[i], Mode(mode))
                    audio = fe.istft(masked, offset + last - first)[offset:].cpu().numpy().astype(np.float32)
                    yield WindowRendering(
                        ref=FeatureRef(layer, k),
                        mode=Mode(mode),
                        method=method,
                        first_sample=first,
                        audio=audio,
                        sample_rate=fe.sample_rate,
                        first_frame=frames[0],
                        deconv=deconv,
                        spectrogram_db=to_db(masked.abs()),
                        context_frames=crop[1] - crop[0],
                        seconds=per_map + time.perf_counter() - t0,
                    )

    # --- renderings ---------------------------------------------------------------------------
    def render(self, ref: FeatureRef, mode: Mode = Mode.CHOI, *, method: Method | str = Method.DECONVNET) -> Rendering:
        """Make one feature map audible (the deconv is computed only if not cached)."""
        return next(self.render_many(ref.layer, [ref.index], [mode], method=method))

    def render_many(
        self,
        layer: int,
        features: Sequence[int],
        modes: Sequence[Mode] = (Mode.CHOI,),
        *,
        method: Method | str = Method.DECONVNET,
    ) -> Iterator[Rendering]:
        """Renderings of several maps of one layer, deconvolved as a batch, one per (feature, mode).

        ``method``: deconvnet (default), guided-backprop or gradient (:class:`~app.core.methods.Method`).
        """
        fe = self.model.front_end
        method = Method(method)
        start = time.perf_counter()
        n = self.samples.shape[-1]
        with torch.no_grad():
            d = self.deconv(layer, features, method=method)
            mask = fe.mask_to_linear(d)
            per_map = (time.perf_counter() - start) / max(1, len(features))
            for i, k in enumerate(features):
                ref = FeatureRef(layer, k)
                deconv, activation = d[i].cpu().numpy(), self.activation(ref).cpu().numpy()  # shared by modes
                for mode in modes:
                    t0 = time.perf_counter()
                    spectrum = masked_spectrum(self.spectrum, mask[i], Mode(mode))
                    audio = fe.istft(spectrum, n).cpu().numpy()  # resynthesise(), without masking twice
                    audio = audio.astype(np.float32, copy=False)
                    if not np.isfinite(audio).all():
                        raise NonFiniteError(self._overflow(f"the {Mode(mode).value} rendering of {ref}"))
                    yield Rendering(
                        ref=ref,
                        mode=Mode(mode),
                        audio=audio,
                        sample_rate=fe.sample_rate,
                        spectrogram_db=to_db(spectrum.abs()),
                        deconv=deconv,
                        activation=activation,
                        loudness_lufs=loudness_lufs(audio, fe.sample_rate),
                        reference_lufs=self.reference_lufs,
                        seconds=per_map + time.perf_counter() - t0,
                        method=method,
                    )

    # --- the model's own opinion ------------------------------------------------------------------
    def predict(self, top: int | None = None) -> list[tuple[str, float]]:
        """The model's output for the clip as ``(label, score)`` pairs, best first.

        A fixed-length head is applied on consecutive windows (the last one aligned to the end) and averaged;
        a clip shorter than one window is padded with silence (in the audio, so that the network hears what its
        front end makes of silence).
        """
        if not self.model.has_head:
            return []
        return rank_scores(self.model, self.window_scores().mean(axis=0), top)

    def window_scores(self) -> np.ndarray:
        """The activated output of every head window ``[shape=(n_windows, n_outputs)]`` (one row for a head that
        takes any length); a long clip streamed in parts averages these rows over all its parts."""
        network = self.model
        x = self.input
        frames = x.shape[-1]
        win = network.head_input_frames
        if win and frames < win:
            fe = network.front_end
            samples = (win - 1) * fe.hop_length + (0 if fe.center else fe.n_fft)
            padded = torch.nn.functional.pad(self.samples, (0, samples - self.samples.shape[-1]))
            x = fe.input_from_stft(fe.stft(padded))[None, None][..., :win]
            frames = win
        if win:
            starts = list(range(0, frames - win + 1, win))
            if starts[-1] + win < frames:
                starts.append(frames - win)
            batches = [
                torch.cat([x[..., s : s + win] for s in starts[i : i + PREDICT_BATCH]], dim=0)
                for i in range(0, len(starts), PREDICT_BATCH)
            ]
            scores = torch.cat([self.model.activate(self.model.logits(b)) for b in batches]).cpu().numpy()
        else:
            scores = self.model.activate(self.model.logits(x)).cpu().numpy()
        if not np.isfinite(scores).all():
            raise NonFiniteError(self._overflow("the model's scores"))
        return scores


def analysis_bytes(model: Model | Network, n_samples: int) -> int:
    """About how many bytes a whole-clip analysis of ``n_samples`` takes before any map is rendered: the complex
    STFT, the input, and every layer's output three times over (the output, the max-pool switches, a temporary),
    scaled from the layers' shapes on a short probe (no allocation at the clip's size)."""
    import math

    from app.core.sources import layer_table, table_frames

    fe = model.front_end
    probe_frames = max(fe.n_frames(int(4.0 * fe.sample_rate)), model.min_input_frames())
    seconds = (probe_frames - 1) * fe.hop_length / fe.sample_rate
    rows = layer_table(model, seconds=seconds)  # shapes at table_frames: the head's window when that is longer
    per_frame = sum(math.prod(row["output_shape"]) for row in rows) / max(1, table_frames(model, seconds))
    return int(fe.n_frames(n_samples) * (fe.n_freq * 8 + fe.n_bins * 4 + 3 * 4 * per_frame))


def rank_scores(model: Model | Network, scores: np.ndarray, top: int | None = None) -> list[tuple[str, float]]:
    """``(label, score)`` pairs for a score vector ``[shape=(n_outputs,)]``, best first, the best ``top`` only."""
    labels = model.labels or tuple(f"output {i}" for i in range(len(scores)))
    ranked = sorted(zip(labels, np.asarray(scores).tolist(), strict=True), key=lambda p: -p[1])
    return ranked[:top] if top else ranked


def _cache_key(ref: FeatureRef, method: Method) -> CacheKey:
    return ref if method is Method.DECONVNET else (ref, method)
