"""Parameter counts of the model families and the MLP width matched to a target count.

Two conventions (the KAN paper counts a KAN as edges x G), always named where a count is
reported:
- "trainable": the numbers an optimiser updates. A KAN layer in the efficient form has
  in * out * (G + k + 2) of them (G + k coefficients, w_b and w_s per edge), plus out
  biases when enabled; an MLP has its weights and biases.
- "paper": the KAN paper's N = (number of edges) * G; for an MLP it equals "trainable".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from torch import nn

CONVENTIONS = ("trainable", "paper")


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def count_trainable(model: nn.Module) -> int:
    """Number of trainable scalars in a module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def kan_size(
    widths: Sequence[int],
    grid_size: int,
    spline_order: int = 3,
    convention: str = "trainable",
    bias: bool = False,
) -> int:
    """Parameter count of a KAN of shape widths at grid G and order k."""
    _check_convention(convention)
    edges = sum(a * b for a, b in pairwise(widths))
    if convention == "paper":
        return edges * grid_size
    biases = sum(widths[1:]) if bias else 0
    return edges * (grid_size + spline_order + 2) + biases


def mlp_size(d_in: int, depth: int, width: int, d_out: int = 1) -> int:
    """Weights + biases of an MLP with `depth` linear layers of hidden width `width`."""
    sizes = [d_in] + [width] * (depth - 1) + [d_out]
    return sum(a * b + b for a, b in pairwise(sizes))


@dataclass(frozen=True)
class MatchedWidth:
    """The MLP width whose parameter count is nearest a target."""

    width: int
    size: int
    target: int

    @property
    def relative_error(self) -> float:
        """(size - target) / target."""
        return (self.size - self.target) / self.target


def match_mlp_width(target: int, d_in: int, depth: int, d_out: int = 1) -> MatchedWidth:
    """The width W >= 1 that brings mlp_size(d_in, depth, W, d_out) nearest target.

    The count is a quadratic in W, a W^2 + b W + c with a = depth - 2, b = d_in + d_out +
    depth - 1, c = d_out; its real root gives W to within one, then the neighbours decide.
    Ties go to the smaller width.
    """
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise ValueError(f"target parameter count must be a positive integer, got {target!r}")
    if depth < 2:
        raise ValueError(
            f"matching a width needs depth >= 2 (depth 1 has no hidden layer), got {depth}"
        )
    a, b, c = depth - 2, d_in + d_out + depth - 1, d_out - target
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(root) + delta) for delta in (-1, 0, 1, 2)}
    best = min(candidates, key=lambda w: (abs(mlp_size(d_in, depth, w, d_out) - target), w))
    return MatchedWidth(best, mlp_size(d_in, depth, best, d_out), target)


def _edges_and_biases(widths: Sequence[int], bias: bool) -> tuple[int, int]:
    return sum(a * b for a, b in pairwise(widths)), sum(widths[1:]) if bias else 0


def rbf_kan_size(
    widths: Sequence[int], n_centres: int, layernorm: bool = False, bias: bool = False
) -> int:
    """Trainable numbers of an RBF KAN: per edge G coefficients and w_b; per layer
    LayerNorm's 2 in (when enabled) and out biases (when enabled)."""
    edges, biases = _edges_and_biases(widths, bias)
    norms = 2 * sum(widths[:-1]) if layernorm else 0
    return edges * (n_centres + 1) + norms + biases


def cheby_kan_size(widths: Sequence[int], degree: int, bias: bool = False) -> int:
    """Trainable numbers of a Chebyshev KAN: D + 1 coefficients per edge, plus biases."""
    edges, biases = _edges_and_biases(widths, bias)
    return edges * (degree + 1) + biases


def grouped_kan_size(
    widths: Sequence[int],
    grid_size: int,
    spline_order: int = 3,
    groups: int | None = None,
    rank: int = 1,
    bias: bool = False,
) -> int:
    """Trainable numbers of a grouped KAN: per layer, groups R (G + k) spline coefficients
    (groups capped at the layer's inputs; None: one per input), and per edge R mixing
    weights and w_b; plus biases."""
    edges, biases = _edges_and_biases(widths, bias)
    splines = sum(
        (n_in if groups is None else min(groups, n_in)) * rank * (grid_size + spline_order)
        for n_in in widths[:-1]
    )
    return splines + edges * (rank + 1) + biases
