"""The RBF KAN (FastKAN-style): Gaussian radial basis functions in place of B-splines.

A layer maps (batch, in) to (batch, out) by y_j = sum_i phi_ji(x_i) + bias_j, with

    phi_ji(x) = w_b[j, i] silu(x) + sum_m c[j, i, m] exp(-((z - mu_im) / h_i)^2),

z = x, or z = LayerNorm(x) over the layer's inputs (FastKAN's option), and G centres
mu_i1 .. mu_iG evenly spaced on the input's range [lo_i, hi_i], h_i = (hi_i - lo_i) /
(G - 1). Gaussians of equal width on a uniform grid approximate a cubic B-spline basis
(FastKAN's observation) but are cheaper to evaluate and never exactly zero.

Size-up (G -> G') and grid update (a new range) keep the function as nearly as least
squares can: c' = argmin sum_p (sum_m c'_m b'_m(z_p) - phi(z_p))^2 over 4 G' + 8 points
z_p spread evenly over the new range, per edge, in float64. Unlike B-spline refinement
this is not exact: a sum of wide Gaussians is not a sum of narrower ones.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def gaussian_bases(z: Tensor, lo: Tensor, hi: Tensor, n_centres: int) -> Tensor:
    """exp(-((z_i - mu_im) / h_i)^2) for z (batch, in), ranges lo, hi (in,): (batch, in, G)."""
    steps = torch.linspace(0, 1, n_centres, dtype=z.dtype, device=z.device)
    centres = lo[:, None] + (hi - lo)[:, None] * steps  # (in, G)
    width = ((hi - lo) / (n_centres - 1))[:, None]  # (in, 1)
    return torch.exp(-(((z[..., None] - centres) / width) ** 2))


class RBFKANLayer(nn.Module):
    """One RBF KAN layer (see the module docstring).

    Parameters: coef c (out, in, G), scale_base w_b (out, in), bias (out,) if asked for,
    and LayerNorm's weight and bias (in,) each with layernorm=True; buffers: lo, hi (in,).
    Init: c ~ N(0, noise_scale^2), w_b Xavier-uniform as a linear layer (as the B-spline
    KAN's paper init).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_centres: int = 8,
        grid_range: Sequence[float] = (-1.0, 1.0),
        layernorm: bool = False,
        noise_scale: float = 0.1,
        bias: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        check_width("in_features", in_features)
        check_width("out_features", out_features)
        check_width("n_centres (G)", n_centres, minimum=2)
        check_range("grid_range", grid_range)
        if layernorm and in_features < 2:
            raise ValueError(
                "layernorm needs a layer of at least 2 inputs (over 1 input it outputs 0), "
                f"got in_features={in_features}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.noise_scale = noise_scale
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.register_buffer("lo", torch.full((in_features,), float(grid_range[0]), **factory))
        self.register_buffer("hi", torch.full((in_features,), float(grid_range[1]), **factory))
        self.coef = nn.Parameter(torch.empty(out_features, in_features, n_centres, **factory))
        self.scale_base = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.norm = nn.LayerNorm(in_features, **factory) if layernorm else None
        self.reset_parameters()

    @property
    def size(self) -> int:
        """G, the number of centres per input."""
        return self.coef.shape[2]

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.coef.normal_(0.0, self.noise_scale)
            nn.init.xavier_uniform_(self.scale_base)
            if self.bias is not None:
                self.bias.zero_()
            if self.norm is not None:
                self.norm.reset_parameters()

    def _normalised(self, x: Tensor) -> Tensor:
        return x if self.norm is None else self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in) -> (batch, out)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"expected input of shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        bases = gaussian_bases(self._normalised(x), self.lo, self.hi, self.size)  # (b, in, G)
        y = nn.functional.silu(x) @ self.scale_base.t()  # (batch, out)
        y = y + bases.flatten(1) @ self.coef.flatten(1).t()  # (b, in G) @ (in G, out)
        return y if self.bias is None else y + self.bias

    def linear_features(self, x: Tensor) -> Tensor:
        """What the layer is linear in, LayerNorm held fixed: (batch, in) -> (batch, F),
        [exp(-((z_i - mu_im) / h_i)^2) for each i, m; silu(x_i) for each i; 1 with a bias]."""
        bases = gaussian_bases(self._normalised(x), self.lo, self.hi, self.size)  # (b, in, G)
        return linear_design([bases.flatten(1), nn.functional.silu(x)], self.bias)

    def _refit(self, lo: Tensor, hi: Tensor, n_centres: int) -> None:
        """Move the centres to n_centres on [lo, hi], refitting c by least squares."""
        cpu64 = {"dtype": torch.float64, "device": "cpu"}
        n_points = 4 * n_centres + 8
        steps = torch.linspace(0, 1, n_points, **cpu64)
        new_lo, new_hi = lo.to(**cpu64), hi.to(**cpu64)
        points = (new_lo[:, None] + (new_hi - new_lo)[:, None] * steps).t()  # (P, in)
        old = gaussian_bases(points, self.lo.to(**cpu64), self.hi.to(**cpu64), self.size)
        values = torch.einsum("pim,oim->ipo", old, self.coef.detach().to(**cpu64))  # (in, P, out)
        design = gaussian_bases(points, new_lo, new_hi, n_centres).transpose(0, 1)  # (in, P, G')
        solution = torch.linalg.lstsq(design, values, driver="gelsd").solution  # (in, G', out)
        if not torch.isfinite(solution).all():
            raise FloatingPointError(
                "least-squares refit of RBF coefficients gave non-finite values"
            )
        coef = solution.permute(2, 0, 1).contiguous().to(self.coef)
        self.lo, self.hi = lo.to(self.lo), hi.to(self.hi)
        set_parameter(self, "coef", coef)

    @torch.no_grad()
    def update_grid(
        self,
        x: Tensor,
        bounds: tuple[Tensor, Tensor] | None = None,
        margin: float = 0.0,
        refit: bool = True,
    ) -> None:
        """Spread the centres over the range of samples x (batch, in) (after LayerNorm);
        refit=False moves them and keeps c."""
        z = self._normalised(x.to(self.lo))
        lo, hi = sample_range(z, (self.lo, self.hi), None if self.norm else bounds, margin)
        if refit:
            self._refit(lo, hi, self.size)
        else:
            self.lo, self.hi = lo.to(self.lo), hi.to(self.hi)

    @torch.no_grad()
    def refine(self, new_size: int) -> None:
        """G -> G' >= G centres over the same range, c refitted by least squares."""
        check_width("n_centres (G)", new_size, minimum=2)
        check_growth(new_size, self.size, "G")
        if new_size > self.size:
            self._refit(self.lo, self.hi, new_size)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"G={self.size}, layernorm={self.norm is not None}, bias={self.bias is not None}"
        )


class RBFKAN(LayerStack):
    """An RBF KAN of shape widths = [n_0, ..., n_L]; layer options as RBFKANLayer's."""

    def __init__(self, widths: Sequence[int], n_centres: int = 8, **layer_options):
        super().__init__(
            widths, lambda n_in, n_out: RBFKANLayer(n_in, n_out, n_centres, **layer_options)
        )
