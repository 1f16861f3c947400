"""A network of KAN-like layers [n_0, n_1, ..., n_L], grown stage by stage.

Every family trained through a size schedule (the B-spline KAN, the RBF and Chebyshev
KANs, the grouped KAN) is such a stack: layer l maps n_{l-1} inputs to n_l outputs, and
each layer can

- update_grid(x, bounds=None, margin=0.0, refit=True): adapt where its basis lives to
  samples x (batch, in) of its input, keeping its function as far as the family allows
  (refit=False: move the basis and keep the coefficients, for a fresh layer);
- refine(size): grow to a larger size knob (grid intervals G, centres, degree), keeping
  its function.

The stack applies both layer by layer, feeding each layer the samples that reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn


def check_width(name: str, value, minimum: int = 1) -> None:
    """ValueError unless value is an integer >= minimum (a positive one by default)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")


def check_range(name: str, pair) -> None:
    """ValueError unless pair is an increasing pair (lo, hi)."""
    if len(pair) != 2 or not pair[0] < pair[1]:
        raise ValueError(f"{name} must be an increasing pair (lo, hi), got {pair!r}")


def check_samples(x: Tensor, in_features: int) -> None:
    """ValueError unless x is a batch of at least 2 samples (batch, in_features)."""
    if x.dim() != 2 or x.shape[1] != in_features or x.shape[0] < 2:
        raise ValueError(
            f"update_grid needs samples of shape (batch >= 2, {in_features}), got {tuple(x.shape)}"
        )


def check_growth(new_size: int, size: int, knob: str) -> None:
    """ValueError unless a size-up goes to a size >= the current one (knob: its symbol)."""
    if new_size < size:
        raise ValueError(f"refine needs new_size >= the current {knob} = {size}, got {new_size}")


def linear_design(blocks: Sequence[Tensor], bias: Tensor | None) -> Tensor:
    """The columns a layer is linear in (its linear_features): the blocks (batch, F_i) side
    by side, then a column of ones when the layer has a bias: (batch, sum F_i [+ 1])."""
    columns = list(blocks)
    if bias is not None:
        columns.append(torch.ones_like(columns[0][:, :1]))
    return torch.cat(columns, dim=1)


@torch.no_grad()
def set_parameter(module: nn.Module, name: str, value: Tensor) -> None:
    """Give module's parameter `name` the value: in place when the shape is the same (an
    optimiser holding it stays valid), else as a new Parameter."""
    parameter = getattr(module, name)
    if value.shape == parameter.shape:
        parameter.copy_(value)
    else:
        setattr(module, name, nn.Parameter(value))


class LayerStack(nn.Module):
    """Layers make_layer(n_{l-1}, n_l) for the widths [n_0, ..., n_L]."""

    def __init__(self, widths: Sequence[int], make_layer: Callable[[int, int], nn.Module]):
        super().__init__()
        widths = list(widths)
        if len(widths) < 2:
            raise ValueError(f"widths must list at least 2 sizes (input and output), got {widths}")
        for position, width in enumerate(widths):
            check_width(f"widths[{position}]", width)
        self.widths = widths
        self.layers = nn.ModuleList(make_layer(n_in, n_out) for n_in, n_out in pairwise(widths))

    @property
    def size(self) -> int:
        """The size knob of the layers (all layers share it)."""
        return self.layers[0].size

    def forward(self, x: Tensor) -> Tensor:
        """(batch, n_0) -> (batch, n_L)."""
        for layer in self.layers:
            x = layer(x)
        return x

    @torch.no_grad()
    def update_grid(
        self,
        x: Tensor,
        input_bounds: tuple[Tensor, Tensor] | None = None,
        hidden_margin: float = 0.0,
        refit: bool = True,
    ) -> None:
        """Update every layer from the samples that reach it, first layer first.

        input_bounds (lo, hi), each (in,): the domain of the inputs, which the first
        layer's basis then covers even where the samples do not reach its edges. The
        bases of later layers reach hidden_margin times their samples' range past them.
        refit=False places the bases on the samples and keeps the coefficients: for a
        freshly initialised stack, whose random functions need not be kept (and must not
        be, where a spline would be extrapolated far beyond its first grid).
        """
        for position, layer in enumerate(self.layers):
            if position == 0:
                layer.update_grid(x, input_bounds, refit=refit)
            else:
                layer.update_grid(x, margin=hidden_margin, refit=refit)
            x = layer(x)

    @torch.no_grad()
    def refine(self, new_size: int) -> None:
        """Grow every layer to new_size (grid intervals, centres or degree); the first
        layer refuses a smaller size before any layer changes, as all share one size."""
        for layer in self.layers:
            layer.refine(new_size)


def sample_range(
    x: Tensor,
    old: tuple[Tensor, Tensor],
    bounds: tuple[Tensor, Tensor] | None = None,
    margin: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """The range (lo, hi), each (in,), of samples x (batch, in), as a layer's basis covers it.

    bounds (lo, hi) widen it to a known input domain; margin widens it by that fraction of
    hi - lo on each side. An input whose samples are (nearly) constant keeps its old range.
    """
    check_samples(x, old[0].shape[0])
    lo, hi = x.amin(dim=0).to(old[0]), x.amax(dim=0).to(old[0])
    if bounds is not None:
        lo, hi = torch.minimum(lo, bounds[0].to(lo)), torch.maximum(hi, bounds[1].to(hi))
    lo, hi = lo - margin * (hi - lo), hi + margin * (hi - lo)
    degenerate = hi - lo <= 1e-8 * (1 + torch.maximum(lo.abs(), hi.abs()))
    return torch.where(degenerate, old[0], lo), torch.where(degenerate, old[1], hi)
