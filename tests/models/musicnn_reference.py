"""musicnn's ``MTT_vgg`` computed the way its published graph computes it, in numpy, from the checkpoint arrays.

A test reference that shares nothing with Aurascope's torch code: TensorFlow's conventions throughout (NHWC with
H = time and W = mel band, ``padding='same'`` as TF pads, batch-norm after each ReLU with epsilon 1e-3, TF's
'valid' max-pooling, flatten in NHWC order, dense, sigmoid), following ``vgg()`` in musicnn 0.1.0's
``models.py``, and its front end as ``extractor.batch_data`` computes it (librosa melspectrogram, then
``log10(1 + 10000·x)``, non-overlapping 187-frame patches). Float64 throughout.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

N_FRAMES = 187
BN_EPS = 1e-3
POOLS = [((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))]  # (time, freq)


def log_mel(y: np.ndarray, *, float16: bool = False) -> np.ndarray:
    """musicnn's input ``[shape=(n_frames, 96)]`` of 16 kHz audio: librosa melspectrogram (librosa 0.7 padded
    centred frames by reflection) then ``log10(1 + 10000·x)``; ``float16`` repeats extractor.py's cast."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=16000, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect"
    ).T
    if float16:
        mel = mel.astype(np.float16).astype(np.float64)
    return np.log10(10000 * mel + 1)


def patches(rep: np.ndarray, n_frames: int = N_FRAMES) -> np.ndarray:
    """extractor.batch_data's batch: consecutive ``n_frames`` patches, the incomplete tail dropped."""
    starts = range(0, rep.shape[0] - n_frames + 1, n_frames)
    return np.stack([rep[s : s + n_frames] for s in starts])


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'same': output ceil(size / stride), the extra padding going to the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``tf.layers.conv2d(padding='same')``, stride 1: x ``(B, H, W, C)``, kernel ``(kh, kw, C, O)``."""
    kh, kw = kernel.shape[:2]
    ph, pw = _same_padding(x.shape[1], kh, 1), _same_padding(x.shape[2], kw, 1)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (B, H, W, C, kh, kw)
    return np.einsum("bhwcij,ijco->bhwo", windows, kernel, optimize=True) + bias


def max_pool_valid(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """``tf.layers.max_pooling2d`` (padding 'valid'): x ``(B, H, W, C)``."""
    windows = sliding_window_view(x, size, axis=(1, 2))  # (B, H-kh+1, W-kw+1, C, kh, kw)
    return windows[:, :: stride[0], :: stride[1]].max(axis=(-2, -1))


def batch_norm(x: np.ndarray, arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Inference batch-norm over the last axis."""
    gamma, beta = arrays[f"{name}/gamma"], arrays[f"{name}/beta"]
    mean, var = arrays[f"{name}/moving_mean"], arrays[f"{name}/moving_variance"]
    return (x - mean) / np.sqrt(var.astype(np.float64) + BN_EPS) * gamma + beta


def vgg_logits(arrays: dict[str, np.ndarray], batch: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """``vgg(x, is_training=False, 50, 128)`` on ``batch`` ``(B, 187, 96)``: logits ``(B, 50)`` and pool1..pool5
    (each ``(B, time, freq, 128)``)."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    h = batch_norm(batch[..., None].astype(np.float64), a, "batch_normalization")
    pools = []
    for layer, (size, stride) in enumerate(POOLS, 1):
        h = np.maximum(conv2d_same(h, a[f"{layer}CNN/kernel"], a[f"{layer}CNN/bias"]), 0.0)
        h = batch_norm(h, a, f"batch_normalization_{layer}")
        h = max_pool_valid(h, size, stride)
        pools.append(h)
    flat = h.reshape(h.shape[0], -1)  # NHWC order
    return flat @ a["dense/kernel"] + a["dense/bias"], pools


def taggram(arrays: dict[str, np.ndarray], batch: np.ndarray) -> np.ndarray:
    """Sigmoid of the logits, ``(B, 50)``: the taggram ``extractor`` returns."""
    logits, _ = vgg_logits(arrays, batch)
    return 1.0 / (1.0 + np.exp(-logits))
