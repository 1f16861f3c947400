"""The Chebyshev KAN: each edge a Chebyshev series of its input.

A layer maps (batch, in) to (batch, out) by y_j = sum_i phi_ji(x_i) + bias_j, with

    phi_ji(x) = sum_{n=0..D} c[j, i, n] T_n(z_i),

T_n the Chebyshev polynomials of the first kind and z_i = tanh(x_i) (input_map "tanh",
as ChebyKAN) or z_i = (2 x_i - lo_i - hi_i) / (hi_i - lo_i), the input's range mapped
onto [-1, 1] (input_map "range"; outside its range the polynomials are extrapolated).
T_n comes from the recurrence T_0 = 1, T_1 = z, T_{n+1} = 2 z T_n - T_{n-1}, and its slope
from dT_n/dz = n U_{n-1}(z) with U the polynomials of the second kind (U_0 = 1, U_1 = 2z,
same recurrence): unlike cos(n acos z) neither has a NaN or an infinite slope at z = ±1.

Size-up (D -> D') appends zero coefficients: exact. A grid update in "range" mode moves
the range and re-expresses each polynomial in the new variable by interpolation at the
D + 1 Chebyshev nodes, also exact up to rounding (a polynomial of degree D in x stays
one); in "tanh" mode there is nothing to update.
"""

from __future__ import annotations

import math
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

INPUT_MAPS = ("tanh", "range")


def _recurrence(z: Tensor, first: Tensor, degree: int) -> Tensor:
    """P_0 = 1, P_1 = first, P_{n+1} = 2 z P_n - P_{n-1}: (..., ) -> (..., degree + 1)."""
    terms = [torch.ones_like(z), first]
    for _ in range(degree - 1):
        terms.append(2 * z * terms[-1] - terms[-2])
    return torch.stack(terms[: degree + 1], dim=-1)


class _ChebyshevT(torch.autograd.Function):
    """T_0..T_D of z; autograd keeps only z and builds the slopes n U_{n-1}(z) on backward."""

    @staticmethod
    def forward(ctx, z: Tensor, degree: int) -> Tensor:
        ctx.degree = degree
        ctx.save_for_backward(z)
        return _recurrence(z, z, degree)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_t: Tensor):
        (z,) = ctx.saved_tensors
        degree = ctx.degree
        if degree == 0:
            return torch.zeros_like(z), None
        u = _recurrence(z, 2 * z, degree - 1)  # U_0 .. U_{D-1}: (..., D)
        n = torch.arange(1, degree + 1, dtype=z.dtype, device=z.device)
        return torch.einsum("...n,...n->...", grad_t[..., 1:], u * n), None


def chebyshev_t(z: Tensor, degree: int) -> Tensor:
    """T_0(z) .. T_D(z) for any z (most useful on [-1, 1]): z (...) -> (..., D + 1)."""
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree must be an integer >= 0, got {degree!r}")
    return _ChebyshevT.apply(z, degree)


def chebyshev_nodes(degree: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The D + 1 Chebyshev points cos((2k + 1) pi / (2 (D + 1))), k = 0..D, on (-1, 1)."""
    k = torch.arange(degree + 1, dtype=dtype)
    return torch.cos((2 * k + 1) * math.pi / (2 * (degree + 1)))


class ChebyKANLayer(nn.Module):
    """One Chebyshev KAN layer (see the module docstring).

    Parameters: coef c (out, in, D + 1) and bias (out,) if asked for; buffers: lo, hi
    (in,), the range of input_map "range". Init: c ~ N(0, 1 / (in (D + 1))), so that
    the output's variance stays near the input's order whatever the width and degree.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        degree: int = 5,
        input_map: str = "tanh",
        grid_range: Sequence[float] = (-1.0, 1.0),
        bias: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        check_width("in_features", in_features)
        check_width("out_features", out_features)
        check_width("degree (D)", degree)
        if input_map not in INPUT_MAPS:
            raise ValueError(f"input_map must be one of {INPUT_MAPS}, got {input_map!r}")
        check_range("grid_range", grid_range)
        self.in_features, self.out_features, self.input_map = in_features, out_features, input_map
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.register_buffer("lo", torch.full((in_features,), float(grid_range[0]), **factory))
        self.register_buffer("hi", torch.full((in_features,), float(grid_range[1]), **factory))
        self.coef = nn.Parameter(torch.empty(out_features, in_features, degree + 1, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.reset_parameters()

    @property
    def size(self) -> int:
        """D, the degree of every edge's series."""
        return self.coef.shape[2] - 1

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.coef.normal_(0.0, 1.0 / math.sqrt(self.in_features * (self.size + 1)))
            if self.bias is not None:
                self.bias.zero_()

    def mapped(self, x: Tensor, lo: Tensor | None = None, hi: Tensor | None = None) -> Tensor:
        """z of x (batch, in): tanh(x), or x's range [lo, hi] (default the layer's) on [-1, 1]."""
        if self.input_map == "tanh":
            return torch.tanh(x)
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        return (2 * x - lo - hi) / (hi - lo)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in) -> (batch, out)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"expected input of shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        t = chebyshev_t(self.mapped(x), self.size)  # (batch, in, D + 1)
        y = t.flatten(1) @ self.coef.flatten(1).t()  # (b, in (D+1)) @ (in (D+1), out)
        return y if self.bias is None else y + self.bias

    def linear_features(self, x: Tensor) -> Tensor:
        """What the layer is linear in: (batch, in) -> (batch, F), [T_n(z_i) for each i, n;
        1 with a bias]."""
        return linear_design([chebyshev_t(self.mapped(x), self.size).flatten(1)], self.bias)

    @torch.no_grad()
    def update_grid(
        self,
        x: Tensor,
        bounds: tuple[Tensor, Tensor] | None = None,
        margin: float = 0.0,
        refit: bool = True,
    ) -> None:
        """input_map "range": map the range of samples x (batch, in) onto [-1, 1], the same
        polynomials re-expressed in the new z (refit=False: the coefficients kept as they
        are, now in the new z); "tanh": nothing to do."""
        if self.input_map == "tanh":
            return
        lo, hi = sample_range(x.to(self.lo), (self.lo, self.hi), bounds, margin)
        if not refit:
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            return
        cpu64 = {"dtype": torch.float64, "device": "cpu"}
        nodes = chebyshev_nodes(self.size)  # (D + 1,) in the new z
        lo64, hi64 = lo.to(**cpu64), hi.to(**cpu64)
        x_nodes = lo64[:, None] + (nodes + 1) / 2 * (hi64 - lo64)[:, None]  # (in, D + 1)
        z_old = self.mapped(x_nodes.t(), self.lo.to(**cpu64), self.hi.to(**cpu64))  # (D+1, in)
        old = torch.einsum(
            "kin,oin->iko", chebyshev_t(z_old, self.size), self.coef.detach().to(**cpu64)
        )  # the old series at the nodes: (in, D + 1, out)
        design = chebyshev_t(nodes, self.size)  # (D + 1 nodes, D + 1 terms)
        solution = torch.linalg.solve(design, old)  # (in, D + 1, out)
        self.coef.copy_(solution.permute(2, 0, 1).to(self.coef))
        self.lo.copy_(lo)
        self.hi.copy_(hi)

    @torch.no_grad()
    def refine(self, new_size: int) -> None:
        """D -> D' >= D, with zero coefficients for T_{D+1} .. T_{D'}: the function is kept."""
        check_width("degree (D)", new_size)
        check_growth(new_size, self.size, "D")
        set_parameter(
            self, "coef", nn.functional.pad(self.coef.detach(), (0, new_size - self.size))
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"D={self.size}, input_map={self.input_map}, bias={self.bias is not None}"
        )


class ChebyKAN(LayerStack):
    """A Chebyshev KAN of shape widths = [n_0, ..., n_L]; options as ChebyKANLayer's."""

    def __init__(self, widths: Sequence[int], degree: int = 5, **layer_options):
        super().__init__(
            widths, lambda n_in, n_out: ChebyKANLayer(n_in, n_out, degree, **layer_options)
        )
