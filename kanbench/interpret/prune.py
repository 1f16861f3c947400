"""Pruning a KAN (KAN paper §2.5.1): hidden nodes by their L1, edges by masks.

A hidden node n (an output of layer li - 1 and an input of layer li) is kept when its
largest incoming and its largest outgoing edge L1 both exceed theta (default 1e-2):

    max_i |phi^{li-1}_{n i}|_1 > theta   and   max_j |phi^{li}_{j n}|_1 > theta

prune_nodes returns a new, smaller KAN whose surviving edges keep their functions (spline,
mask, symbolic fix) exactly. The inputs and outputs of the network are never removed.
A removed node whose outgoing edges are exactly zero changes nothing; one whose incoming
edges are zero still fed its outgoing edges the constant phi(bias) (phi(0) without a
bias), which pruning drops, as pykan does. prune_edges masks every edge whose L1 is at
most theta instead, keeping the shape.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor

from kanbench.interpret.regularize import edge_l1, layer_inputs
from kanbench.models import KAN

DEFAULT_THRESHOLD = 1e-2


def _check(model: KAN, x: Tensor, threshold: float) -> None:
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanbench KAN, got {type(model).__name__}")
    ok = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not ok or not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if x.dim() != 2 or x.shape[1] != model.widths[0] or x.shape[0] < 1:
        raise ValueError(
            f"x must have shape (batch >= 1, {model.widths[0]}) for this KAN, got {tuple(x.shape)}"
        )


@torch.no_grad()
def edge_norms(model: KAN, x: Tensor) -> list[Tensor]:
    """|phi_ji|_1 (out, in) of every layer, on the inputs that x (batch, n_0) gives each."""
    return [
        edge_l1(layer, h) for layer, h in zip(model.layers, layer_inputs(model, x), strict=True)
    ]


def kept_nodes(model: KAN, x: Tensor, threshold: float = DEFAULT_THRESHOLD) -> list[list[int]]:
    """The node indices of every layer of widths that the node criterion keeps."""
    _check(model, x, threshold)
    norms = edge_norms(model, x)
    kept = [list(range(model.widths[0]))]
    for li in range(1, len(model.widths) - 1):
        incoming = norms[li - 1].amax(dim=1)  # (n_l,): over the inputs of layer li - 1
        outgoing = norms[li].amax(dim=0)  # (n_l,): over the outputs of layer li
        nodes = torch.nonzero((incoming > threshold) & (outgoing > threshold)).flatten()
        if nodes.numel() == 0:
            raise ValueError(
                f"pruning at threshold {threshold} would remove every node of hidden layer {li} "
                f"(largest incoming L1 {incoming.max().item():.3g}, outgoing "
                f"{outgoing.max().item():.3g}); lower the threshold"
            )
        kept.append(nodes.tolist())
    kept.append(list(range(model.widths[-1])))
    return kept


def prune_nodes(model: KAN, x: Tensor, threshold: float = DEFAULT_THRESHOLD) -> KAN:
    """A new KAN without the hidden nodes the criterion drops; model is left unchanged."""
    kept = kept_nodes(model, x, threshold)
    pruned = copy.deepcopy(model)
    for li, layer in enumerate(pruned.layers):
        layer.select(kept[li], kept[li + 1])
    pruned.widths = [len(nodes) for nodes in kept]
    return pruned


def prune_edges(model: KAN, x: Tensor, threshold: float = DEFAULT_THRESHOLD) -> int:
    """Mask (in place) every edge with |phi|_1 <= threshold; returns how many it removed."""
    _check(model, x, threshold)
    norms = edge_norms(model, x)
    removed = 0
    for layer, l1 in zip(model.layers, norms, strict=True):
        drop = (l1 <= threshold) & (layer.mask > 0)
        if drop.any():
            layer.set_mask(layer.mask * (~drop).to(layer.mask.dtype))
            removed += int(drop.sum())
    return removed


def active_edges(model: KAN) -> tuple[int, int]:
    """(spline edges, symbolic edges) that the masks keep."""
    spline = symbolic = 0
    for layer in model.layers:
        symbolic += int((layer.mask * layer.symbolic_mask).sum())
        spline += int((layer.mask * (1 - layer.symbolic_mask)).sum())
    return spline, symbolic


def effective_params(model: KAN) -> int:
    """Trainable numbers the kept edges use: (G + k + 2) per spline edge (c, w_b, w_s), 4 per
    symbolic edge (a, b, c, d), plus biases."""
    spline, symbolic = active_edges(model)
    biases = sum(layer.bias.numel() for layer in model.layers if layer.bias is not None)
    return spline * (model.grid_size + model.spline_order + 2) + 4 * symbolic + biases
