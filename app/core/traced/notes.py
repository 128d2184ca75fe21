"""Fidelity notes: where a method is not the textbook one on a traced graph, said in the user's words.

One table holds every note's wording (:data:`TEMPLATES`); :func:`note` fills it in for one operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class NoteKind(StrEnum):
    """What the deconvnet does not define at an operation (a ``str``, so it compares with plain strings)."""

    RESIDUAL = "residual"
    PRODUCT = "product"
    ACTIVATION = "activation"
    BATCHNORM = "batchnorm"
    NORMALISATION = "normalisation"
    UNKNOWN = "unknown"
    HEAD = "head"
    INPUT_GAIN = "input_gain"


# kinds that change no map: said so the user knows, but no reason for ``strict=True`` to refuse a network
HARMLESS_NOTES = frozenset({NoteKind.HEAD, NoteKind.INPUT_GAIN})


# {label}: the operation as the model names it; {what}: what it is ("a GELU", "matmul()"); {before}: the
# operation a batch-norm follows; {gain}: an input batch-norm's gain; {frames} and {reason}: the probe input the
# head failed on, and why.
TEMPLATES: dict[NoteKind, str] = {
    NoteKind.RESIDUAL: (
        "'{label}' adds two paths (a residual or skip sum): on the way down the signal goes into both and the "
        "input-domain results add up, so the result is the sum of a reconstruction through the convs of the "
        "branch and one that skips them, not a single Zeiler-Fergus reconstruction"
    ),
    NoteKind.PRODUCT: (
        "'{label}' is {what} between activations (attention or gating): on the way down the signal is "
        "multiplied there by the other activations' values (their plain gradient), so the result depends on "
        "the input twice and is not a deconvnet reconstruction"
    ),
    NoteKind.ACTIVATION: (
        "'{label}' is {what}, not a ReLU: the deconvnet and guided-backprop rules are defined for ReLUs only, "
        "so here the signal takes {what}'s own gradient (not rectified); the result is a mix of the "
        "method and a plain gradient"
    ),
    NoteKind.BATCHNORM: (
        "batch-norm '{label}' follows '{before}', not a conv, so it cannot be folded into "
        "conv weights: on the way down each map's signal is multiplied there by gamma/sqrt(var+eps) "
        "(a negative gamma flips its sign) before the ReLU rule below it"
    ),
    NoteKind.NORMALISATION: (
        "'{label}' is {what}, which normalises by statistics of the input itself: on the way down it takes its "
        "plain gradient, which mixes maps and positions; the result is only approximately a deconvnet"
    ),
    NoteKind.UNKNOWN: (
        "'{label}' ({what}) is not an operation the deconvnet defines: on the way down it takes its plain "
        "gradient, so results of the layers above it are partly a gradient"
    ),
    NoteKind.INPUT_GAIN: (
        "batch-norm '{label}' on the input spectrogram is a fixed gain (x{gain:.3g}) and offset on the whole input, "
        "as trained; on the way down it multiplies every deconvolved map by the same positive gain, which changes "
        "no map's shape, only its raw level (loudness matching takes it out): harmless to the method"
    ),
    NoteKind.HEAD: (
        "the network's output could not be computed on a {frames}-frame input at "
        "'{label}' ({reason}); give 'head_input_frames' in the sidecar to get predictions"
    ),
}


@dataclass(frozen=True)
class FidelityNote:
    """Where a method is not the textbook one: the operation, what it is, the layers whose results it changes."""

    node: str
    kind: NoteKind
    layers: tuple[int, ...]
    message: str
    graph_node: str = field(default="", repr=False, compare=False)  # the fx node's own (unique) name


def note(kind: NoteKind, label: str, *, graph_node: str = "", **values: object) -> FidelityNote:
    """The note of ``kind`` at the operation ``label``, its wording filled in from ``values``; no layers yet."""
    return FidelityNote(label, kind, (), TEMPLATES[kind].format(label=label, **values), graph_node=graph_node)
