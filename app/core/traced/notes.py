"""Fidelity notes: where a method is not the textbook one on a traced graph, said in the user's words."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FidelityNote:
    """Where a method is not the textbook one: the operation, what it is, the layers whose results it changes."""

    node: str
    kind: str  # residual | product | activation | batchnorm | normalisation | unknown | head
    layers: tuple[int, ...]
    message: str
    graph_node: str = field(default="", repr=False, compare=False)  # the fx node's own (unique) name


def sum_note(label: str) -> FidelityNote:
    return FidelityNote(
        label,
        "residual",
        (),
        f"'{label}' adds two paths (a residual or skip sum): on the way down the signal goes into both and the "
        "input-domain results add up, so the result is the sum of a reconstruction through the convs of the "
        "branch and one that skips them, not a single Zeiler-Fergus reconstruction",
    )


def product_note(label: str, what: str) -> FidelityNote:
    return FidelityNote(
        label,
        "product",
        (),
        f"'{label}' is {what} between activations (attention or gating): on the way down the signal is "
        "multiplied there by the other activations' values (their plain gradient), so the result depends on "
        "the input twice and is not a deconvnet reconstruction",
    )


def norm_note(label: str, what: str) -> FidelityNote:
    return FidelityNote(
        label,
        "normalisation",
        (),
        f"'{label}' is {what}, which normalises by statistics of the input itself: on the way down it takes its "
        "plain gradient, which mixes maps and positions; the result is only approximately a deconvnet",
    )


def unknown_note(label: str, what: str) -> FidelityNote:
    return FidelityNote(
        label,
        "unknown",
        (),
        f"'{label}' ({what}) is not an operation the deconvnet defines: on the way down it takes its plain "
        "gradient, so results of the layers above it are partly a gradient",
    )
