"""The Fourier KAN: each edge a truncated Fourier series of its range-mapped input.

A layer maps (batch, in) to (batch, out) by y_j = sum_i phi_ji(x_i) + bias_j, with

    phi_ji(x) = sum_{m=0..G} a[j, i, m] cos(m t_i) + sum_{m=1..G} b[j, i, m] sin(m t_i),
    t_i = (pi / 2) (2 x_i - lo_i - hi_i) / (hi_i - lo_i),

so each edge has 2G + 1 coefficients (a_0 carries the edge's constant) and the input's
range [lo_i, hi_i] covers half a period, t in [-pi/2, pi/2]: the series need not be
periodic on the samples' range, so a smooth non-periodic edge function has no jump to
fit at the ends of its range (on a full period it would, and its Fourier coefficients
would fall only as 1/m). Outside [lo, hi] the series is evaluated as it is (periodic in
t with period 2 pi, i.e. twice the range).

Size-up (G -> G') appends zero coefficients for m = G+1..G': exact. A grid update moves
[lo, hi] to the samples' range and refits each edge's series by least squares to its old
values at 4 (2G + 1) points spread over the new range: a trigonometric polynomial in the
old t is not one in the new t, so this keeps the function closely, not exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from kanbench.models.stack import (
    LayerStack,
    check_growth,
    check_range,
    check_width,
    linear_design,
    sample_range,
    set_parameter,
)


def fourier_kan_size(widths: Sequence[int], grid_size: int, bias: bool = False) -> int:
    """Trainable numbers of a Fourier KAN: 2G + 1 coefficients per edge, plus out biases
    per layer when enabled."""
    edges = sum(a * b for a, b in pairwise(widths))
    return edges * (2 * grid_size + 1) + (sum(widths[1:]) if bias else 0)


def fourier_features(t: Tensor, grid_size: int) -> Tensor:
    """[cos(0 t), cos(t), .., cos(G t), sin(t), .., sin(G t)]: t (...) -> (..., 2G + 1)."""
    m = torch.arange(grid_size + 1, dtype=t.dtype, device=t.device)
    angles = t.unsqueeze(-1) * m  # (..., G + 1)
    return torch.cat([torch.cos(angles), torch.sin(angles[..., 1:])], dim=-1)


class FourierKANLayer(nn.Module):
    """One Fourier KAN layer (see the module docstring).

    Parameters: cos_coef a (out, in, G + 1), sin_coef b (out, in, G), bias (out,) if
    asked for; buffers lo, hi (in,), the input range mapped onto t in [-pi/2, pi/2].
    Init: a, b ~ N(0, 1 / (in (2G + 1))), so the output's variance stays near 1 whatever
    the width and G.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        grid_range: Sequence[float] = (-1.0, 1.0),
        bias: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        check_width("in_features", in_features)
        check_width("out_features", out_features)
        check_width("grid_size (G)", grid_size)
        check_range("grid_range", grid_range)
        self.in_features, self.out_features = in_features, out_features
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.register_buffer("lo", torch.full((in_features,), float(grid_range[0]), **factory))
        self.register_buffer("hi", torch.full((in_features,), float(grid_range[1]), **factory))
        self.cos_coef = nn.Parameter(
            torch.empty(out_features, in_features, grid_size + 1, **factory)
        )
        self.sin_coef = nn.Parameter(torch.empty(out_features, in_features, grid_size, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.reset_parameters()

    @property
    def size(self) -> int:
        """G, the highest frequency of every edge's series."""
        return self.sin_coef.shape[2]

    def reset_parameters(self) -> None:
        std = 1.0 / math.sqrt(self.in_features * (2 * self.size + 1))
        with torch.no_grad():
            self.cos_coef.normal_(0.0, std)
            self.sin_coef.normal_(0.0, std)
            if self.bias is not None:
                self.bias.zero_()

    def phase(self, x: Tensor, lo: Tensor | None = None, hi: Tensor | None = None) -> Tensor:
        """t of x (batch, in): the range [lo, hi] (default the layer's) on [-pi/2, pi/2]."""
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        return (math.pi / 2) * (2 * x - lo - hi) / (hi - lo)

    def coefficients(self) -> Tensor:
        """(out, in, 2G + 1): a_0..a_G then b_1..b_G, in fourier_features' order."""
        return torch.cat([self.cos_coef, self.sin_coef], dim=2)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in) -> (batch, out)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"expected input of shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        features = fourier_features(self.phase(x), self.size)  # (batch, in, 2G + 1)
        y = features.flatten(1) @ self.coefficients().flatten(1).t()  # (batch, out)
        return y if self.bias is None else y + self.bias

    def linear_features(self, x: Tensor) -> Tensor:
        """What the layer is linear in: (batch, in) -> (batch, in (2G + 1) [+ 1 with a bias])."""
        return linear_design([fourier_features(self.phase(x), self.size).flatten(1)], self.bias)

    @torch.no_grad()
    def update_grid(
        self,
        x: Tensor,
        bounds: tuple[Tensor, Tensor] | None = None,
        margin: float = 0.0,
        refit: bool = True,
    ) -> None:
        """Map the range of samples x (batch, in) onto t in [-pi/2, pi/2] and refit every
        edge's series to its old values there by least squares (refit=False: keep the
        coefficients, now in the new t)."""
        lo, hi = sample_range(x.to(self.lo), (self.lo, self.hi), bounds, margin)
        if refit:
            cpu64 = {"dtype": torch.float64, "device": "cpu"}
            n_points = 4 * (2 * self.size + 1)
            s = torch.linspace(0.0, 1.0, n_points, **cpu64)
            lo64, hi64 = lo.to(**cpu64), hi.to(**cpu64)
            x_new = lo64 + s[:, None] * (hi64 - lo64)  # (points, in)
            old = fourier_features(
                self.phase(x_new, self.lo.to(**cpu64), self.hi.to(**cpu64)), self.size
            )
            values = torch.einsum("pif,oif->ipo", old, self.coefficients().to(**cpu64))
            design = fourier_features(self.phase(x_new, lo64, hi64), self.size)  # (points, in, F)
            # SVD (gelsd): the half-period frame's condition number passes 1e16 near G = 40,
            # where the default driver's rank detection loses the fit
            solution = torch.linalg.lstsq(design.transpose(0, 1), values, driver="gelsd").solution
            coef = solution.permute(2, 0, 1).to(self.cos_coef)  # (out, in, 2G + 1)
            self.cos_coef.copy_(coef[..., : self.size + 1])
            self.sin_coef.copy_(coef[..., self.size + 1 :])
        self.lo.copy_(lo)
        self.hi.copy_(hi)

    @torch.no_grad()
    def refine(self, new_size: int) -> None:
        """G -> G' >= G, with zero coefficients for frequencies G+1..G': the function is kept."""
        check_width("grid_size (G)", new_size)
        check_growth(new_size, self.size, "G")
        grow = (0, new_size - self.size)
        set_parameter(self, "cos_coef", nn.functional.pad(self.cos_coef.detach(), grow))
        set_parameter(self, "sin_coef", nn.functional.pad(self.sin_coef.detach(), grow))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"G={self.size}, bias={self.bias is not None}"
        )


class FourierKAN(LayerStack):
    """A Fourier KAN of shape widths = [n_0, ..., n_L]; options as FourierKANLayer's."""

    def __init__(self, widths: Sequence[int], grid_size: int = 5, **layer_options):
        super().__init__(
            widths, lambda n_in, n_out: FourierKANLayer(n_in, n_out, grid_size, **layer_options)
        )
