"""B-spline bases and grid operations against scipy and against their defining properties."""

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanbench.models import bspline, grids

pytestmark = pytest.mark.usefixtures("float64")


def _random_grid(n_in, grid_size, k, generator):
    points = torch.rand(n_in, grid_size + 1, generator=generator) * 2 - 1
    points = points.sort(dim=1).values
    return bspline.extend_grid(points, k)


def _scipy_bases(x, knots, k):
    """Every B_m on one knot vector by scipy: the spline with coefficients e_m, which
    outside the base interval [t_k, t_{G+k}] extrapolates its boundary pieces."""
    n_bases = len(knots) - k - 1
    columns = [BSpline(knots, np.eye(n_bases)[m], k, extrapolate=True)(x) for m in range(n_bases)]
    return np.stack(columns, axis=1)


def _assert_bases_close(actual, expected, x, knots, k):
    """Equal to 1e-12 on the grid range; beyond it, where the extrapolated pieces grow as
    u^k and cancel, to 1e-9 of the bases' magnitude there."""
    lo, hi = knots[k], knots[len(knots) - 1 - k]
    inside = (x >= lo) & (x <= hi)
    magnitude = np.abs(expected).sum(axis=1, keepdims=True)
    tolerance = np.where(inside[:, None], 1e-12, 1e-9 * np.maximum(magnitude, 1.0))
    assert (np.abs(actual - expected) <= tolerance).all()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("uniform", [True, False])
def test_basis_matches_scipy(k, uniform):
    generator = torch.Generator().manual_seed(k)
    grid = grids.uniform_grid(3, 7, k, (-1.0, 1.0)) if uniform else _random_grid(3, 7, k, generator)
    assert bspline.is_uniform(grid) == uniform
    # cover the extension region and points beyond the knots, where the boundary cells'
    # pieces are extrapolated
    span = grid.abs().max()
    x = (torch.rand(500, 3, generator=generator) * 2 - 1) * span * 1.1
    bases = bspline.bspline_basis(x, grid, k)
    for i in range(3):
        expected = _scipy_bases(x[:, i].numpy(), grid[i].numpy(), k)
        _assert_bases_close(bases[:, i].numpy(), expected, x[:, i].numpy(), grid[i].numpy(), k)


@pytest.mark.parametrize("uniform", [True, False])
def test_bases_sum_to_one_inside_the_grid_range(uniform):
    generator = torch.Generator().manual_seed(0)
    k = 3
    grid = grids.uniform_grid(4, 9, k) if uniform else _random_grid(4, 9, k, generator)
    points = grids.grid_points(grid, k)
    x = points[:, :1].t() + (points[:, -1:] - points[:, :1]).t() * torch.rand(
        1000, 4, generator=generator
    )
    total = bspline.bspline_basis(x, grid, k).sum(-1)
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-13, rtol=0)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("uniform", [True, False])
def test_basis_gradient_passes_gradcheck(k, uniform):
    generator = torch.Generator().manual_seed(1)
    grid = grids.uniform_grid(2, 5, k) if uniform else _random_grid(2, 5, k, generator)
    x = (torch.rand(40, 2, generator=generator) * 2 - 1) * 1.3
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: bspline.bspline_basis(z, grid, k), (x,))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_pointwise_bases_and_chain_rule_match_scipy_and_autograd(k):
    """The compiled dense form's pointwise formulas, here in eager torch."""
    generator = torch.Generator().manual_seed(k)
    grid = grids.uniform_grid(3, 7, k, (-1.0, 1.0))
    knots = bspline.prepare_knots(grid, k)
    pieces = bspline.cardinal_piece_table(k, torch.float64, torch.device("cpu"))
    x = (torch.rand(400, 3, generator=generator) * 2 - 1) * grid.abs().max() * 1.1
    args = (knots.origin, knots.inv_width, pieces, knots.cells)
    bases = bspline.pointwise_dense_bases(x, *args, knots.n_bases)  # (batch, G + k, in)
    for i in range(3):
        expected = _scipy_bases(x[:, i].numpy(), grid[i].numpy(), k)
        _assert_bases_close(bases[:, :, i].numpy(), expected, x[:, i].numpy(), grid[i].numpy(), k)
    grad_bases = torch.randn(bases.shape, generator=generator)
    x_grad = x.clone().requires_grad_()
    reference = bspline.bspline_basis(x_grad, grid, k).transpose(1, 2)
    (expected,) = torch.autograd.grad(reference, x_grad, grad_bases)
    torch.testing.assert_close(
        bspline.pointwise_chain(x, grad_bases, *args), expected, atol=1e-12, rtol=1e-12
    )


def test_uniform_detection_survives_float32_rounding():
    for grid_size in (3, 10, 1000):
        grid = grids.uniform_grid(2, grid_size, 3, (0.3, 7.7), dtype=torch.float32)
        assert bspline.is_uniform(grid)
    grid = grids.uniform_grid(1, 10, 3)
    grid[0, 7] += 1e-6
    assert not bspline.is_uniform(grid)


def test_refit_is_exact_when_new_knots_contain_the_old():
    generator = torch.Generator().manual_seed(2)
    k = 3
    old = _random_grid(2, 6, k, generator)
    coef = torch.randn(3, 2, 6 + k, generator=generator)
    points = grids.refined_grid_points(grids.grid_points(old, k), 18)
    new = bspline.extend_grid(points, k)
    new_coef = grids.refit_coefficients(old, coef, new, k)
    inner = grids.grid_points(old, k)
    x = inner[:, :1].t() + (inner[:, -1:] - inner[:, :1]).t() * torch.rand(500, 2)
    before = bspline.spline_values(x, old, coef, k)
    after = bspline.spline_values(x, new, new_coef, k)
    torch.testing.assert_close(after, before, atol=1e-11, rtol=0)


def test_refit_keeps_the_old_knots_as_a_subset():
    points = torch.tensor([[-1.0, -0.2, 0.1, 1.0]])
    refined = grids.refined_grid_points(points, 9)
    assert torch.isin(points, refined).all()
    assert (refined.diff(dim=1) > 0).all()


def test_grid_from_samples_mixes_quantiles_and_uniform():
    x = torch.cat([torch.zeros(900, 1).uniform_(-1, 0), torch.zeros(100, 1).uniform_(0, 1)])
    uniform = grids.grid_points_from_samples(x, 4, grid_eps=1.0)
    adaptive = grids.grid_points_from_samples(x, 4, grid_eps=0.0)
    torch.testing.assert_close(uniform.diff(dim=1), uniform.diff(dim=1).mean().expand(1, 4))
    assert adaptive[0, 0] == x.min() and adaptive[0, -1] == x.max()
    # three quarters of the adaptive points fall where nine tenths of the samples are
    assert (adaptive[0, 1:-1] < 0).all()
    constant = grids.grid_points_from_samples(torch.zeros(50, 1), 3, grid_eps=0.0)
    assert torch.isfinite(constant).all()


def test_bad_spline_arguments_name_the_argument():
    with pytest.raises(ValueError, match="grid_size"):
        grids.uniform_grid(2, 0, 3)
    with pytest.raises(ValueError, match="spline_order"):
        grids.uniform_grid(2, 5, 0)
    with pytest.raises(ValueError, match="grid_range"):
        grids.uniform_grid(2, 5, 3, (1.0, -1.0))
    with pytest.raises(ValueError, match="shape"):
        bspline.bspline_basis(torch.zeros(4, 3), grids.uniform_grid(2, 5, 3), 3)


@pytest.mark.parametrize("uniform", [True, False])
def test_a_nan_input_gives_nan_bases_not_an_index_error(uniform):
    generator = torch.Generator().manual_seed(3)
    grid = grids.uniform_grid(2, 6, 3) if uniform else _random_grid(2, 6, 3, generator)
    x = torch.tensor([[0.1, float("nan")], [0.2, 0.3]])
    bases = bspline.bspline_basis(x, grid, 3)
    assert torch.isnan(bases[0, 1]).any() and torch.isfinite(bases[1]).all()
