"""Scoring a model file the way the app runs it: ``FrontEnd.stft`` -> ``input_from_stft`` -> ``Model.logits``.

Shared by the training script (held-out figures written into the file), the tests (the same figures on fresh
clips) and the listening report.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata

from app.core.model import Model


@torch.no_grad()
def model_scores(model: Model, audio: np.ndarray, *, batch_size: int = 16) -> np.ndarray:
    """Activated outputs (softmax or sigmoid) for clips ``[shape=(n, n_samples)]`` -> ``(n, n_outputs)``.

    Each clip is cut to the head's window (its first ``head_input_frames`` frames), as in training.
    """
    fe = model.front_end
    out = []
    for start in range(0, len(audio), batch_size):
        y = torch.from_numpy(np.ascontiguousarray(audio[start : start + batch_size], dtype=np.float32))
        x = fe.input_from_stft(fe.stft(y))[:, None]
        if model.spec.head_input_frames:
            x = x[..., : model.spec.head_input_frames]
        out.append(model.activate(model.logits(x)))
    return torch.cat(out).numpy()


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose best score is the true class."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def confusion(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``[shape=(n_classes, n_classes)]`` counts, rows true class, columns predicted."""
    table = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(table, (labels, np.argmax(scores, axis=1)), 1)
    return table


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve of one binary label (Mann-Whitney U; ties count one half); NaN if one class."""
    truth = np.asarray(truth, dtype=bool)
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def per_tag_auc(scores: np.ndarray, multi_hot: np.ndarray) -> np.ndarray:
    """ROC-AUC per column ``[shape=(n_tags,)]`` (NaN where a tag is always or never present)."""
    return np.array([roc_auc(scores[:, j], multi_hot[:, j]) for j in range(multi_hot.shape[1])])


def macro_roc_auc(scores: np.ndarray, multi_hot: np.ndarray) -> float:
    """Mean ROC-AUC over the tags that occur and are absent at least once."""
    aucs = per_tag_auc(scores, multi_hot)
    return float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")


def binomial_margin(p: float, n: int, z: float = 3.0) -> float:
    """``z`` standard deviations of an accuracy measured on ``n`` independent clips at true rate ``p``."""
    return z * math.sqrt(max(p * (1 - p), 1e-6) / n)


def auc_margin(auc: float, n_pos: int, n_neg: int, z: float = 3.0) -> float:
    """``z`` standard errors of an ROC-AUC (Hanley & McNeil 1982) with ``n_pos`` positives, ``n_neg`` negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return z * math.sqrt(max(var, 1e-8))
