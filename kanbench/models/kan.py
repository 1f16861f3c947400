"""The B-spline KAN layer and network (KAN paper §2.2), with grid update and extension.

A layer maps (batch, in) to (batch, out) by y_j = sum_i phi_ji(x_i) + bias_j, with

    phi_ji(x) = w_b[j, i] silu(x) + w_s[j, i] sum_m c[j, i, m] B_m(x)      (Eq. 2.10-2.12)

on the per-input knot vectors grid (in, G + 2k + 1). kanbench.models.forms evaluates it,
densely (one matrix multiply over all G + k bases) or sparsely (only the k + 1 non-zero
bases per input), whichever suits the layer's size.

Edges can be edited for interpretation (paper §2.5): an edge mask m (out, in) of 0/1
removes edges (phi_ji = 0), and an edge fixed to a symbolic function computes
phi_ji(x) = c f(a x + b) + d instead (kanbench.models.functions), with (a, b, c, d)
trainable; both are part of the forward pass, and an unedited layer runs exactly as
before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from kanbench.models import bspline, grids
from kanbench.models.forms import FORMS, InputCache, kan_linear
from kanbench.models.functions import get_function
from kanbench.models.stack import (
    LayerStack,
    check_samples,
    check_width,
    linear_design,
    set_parameter,
)

INITS = ("paper", "pykan")


class SplineGridLayer(nn.Module):
    """What layers of B-splines on a grid buffer share: G, the prepared knots, grid
    extension, and replacing the grid with the splines refitted so that they are kept.

    A subclass holds spline_order and the buffer grid (rows, G + 2k + 1), and says which
    coefficients the grid carries: _spline_coef() -> (*, rows, G + k) and
    _store_spline_coef(coef). Its inputs use the grid rows _input_grid() (in, G + 2k + 1).
    """

    _knots: tuple[tuple, bspline.Knots] | None = None

    @property
    def grid_size(self) -> int:
        """G, the number of grid intervals."""
        return self.grid.shape[1] - 2 * self.spline_order - 1

    @property
    def size(self) -> int:
        """The stage knob that LayerStack.refine grows: G."""
        return self.grid_size

    def _input_grid(self) -> Tensor:
        return self.grid

    @property
    def knots(self) -> bspline.Knots:
        """The inputs' grids prepared for evaluation, recomputed whenever the grid changes."""
        key = (self.grid.data_ptr(), self.grid._version, self.grid.shape, self.grid.dtype)
        if self._knots is None or self._knots[0] != key:
            self._knots = (key, bspline.prepare_knots(self._input_grid(), self.spline_order))
        return self._knots[1]

    def _set_grid(self, grid: Tensor, refit: bool = True) -> None:
        """Replace the knots, refitting the coefficients so that the splines are kept (with
        refit=False the coefficients stay as they are, now on the new knots)."""
        if refit:
            old = self._spline_coef().detach()
            coef = grids.refit_coefficients(self.grid, old, grid, self.spline_order)
        self.grid = grid.to(self.grid)
        self._knots = None
        if refit:
            self._store_spline_coef(coef)

    @torch.no_grad()
    def refine(self, new_grid_size: int) -> None:
        """Grid extension to G' >= G intervals (Eq. 2.16): knots follow the old spacing."""
        grid = grids.refined_grid(self.grid, self.spline_order, new_grid_size)
        if grid is not None:
            self._set_grid(grid)


class KANLayer(SplineGridLayer):
    """One KAN layer of in_features x out_features learnable edge functions.

    Parameters: coef c (out, in, G + k), scale_base w_b (out, in), scale_spline w_s
    (out, in), and bias (out,) if asked for; buffer: grid (in, G + 2k + 1). Edits (see
    the module docstring): buffers mask and symbolic_mask (out, in), symbolic_edges
    (n_sym, 2) of rows (j, i), the parameter symbolic_affine (n_sym, 4) of rows
    (a, b, c, d) once an edge is fixed, and symbolic_names (n_sym,).

    init="paper": w_s = 1, c ~ N(0, noise_scale^2), w_b Xavier-uniform as a linear layer.
    init="pykan" (pykan 0.2.8): w_b ~ U(-1/sqrt(in), 1/sqrt(in)), w_s = 1/sqrt(in), c the
    least-squares spline through uniform noise of amplitude noise_scale / G at the grid
    points. form: "dense", "sparse" or "auto" (kanbench.models.forms.choose_form).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_eps: float = 1.0,
        init: str = "paper",
        noise_scale: float = 0.1,
        bias: bool = False,
        form: str = "auto",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        check_width("in_features", in_features)
        check_width("out_features", out_features)
        bspline.check_spline_args(grid_size, spline_order)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps!r}")
        if len(grid_range) != 2:
            raise ValueError(f"grid_range must be a pair (lo, hi), got {grid_range!r}")
        self.in_features, self.out_features = in_features, out_features
        self.spline_order = spline_order
        self.grid_eps = grid_eps
        self.init, self.noise_scale, self.form = init, noise_scale, form
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        grid = grids.uniform_grid(
            in_features, grid_size, spline_order, tuple(grid_range), **factory
        )
        self.register_buffer("grid", grid)
        n_bases = grid_size + spline_order
        self.coef = nn.Parameter(torch.empty(out_features, in_features, n_bases, **factory))
        self.scale_base = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.scale_spline = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.input_cache: InputCache | None = InputCache()  # None: evaluate every input anew
        self.register_buffer("mask", torch.ones(out_features, in_features, **factory))
        self.register_buffer("symbolic_mask", torch.zeros(out_features, in_features, **factory))
        self.register_buffer("symbolic_edges", torch.zeros(0, 2, dtype=torch.int64, device=device))
        self.register_parameter("symbolic_affine", None)
        self.symbolic_names: list[str] = []
        self.edited = False  # True once an edge is masked or fixed
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the parameters as `init` says (see the class docstring)."""
        with torch.no_grad():
            if self.init == "paper":
                nn.init.xavier_uniform_(self.scale_base)
                self.scale_spline.fill_(1.0)
                self.coef.normal_(0.0, self.noise_scale)
            else:
                bound = 1.0 / math.sqrt(self.in_features)
                self.scale_base.uniform_(-bound, bound)
                self.scale_spline.fill_(bound)
                self.coef.copy_(self._fit_noise())
            if self.bias is not None:
                self.bias.zero_()

    def _fit_noise(self) -> Tensor:
        """pykan's initial coefficients: the spline through noise at the G + 1 grid points."""
        points = grids.grid_points(self.grid, self.spline_order)  # (in, G + 1)
        noise = (
            torch.rand(self.out_features, *points.shape, dtype=points.dtype, device=points.device)
            - 0.5
        ) * (self.noise_scale / self.grid_size)
        design = bspline.bspline_basis(points.t(), self.knots)  # (G + 1, in, G + k)
        design = design.transpose(0, 1).to(torch.float64).cpu()  # (in, G + 1, G + k)
        target = noise.permute(1, 2, 0).to(torch.float64).cpu()  # (in, G + 1, out)
        solution = torch.linalg.lstsq(design, target, driver="gelsd").solution  # (in, G+k, out)
        return solution.permute(2, 0, 1).to(self.coef)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in) -> (batch, out)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"expected input of shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        scale_base, scale_spline = self.scale_base, self.scale_spline
        if self.edited:
            numeric = self.mask * (1 - self.symbolic_mask)  # (out, in): spline edges kept
            scale_base, scale_spline = scale_base * numeric, scale_spline * numeric
        y = kan_linear(
            x, self.knots, scale_base, scale_spline, self.coef, self.form, self.input_cache
        )
        if self.symbolic_names:
            rows, _ = self.symbolic_edges.unbind(1)
            y = y.index_add(1, rows, self._symbolic_terms(x))  # y_j += c f(a x_i + b) + d
        return y if self.bias is None else y + self.bias

    def _symbolic_terms(self, x: Tensor) -> Tensor:
        """c f(a x_i + b) + d of every fixed edge (j, i), masked: (batch, in) -> (batch, n_sym)."""
        rows, cols = self.symbolic_edges.unbind(1)
        a, b, c, d = self.symbolic_affine.unbind(1)  # each (n_sym,)
        z = x[:, cols] * a + b  # (batch, n_sym)
        values = torch.zeros_like(z)
        for name in dict.fromkeys(self.symbolic_names):
            group = [e for e, n in enumerate(self.symbolic_names) if n == name]
            index = torch.as_tensor(group, device=x.device)
            values = values.index_copy(1, index, get_function(name)(z[:, index]))
        return (c * values + d) * self.mask[rows, cols]

    def edge_values(self, x: Tensor) -> Tensor:
        """phi_ji(x_i) of every edge, as in the forward pass: (batch, in) -> (batch, in, out).

        Differentiable in x and the parameters; it holds batch * in * out numbers, so
        callers chunk large batches.
        """
        silu = nn.functional.silu(x).unsqueeze(-1)  # (batch, in, 1)
        phi = silu * self.scale_base.t() + self.edge_splines(x) * self.scale_spline.t()
        if self.edited:
            phi = phi * (self.mask * (1 - self.symbolic_mask)).t()
        if self.symbolic_names:
            rows, cols = self.symbolic_edges.unbind(1)
            flat = phi.flatten(1)  # (batch, in * out), edge (j, i) at i * out + j
            phi = flat.index_add(1, cols * self.out_features + rows, self._symbolic_terms(x))
            phi = phi.view(x.shape[0], self.in_features, self.out_features)
        return phi

    def check_edge(self, i: int, j: int) -> None:
        """ValueError unless (i, j) names an edge: input i < in, output j < out."""
        for name, value, size in (("i", i, self.in_features), ("j", j, self.out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
                raise ValueError(
                    f"edge index {name} must be an integer in [0, {size}), got {value!r}"
                )

    def set_mask(self, mask: Tensor) -> None:
        """Keep the edges where mask (out, in) is 1, remove (phi = 0) those where it is 0."""
        mask = torch.as_tensor(mask, dtype=self.mask.dtype, device=self.mask.device)
        if mask.shape != self.mask.shape or not ((mask == 0) | (mask == 1)).all():
            raise ValueError(
                f"mask must be a 0/1 tensor of shape {tuple(self.mask.shape)}, "
                f"got shape {tuple(mask.shape)}"
            )
        self.mask.copy_(mask)
        self.edited = True

    def fix_edge(self, i: int, j: int, name: str, affine: Sequence[float]) -> None:
        """Fix edge (i, j) to c f(a x + b) + d, f = the library function name."""
        self.check_edge(i, j)
        get_function(name)
        affine = torch.as_tensor(affine, dtype=self.coef.dtype, device=self.coef.device)
        if affine.shape != (4,) or not torch.isfinite(affine).all():
            raise ValueError(f"affine must be 4 finite numbers (a, b, c, d), got {affine.tolist()}")
        self.unfix_edge(i, j)
        old = self.symbolic_affine.detach() if self.symbolic_names else affine.new_zeros(0, 4)
        self.symbolic_affine = nn.Parameter(torch.cat([old, affine[None]]))
        edge = torch.tensor([[j, i]], device=self.symbolic_edges.device)
        self.symbolic_edges = torch.cat([self.symbolic_edges, edge])
        self.symbolic_names.append(name)
        self.symbolic_mask[j, i] = 1
        self.edited = True

    def unfix_edge(self, i: int, j: int) -> None:
        """Return edge (i, j) to its spline (a no-op when it is not fixed)."""
        self.check_edge(i, j)
        keep = [
            e for e, (row, col) in enumerate(self.symbolic_edges.tolist()) if (row, col) != (j, i)
        ]
        if len(keep) == len(self.symbolic_names):
            return
        index = torch.as_tensor(keep, dtype=torch.int64, device=self.symbolic_edges.device)
        self.symbolic_edges = self.symbolic_edges[index]
        self.symbolic_names = [self.symbolic_names[e] for e in keep]
        affine = self.symbolic_affine.detach()[index]
        self.symbolic_affine = nn.Parameter(affine) if keep else None
        self.symbolic_mask[j, i] = 0

    @torch.no_grad()
    def select(self, inputs: Sequence[int], outputs: Sequence[int]) -> None:
        """Keep only the given inputs and outputs (sorted indices), with their edges as they are."""
        inputs = torch.as_tensor(inputs, dtype=torch.int64, device=self.grid.device)
        outputs = torch.as_tensor(outputs, dtype=torch.int64, device=self.grid.device)
        self.grid = self.grid[inputs]
        for name in ("coef", "scale_base", "scale_spline"):
            value = getattr(self, name)[outputs][:, inputs]
            setattr(self, name, nn.Parameter(value.contiguous()))
        self.mask = self.mask[outputs][:, inputs]
        self.symbolic_mask = self.symbolic_mask[outputs][:, inputs]
        if self.bias is not None:
            self.bias = nn.Parameter(self.bias[outputs].clone())
        new_row = {int(old): new for new, old in enumerate(outputs.tolist())}
        new_col = {int(old): new for new, old in enumerate(inputs.tolist())}
        kept = [
            e
            for e, (row, col) in enumerate(self.symbolic_edges.tolist())
            if row in new_row and col in new_col
        ]
        edges = [
            [new_row[row], new_col[col]]
            for row, col in (self.symbolic_edges[e].tolist() for e in kept)
        ]
        self.symbolic_edges = torch.tensor(
            edges, dtype=torch.int64, device=self.grid.device
        ).reshape(-1, 2)
        self.symbolic_names = [self.symbolic_names[e] for e in kept]
        affine = self.symbolic_affine[kept].clone() if kept else None
        self.symbolic_affine = nn.Parameter(affine) if kept else None
        self.in_features, self.out_features = len(inputs), len(outputs)
        if self.input_cache is not None:
            self.input_cache.clear()

    def symbolic_edge(self, i: int, j: int) -> tuple[str, list[float]] | None:
        """(name, [a, b, c, d]) of a fixed edge (i, j), or None for a spline edge."""
        self.check_edge(i, j)
        for e, (row, col) in enumerate(self.symbolic_edges.tolist()):
            if (row, col) == (j, i):
                return self.symbolic_names[e], self.symbolic_affine[e].tolist()
        return None

    def linear_features(self, x: Tensor) -> Tensor:
        """What the layer is linear in, given its grid: (batch, in) -> (batch, F).

        Every output is y_j = F theta_j with F = [B_m(x_i) for each i, m; silu(x_i) for
        each i; 1 with a bias] (theta_j = w_s c, w_b and the bias), so least squares on F
        gives the best this layer's splines can do on x (kanbench.optimum). Edits (masks,
        symbolic edges) are ignored.
        """
        bases = bspline.bspline_basis(x, self.knots)  # (batch, in, G + k)
        return linear_design([bases.flatten(1), nn.functional.silu(x)], self.bias)

    def edge_splines(self, x: Tensor) -> Tensor:
        """sum_m c_jim B_m(x_i) for every edge: (batch, in) -> (batch, in, out)."""
        return bspline.spline_values(x, self.grid, self.coef, self.spline_order)

    def _spline_coef(self) -> Tensor:
        return self.coef * self.scale_spline.unsqueeze(-1)  # w_s c: (out, in, G + k)

    def _store_spline_coef(self, coef: Tensor) -> None:
        """Store the refitted splines w_s c as c, with w_s = 1 (the function is the same).

        phi depends on w_s and c only through w_s c, so training is free to drift along
        w_s -> a w_s, c -> c / a. Left alone, LBFGS does: on sin(pi x) + exp(y) it reached
        w_s = 3e-3 with |c| = 50 in the first stage, where the c block of the Hessian is
        scaled by w_s^2 (1e-5), and the train RMSE stayed at 4.4e-3 from G = 5 to 200
        while least squares on the same splines gives 4e-9. Every grid change (update or
        extension) therefore folds w_s back into c.
        """
        set_parameter(self, "coef", coef)
        self.scale_spline.fill_(1.0)

    @torch.no_grad()
    def update_grid(
        self,
        x: Tensor,
        bounds: tuple[Tensor, Tensor] | None = None,
        margin: float = 0.0,
        refit: bool = True,
    ) -> None:
        """Adapt the grid to samples x (batch, in) and refit c so that phi is kept (§2.4).

        The new grid points mix empirical quantiles and a uniform grid on [min, max] of
        each input by grid_eps (grids.grid_points_from_samples); bounds (lo, hi), each
        (in,), widen that range to a known input domain, and margin by that fraction of
        it on each side. An input whose samples are (nearly) constant keeps its grid.
        refit=False moves the grid and keeps c (placing a fresh layer's grid on its data).
        """
        check_samples(x, self.in_features)
        x = x.to(self.grid.dtype)
        points = grids.grid_points_from_samples(x, self.grid_size, self.grid_eps, bounds, margin)
        points = grids.keep_degenerate(points, grids.grid_points(self.grid, self.spline_order))
        self._set_grid(bspline.extend_grid(points, self.spline_order), refit)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"G={self.grid_size}, k={self.spline_order}, bias={self.bias is not None}"
        )


class KAN(LayerStack):
    """A KAN of shape widths = [n_0, n_1, ..., n_L]: L KANLayers n_{l-1} -> n_l."""

    def __init__(
        self, widths: Sequence[int], grid_size: int = 5, spline_order: int = 3, **layer_options
    ):
        super().__init__(
            widths,
            lambda n_in, n_out: KANLayer(n_in, n_out, grid_size, spline_order, **layer_options),
        )
        self.keep_inputs = False
        self.layer_inputs: list[Tensor] = []

    @property
    def grid_size(self) -> int:
        return self.layers[0].grid_size

    @property
    def spline_order(self) -> int:
        return self.layers[0].spline_order

    def forward(self, x: Tensor) -> Tensor:
        """(batch, n_0) -> (batch, n_L); with keep_inputs set, each layer's input is kept
        in layer_inputs (for regularisation and symbolic fitting)."""
        inputs = []
        for layer in self.layers:
            inputs.append(x)
            x = layer(x)
        if self.keep_inputs:
            self.layer_inputs = inputs
        return x
