"""Sparsity regularisation of a KAN (KAN paper §2.5.1).

For the activations phi_ji of layer l on samples x_s of its input (batch, in):

    |phi_ji|_1 = (1/batch) sum_s |phi_ji(x_s)|                  edge L1, (out, in)
    |Phi_l|_1  = sum_ji |phi_ji|_1                              layer L1
    S(Phi_l)   = -sum_ji p_ji log p_ji,  p_ji = |phi_ji|_1 / |Phi_l|_1   layer entropy
    penalty    = lambda (mu_1 sum_l |Phi_l|_1 + mu_2 sum_l S(Phi_l))

phi_ji includes everything the forward pass computes on the edge (silu branch, spline,
masks, symbolic fixes). The per-sample values form a (batch, in, out) tensor; it is never
built for the whole batch at once when that would exceed CHUNK_BYTES: the batch goes
through in chunks, each under activation checkpointing, so that autograd keeps only
each chunk's input and the (out, in) sums, and backward recomputes one chunk at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from kanbench.models import KAN, KANLayer

# bytes of per-sample temporaries ((batch, in, out) values, (batch, in, G + k) bases) per chunk
CHUNK_BYTES = 1 << 24


def _chunk_rows(layer: KANLayer, x: Tensor) -> int:
    per_row = layer.in_features * (3 * layer.out_features + layer.coef.shape[-1])
    return max(1, CHUNK_BYTES // (per_row * x.element_size()))


def _abs_sum(layer: KANLayer, x: Tensor) -> Tensor:
    """sum_s |phi_ji(x_s)| over the rows of x: (rows, in) -> (out, in)."""
    return layer.edge_values(x).abs().sum(0).t()


def edge_l1(layer: KANLayer, x: Tensor) -> Tensor:
    """|phi_ji|_1 (out, in) of a layer on samples x (batch, in) of its input, differentiable."""
    if x.dim() != 2 or x.shape[1] != layer.in_features or x.shape[0] < 1:
        raise ValueError(
            f"x must have shape (batch >= 1, {layer.in_features}), got {tuple(x.shape)}"
        )
    rows = _chunk_rows(layer, x)
    if x.shape[0] <= rows:
        return _abs_sum(layer, x) / x.shape[0]
    total = None
    for start in range(0, x.shape[0], rows):
        part = x[start : start + rows]
        if torch.is_grad_enabled():
            part = checkpoint(_abs_sum, layer, part, use_reentrant=False)
        else:
            part = _abs_sum(layer, part)
        total = part if total is None else total + part
    return total / x.shape[0]


def entropy(l1: Tensor) -> Tensor:
    """S = -sum p log p of p = l1 / sum(l1); edges with p = 0 add 0 (and no NaN gradient)."""
    tiny = torch.finfo(l1.dtype).tiny
    p = l1 / l1.sum().clamp_min(tiny)
    return -(p * p.clamp_min(tiny).log()).sum()


def check_weights(lam: float, mu1: float, mu2: float) -> None:
    """ValueError unless lambda, mu_1 and mu_2 are finite numbers >= 0."""
    for name, value in (("lambda", lam), ("mu1", mu1), ("mu2", mu2)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0:
            raise ValueError(
                f"regularisation weight {name} must be a finite number >= 0, got {value!r}"
            )


def regularization(
    model: KAN, inputs: list[Tensor], lam: float, mu1: float = 1.0, mu2: float = 2.0
) -> Tensor:
    """lambda (mu_1 sum_l |Phi_l|_1 + mu_2 sum_l S(Phi_l)) with inputs[l] layer l's input."""
    check_weights(lam, mu1, mu2)
    if len(inputs) != len(model.layers):
        raise ValueError(
            f"inputs must hold one tensor per layer ({len(model.layers)}), got {len(inputs)}"
        )
    total = inputs[0].new_zeros(())
    for layer, x in zip(model.layers, inputs, strict=True):
        l1 = edge_l1(layer, x)
        total = total + mu1 * l1.sum() + mu2 * entropy(l1)
    return lam * total


def layer_inputs(model: KAN, x: Tensor) -> list[Tensor]:
    """The input of every layer when the model runs on x (batch, n_0)."""
    inputs = []
    for layer in model.layers:
        inputs.append(x)
        x = layer(x)
    return inputs


def penalty(model: KAN, lam: float, mu1: float = 1.0, mu2: float = 2.0) -> Callable[[], Tensor]:
    """A callable giving the regularisation on the layer inputs of the model's last forward.

    It sets model.keep_inputs, so it must be called after the model's forward pass in the
    same loss evaluation (as kanbench.train.fit_stage does with its penalty argument);
    it then adds no second forward pass.
    """
    check_weights(lam, mu1, mu2)
    model.keep_inputs = True

    def evaluate() -> Tensor:
        return regularization(model, model.layer_inputs, lam, mu1, mu2)

    return evaluate
