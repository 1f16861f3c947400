"""The grouped low-rank KAN: edges share R learnable B-spline functions per group of inputs.

The inputs of a layer are split into `groups` contiguous groups, g(i) = floor(i groups /
in). Group g owns R splines psi_gr(x) = sum_m a[g, r, m] B_m(x) on one grid, and every
edge mixes those of its input's group:

    phi_ji(x) = w_b[j, i] silu(x) + sum_r w[j, i, r] psi_{g(i) r}(x),

that is, the B-spline KAN's coefficients factorised as c_jim = sum_r w_jir a_{g(i) r m}.
One group with R = 1 is an MLP layer with one learnable activation psi (plus the KAN's
silu branch); one group per input with R = G + k spans every coefficient tensor c, a full
KAN. In between, the cost per sample is in (G + k) R for the splines (the bases times
the group's coefficients; in (k + 1) R in the sparse form, which gathers only the k + 1
coefficient rows each input's non-zero bases select) plus in R out for the mixing,
against the KAN's in out (G + k).

Grid update pools the samples of a group's inputs; size-up is the B-spline grid
extension of the a's (kanbench.models.bspline), so both keep the functions as the KAN's do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from kanbench.models import bspline, grids
from kanbench.models.kan import SplineGridLayer
from kanbench.models.stack import (
    LayerStack,
    check_range,
    check_samples,
    check_width,
    set_parameter,
)

FORMS = ("auto", "dense", "sparse")
# "auto" gathers the k + 1 active coefficient rows once G + k exceeds this many times k + 1;
# forward + backward of [4,64,64,1] at batch 1000 (one thread, float32), dense / gather:
# G = 10: 21 / 22 ms (one group, R = 1), 33 / 42 ms (per input, R = 3);
# G = 100: 77 / 25 ms and 258 / 45 ms
SPARSE_FACTOR = 4


def group_index(in_features: int, groups: int) -> Tensor:
    """g(i) = floor(i groups / in) for i < in: (in,) int64, every group non-empty."""
    return torch.arange(in_features) * groups // in_features


class GroupedKANLayer(SplineGridLayer):
    """One grouped KAN layer (see the module docstring).

    groups: None (one group per input) or at most in_features; rank R >= 1. Parameters:
    basis_coef a (groups, R, G + k), mixing w (out, in, R), scale_base w_b (out, in),
    bias (out,) if asked for; buffers: grid (groups, G + 2k + 1), group_of (in,). Init:
    a ~ N(0, noise_scale^2) and w ~ N(0, 1 / R), so that c = w a has the paper's
    N(0, noise_scale^2) spread; w_b Xavier-uniform as a linear layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        groups: int | None = None,
        rank: int = 1,
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        noise_scale: float = 0.1,
        bias: bool = False,
        form: str = "auto",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        check_width("in_features", in_features)
        check_width("out_features", out_features)
        check_width("rank", rank)
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        bspline.check_spline_args(grid_size, spline_order)
        groups = in_features if groups is None else groups
        check_width("groups", groups)
        if groups > in_features:
            raise ValueError(
                f"groups must be at most in_features = {in_features} (or None: one per "
                f"input), got {groups}"
            )
        check_range("grid_range", grid_range)
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps!r}")
        self.in_features, self.out_features = in_features, out_features
        self.groups, self.rank, self.spline_order = groups, rank, spline_order
        self.grid_eps, self.noise_scale, self.form = grid_eps, noise_scale, form
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        grid = grids.uniform_grid(groups, grid_size, spline_order, tuple(grid_range), **factory)
        self.register_buffer("grid", grid)
        self.register_buffer("group_of", group_index(in_features, groups).to(device))
        n_bases = grid_size + spline_order
        self.basis_coef = nn.Parameter(torch.empty(groups, rank, n_bases, **factory))
        self.mixing = nn.Parameter(torch.empty(out_features, in_features, rank, **factory))
        self.scale_base = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.reset_parameters()

    def _input_grid(self) -> Tensor:
        return self.grid[self.group_of]  # every input gets its group's grid: (in, G + 2k + 1)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.basis_coef.normal_(0.0, self.noise_scale)
            self.mixing.normal_(0.0, 1.0 / self.rank**0.5)
            nn.init.xavier_uniform_(self.scale_base)
            if self.bias is not None:
                self.bias.zero_()

    def group_splines(self, x: Tensor) -> Tensor:
        """psi_{g(i) r}(x_i): (batch, in) -> (batch, in, R), in the layer's form."""
        form = self.form
        if form == "auto":
            sparse = self.grid_size + self.spline_order > SPARSE_FACTOR * (self.spline_order + 1)
            form = "sparse" if sparse else "dense"
        return self._sparse_splines(x) if form == "sparse" else self._dense_splines(x)

    def _dense_splines(self, x: Tensor) -> Tensor:
        """Every basis: (batch, in, G + k) bases times the group's coefficients."""
        bases = bspline.bspline_basis(x, self.knots)  # (batch, in, G + k)
        if self.groups == 1:  # one matrix multiply: (batch in, G + k) @ (G + k, R)
            return bases @ self.basis_coef[0].t()
        return torch.einsum("bim,irm->bir", bases, self.basis_coef[self.group_of])

    def _sparse_splines(self, x: Tensor) -> Tensor:
        """Only the k + 1 non-zero bases of each input, times the coefficient rows they
        select (a gather): a cost that does not grow with G."""
        k = self.spline_order
        local = bspline.local_bases(x.detach(), self.knots, derivative=x.requires_grad)
        bases = local.values.permute(1, 2, 0)  # (batch, in, k + 1)
        if x.requires_grad:  # the value B and, to autograd, the slope dB/dx
            slopes = local.derivative.permute(1, 2, 0)
            bases = bases + slopes * (x - x.detach()).unsqueeze(-1)
        padded = nn.functional.pad(self.basis_coef, (k, k))  # (groups, R, G + 3k)
        rows = local.cell.unsqueeze(-1) + torch.arange(k + 1, device=x.device)  # (b, in, k+1)
        if self.groups == 1:
            selected = padded[0].t()[rows]  # (batch, in, k + 1, R)
        else:
            per_input = padded[self.group_of].transpose(1, 2)  # (in, G + 3k, R)
            inputs = torch.arange(self.in_features, device=x.device)[:, None]
            selected = per_input[inputs, rows]  # (batch, in, k + 1, R)
        return torch.einsum("biq,biqr->bir", bases, selected)

    def coefficients(self) -> Tensor:
        """The KAN coefficients c_jim = sum_r w_jir a_{g(i) r m}: (out, in, G + k)."""
        return torch.einsum("oir,irm->oim", self.mixing, self.basis_coef[self.group_of])

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in) -> (batch, out)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"expected input of shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        y = nn.functional.silu(x) @ self.scale_base.t()  # (batch, out)
        psi = self.group_splines(x)  # (batch, in, R)
        y = y + psi.flatten(1) @ self.mixing.flatten(1).t()  # (b, in R) @ (in R, out)
        return y if self.bias is None else y + self.bias

    def _spline_coef(self) -> Tensor:
        return self.basis_coef.transpose(0, 1)  # the R splines per group: (R, groups, G + k)

    def _store_spline_coef(self, coef: Tensor) -> None:
        set_parameter(self, "basis_coef", coef.transpose(0, 1).contiguous())

    @torch.no_grad()
    def update_grid(
        self,
        x: Tensor,
        bounds: tuple[Tensor, Tensor] | None = None,
        margin: float = 0.0,
        refit: bool = True,
    ) -> None:
        """Adapt each group's grid to the pooled samples of its inputs, x (batch, in), as
        the B-spline KAN does per input (bounds (lo, hi), each (in,), margin and refit
        alike)."""
        check_samples(x, self.in_features)
        x = x.to(self.grid.dtype)
        points = grids.grid_points(self.grid, self.spline_order).clone()  # (groups, G + 1)
        for g in range(self.groups):
            members = (self.group_of == g).nonzero().flatten()
            pooled = x[:, members].reshape(-1, 1)  # (batch * members, 1)
            group_bounds = None
            if bounds is not None:
                lo, hi = bounds[0].to(x)[members].min(), bounds[1].to(x)[members].max()
                group_bounds = (lo.reshape(1), hi.reshape(1))
            new = grids.grid_points_from_samples(
                pooled, self.grid_size, self.grid_eps, group_bounds, margin
            )
            points[g] = grids.keep_degenerate(new, points[g : g + 1])[0]
        self._set_grid(bspline.extend_grid(points, self.spline_order), refit)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"G={self.grid_size}, k={self.spline_order}, groups={self.groups}, "
            f"rank={self.rank}, bias={self.bias is not None}"
        )


class GroupedKAN(LayerStack):
    """A grouped KAN of shape widths = [n_0, ..., n_L]; options as GroupedKANLayer's.

    groups applies to every layer, capped at the layer's inputs (None: one per input).
    """

    def __init__(
        self,
        widths: Sequence[int],
        grid_size: int = 5,
        spline_order: int = 3,
        groups: int | None = None,
        **layer_options,
    ):
        if groups is not None:
            check_width("groups", groups)

        def make_layer(n_in: int, n_out: int) -> GroupedKANLayer:
            capped = None if groups is None else min(groups, n_in)
            return GroupedKANLayer(n_in, n_out, grid_size, spline_order, capped, **layer_options)

        super().__init__(widths, make_layer)
