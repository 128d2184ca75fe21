"""``Analysis(clip, model)``: the forward pass cached once, deconvolutions cached per map, renderings on demand."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from app.core.audio import Clip
from app.core.errors import ClipTooShortError
from app.core.methods import Method
from app.core.model import Model
from app.core.resynth import Mode, loudness_lufs, masked_spectrum, matching_gain_db, to_db

if TYPE_CHECKING:
    from app.core.sources import Network

DEFAULT_CACHE_BYTES = 1 << 30


def default_device() -> torch.device:
    """A GPU when one is there, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True, order=True)
class FeatureRef:
    """Feature map ``index`` (from 0) of ``layer`` (from 1)."""

    layer: int
    index: int

    def __str__(self) -> str:
        return f"L{self.layer}F{self.index}"


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
        self._record: Any = None
        self._twin: tuple[Any, Any] | None = None  # autograd twin of a Model and its record (non-deconvnet methods)
        # deconvnet results are keyed by their FeatureRef alone, other methods' by (FeatureRef, Method)
        self._deconv_cache: OrderedDict[Any, torch.Tensor] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self.samples = torch.from_numpy(clip.samples).to(self.device)
        self.spectrum = fe.stft(self.samples)  # complex (n_freq, n_frames), phase kept
        self.input = fe.input_from_stft(self.spectrum)[None, None]  # (1, 1, n_bins, n_frames)
        self._reference_lufs: float | None = None

    # --- cached passes ------------------------------------------------------------------------
    @property
    def record(self) -> Any:
        with self._lock:
            if self._record is None:
                self._record = self.model.forward_record(self.input)
            return self._record

    def _route(self, method: Method) -> tuple[Any, Any]:
        """The network and recorded pass that compute ``method``: our files' explicit route does the deconvnet
        only, so the other methods run by autograd on a traced twin with the same weights."""
        if method is Method.DECONVNET or not isinstance(self.model, Model):
            return self.model, self.record
        with self._lock:
            if self._twin is None:
                from app.core.traced import TracedNetwork

                twin = TracedNetwork.from_model(self.model)
                self._twin = (twin, twin.forward_record(self.input))
            return self._twin

    @property
    def reference_lufs(self) -> float:
        if self._reference_lufs is None:
            self._reference_lufs = loudness_lufs(self.clip.samples, self.clip.sample_rate)
        return self._reference_lufs

    def original_spectrogram_db(self) -> np.ndarray:
        """``[shape=(n_freq, n_frames)]`` |X| in dB."""
        return to_db(self.spectrum.abs())

    def activation(self, ref: FeatureRef) -> torch.Tensor:
        """Map ``ref``'s activation at its layer ``[shape=(h, w)]``."""
        return self.model.layer_output(self.record, ref.layer)[0, ref.index]

    def layer_activation_energy(self, layer: int) -> np.ndarray:
        """Mean squared activation per map of a layer ``[shape=(n_maps,)]``: cheap, from the forward pass."""
        out = self.model.layer_output(self.record, layer)[0]
        return out.square().mean(dim=(-2, -1)).cpu().numpy()

    def deconv(
        self, layer: int, features: Sequence[int], *, method: Method | str = Method.DECONVNET
    ) -> torch.Tensor:
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
            if missing:
                network, record = self._route(method)
                for part, d in network.iter_attribute(record, layer, missing, method=method):
                    for k, dk in zip(part, d, strict=True):
                        found[k] = dk.detach()
                        self._remember(_cache_key(FeatureRef(layer, k), method), found[k])
            return torch.stack([found[k] for k in features])

    def _remember(self, ref: Any, d: torch.Tensor) -> None:
        self._deconv_cache[ref] = d
        self._cached_bytes += d.numel() * d.element_size()
        while self._cached_bytes > self._cache_bytes and len(self._deconv_cache) > 1:
            _, old = self._deconv_cache.popitem(last=False)
            self._cached_bytes -= old.numel() * old.element_size()

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
        a clip shorter than one window is padded with silence.
        """
        network = self.model
        if not network.has_head:
            return []
        x = self.input
        frames = x.shape[-1]
        win = network.head_input_frames
        if win and frames < win:
            x = torch.nn.functional.pad(x, (0, win - frames))
            frames = win
        if win:
            starts = list(range(0, frames - win + 1, win))
            if starts[-1] + win < frames:
                starts.append(frames - win)
            x = torch.cat([x[..., s : s + win] for s in starts], dim=0)
        scores = self.model.activate(self.model.logits(x)).mean(dim=0).cpu().numpy()
        labels = network.labels or tuple(f"output {i}" for i in range(len(scores)))
        ranked = sorted(zip(labels, scores.tolist(), strict=True), key=lambda p: -p[1])
        return ranked[:top] if top else ranked


def _cache_key(ref: FeatureRef, method: Method) -> Any:
    return ref if method is Method.DECONVNET else (ref, method)
