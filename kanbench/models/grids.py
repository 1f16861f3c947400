"""Grids of B-spline KAN layers: uniform and sample-adapted grid points, their extension
by k knots, grid extension G -> G' (KAN paper §2.4) and the least-squares refit of spline
coefficients onto a new grid (Eq. 2.16).

Shapes as in kanbench.models.bspline: grid points (in, G + 1), extended knot vectors
(in, G + 2k + 1), coefficients (out, in, G + k).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.interpolate import make_lsq_spline
from torch import Tensor

from kanbench.models.bspline import (
    check_spline_args,
    extend_grid,
    local_bases,
    prepare_knots,
)


def uniform_grid(
    in_features: int,
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """The extended uniform knot vectors (in, G + 2k + 1) of G intervals on grid_range."""
    check_spline_args(grid_size, spline_order)
    lo, hi = (float(v) for v in grid_range)
    if not lo < hi:
        raise ValueError(f"grid_range must be increasing (lo < hi), got {tuple(grid_range)}")
    points = torch.linspace(lo, hi, grid_size + 1, dtype=dtype, device=device)
    return extend_grid(points.expand(in_features, -1).contiguous(), spline_order)


def grid_points(grid: Tensor, spline_order: int) -> Tensor:
    """The G + 1 grid points (in, G + 1) inside an extended knot vector (in, G + 2k + 1)."""
    k = spline_order
    return grid[:, k : grid.shape[1] - k]


def _fit_points(grid: Tensor, spline_order: int) -> Tensor:
    """The k + 1 Gauss-Legendre nodes of every cell of the grid range: (in, G (k + 1))."""
    nodes, _ = np.polynomial.legendre.leggauss(spline_order + 1)
    frac = torch.as_tensor((nodes + 1) / 2, dtype=grid.dtype, device=grid.device)  # (q,)
    points = grid_points(grid, spline_order)  # (in, G + 1)
    lo, width = points[:, :-1, None], points.diff(dim=1)[:, :, None]  # (in, G, 1)
    return (lo + width * frac).reshape(grid.shape[0], -1)


def refit_coefficients(
    old_grid: Tensor, old_coef: Tensor, new_grid: Tensor, spline_order: int
) -> Tensor:
    """Coefficients on new_grid of the splines closest to the old ones (paper Eq. 2.16).

    c' = argmin_c' sum_x (sum_m c'_m B'_m(x) - sum_m c_m B_m(x))^2 for every edge, with x
    the k + 1 Gauss-Legendre nodes of each cell of the new grid range. Every new basis
    then has k + 1 points in each cell of its support inside the range (Schoenberg-
    Whitney), so the system has full rank whatever the data; scipy's make_lsq_spline
    solves its banded normal equations in float64, one input at a time. The result is
    exact on the grid range when the new knots contain the old ones there.

    old_coef (out, in, G + k) -> new coefficients (out, in, G' + k), in old_coef's dtype.
    """
    k = spline_order
    cpu64 = {"dtype": torch.float64, "device": "cpu"}
    points = _fit_points(new_grid.to(**cpu64), k)  # (in, P)
    local = local_bases(points.t(), prepare_knots(old_grid.to(**cpu64), k))
    # the old splines at the points from their k + 1 non-zero bases: coefficients padded by
    # k zeros each side, so that bases absent at the ends of the knots select zeros
    coef = torch.nn.functional.pad(old_coef.to(**cpu64), (k, k))  # (out, in, G + 3k)
    knots = new_grid.to(**cpu64).numpy()
    solution = np.empty((knots.shape[0], knots.shape[1] - k - 1, old_coef.shape[0]))
    for i in range(knots.shape[0]):
        selected = coef[:, i, local.cell[:, i, None] + torch.arange(k + 1)]  # (out, P, k + 1)
        target = torch.einsum("opr,rp->po", selected, local.values[:, :, i])  # (P, out)
        try:
            fit = make_lsq_spline(
                points[i].numpy(), target.numpy(), knots[i], k=k, method="norm-eq"
            )
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ValueError(f"least-squares refit of input {i}'s spline failed: {error}") from None
        solution[i] = fit.c
    if not np.isfinite(solution).all():
        raise FloatingPointError(
            "least-squares refit of spline coefficients gave non-finite values"
        )
    return torch.as_tensor(solution).permute(2, 0, 1).contiguous().to(old_coef)


def refined_grid_points(points: Tensor, new_grid_size: int) -> Tensor:
    """G' + 1 grid points (in, G' + 1) that follow the spacing of points (in, G + 1).

    The old points are interpolated piecewise linearly at s = j G / G', j = 0..G', so new
    knots contain the old ones when G' is a multiple of G.
    """
    grid_size = points.shape[1] - 1
    s = torch.arange(new_grid_size + 1, dtype=torch.float64) * (grid_size / new_grid_size)
    cell = s.floor().clamp_(max=grid_size - 1).to(torch.int64)
    frac = (s - cell).to(points.dtype).to(points.device)
    cell = cell.to(points.device)
    lo, hi = points[:, cell], points[:, cell + 1]
    return lo + frac * (hi - lo)


def keep_degenerate(points: Tensor, old_points: Tensor) -> Tensor:
    """points (rows, G + 1), except rows whose span is (nearly) zero, as when all samples of
    an input are equal: those keep old_points."""
    span = points[:, -1] - points[:, 0]
    degenerate = span <= 1e-8 * (1 + points.abs().amax(dim=1))
    return torch.where(degenerate[:, None], old_points, points)


def refined_grid(grid: Tensor, spline_order: int, new_grid_size: int) -> Tensor | None:
    """The extended knots (rows, G' + 2k + 1) of grid extension G -> G' >= G (paper §2.4):
    the new points follow the old spacing (refined_grid_points); None when G' = G."""
    check_spline_args(new_grid_size, spline_order)
    grid_size = grid.shape[1] - 2 * spline_order - 1
    if new_grid_size < grid_size:
        raise ValueError(
            f"refine needs new_grid_size >= the current G = {grid_size}, got {new_grid_size}"
        )
    if new_grid_size == grid_size:
        return None
    points = refined_grid_points(grid_points(grid, spline_order), new_grid_size)
    return extend_grid(points, spline_order)


def grid_points_from_samples(
    x: Tensor,
    grid_size: int,
    grid_eps: float,
    bounds: tuple[Tensor, Tensor] | None = None,
    margin: float = 0.0,
) -> Tensor:
    """Grid points (in, G + 1) adapted to samples x (batch, in) (paper §2.4, pykan).

    adaptive: the sorted samples at G + 1 evenly spaced ranks (empirical quantiles, min to
    max); uniform: G + 1 evenly spaced points on [min, max]; the result is
    grid_eps * uniform + (1 - grid_eps) * adaptive, with every interval kept at least
    1e-3 of the uniform spacing so that the knots stay strictly increasing (unless all
    samples of an input are equal: then all its points are that value). bounds (lo, hi),
    each (in,), widen [min, max] to cover them: the domain the inputs come from; margin
    widens it by that fraction of max - min on each side.
    """
    n = x.shape[0]
    ordered = x.sort(dim=0).values.t()  # (in, batch)
    ranks = torch.linspace(0, n - 1, grid_size + 1, device=x.device).round().to(torch.int64)
    adaptive = ordered[:, ranks]  # (in, G + 1)
    lo, hi = ordered[:, :1], ordered[:, -1:]
    if bounds is not None:
        lo = torch.minimum(lo, bounds[0].to(x).unsqueeze(1))
        hi = torch.maximum(hi, bounds[1].to(x).unsqueeze(1))
    if margin:
        lo, hi = lo - margin * (hi - lo), hi + margin * (hi - lo)
    adaptive[:, :1], adaptive[:, -1:] = lo, hi
    steps = torch.linspace(0, 1, grid_size + 1, dtype=x.dtype, device=x.device)
    uniform = lo + (hi - lo) * steps
    points = grid_eps * uniform + (1 - grid_eps) * adaptive
    gaps = torch.maximum(points.diff(dim=1), 1e-3 * (hi - lo) / grid_size)  # (in, G)
    gaps = gaps * ((hi - lo) / gaps.sum(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny))
    return torch.cat([lo, lo + gaps[:, :-1].cumsum(dim=1), hi], dim=1)
