"""The Fourier KAN layer against a naive reference, and the properties its docstring states:
exact size-up, a grid update that keeps the function closely, a half-period map that fits
a smooth non-periodic function spectrally."""

import math

import numpy as np
import pytest
import torch

from kanbench.models.fourier import (
    FourierKAN,
    FourierKANLayer,
    fourier_features,
    fourier_kan_size,
)
from kanbench.models.size import count_trainable
from kanbench.optimum import lstsq_rmse


def _layer(n_in=2, n_out=3, grid=5, **options):
    torch.manual_seed(0)
    return FourierKANLayer(n_in, n_out, grid, dtype=torch.float64, **options)


def test_forward_is_the_naive_double_sum_of_edge_series():
    layer = _layer(bias=True)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    a, b = layer.cos_coef.detach().numpy(), layer.sin_coef.detach().numpy()
    lo, hi = layer.lo.numpy(), layer.hi.numpy()
    expected = np.tile(layer.bias.detach().numpy(), (50, 1))
    for n, row in enumerate(x.numpy()):
        for j in range(3):
            for i in range(2):
                t = np.pi / 2 * (2 * row[i] - lo[i] - hi[i]) / (hi[i] - lo[i])
                expected[n, j] += sum(a[j, i, m] * np.cos(m * t) for m in range(6))
                expected[n, j] += sum(b[j, i, m - 1] * np.sin(m * t) for m in range(1, 6))
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_features_order_cosines_then_sines():
    t = torch.tensor([0.3], dtype=torch.float64)
    features = fourier_features(t, 2)[0]
    expected = [1, math.cos(0.3), math.cos(0.6), math.sin(0.3), math.sin(0.6)]
    assert torch.allclose(features, torch.tensor(expected, dtype=torch.float64))


def test_size_up_appends_zeros_and_keeps_the_function_everywhere():
    model = FourierKAN([2, 3, 1], 4, dtype=torch.float64)
    x = torch.rand(100, 2, dtype=torch.float64) * 6 - 3  # inside and outside the range
    before = model(x)
    model.refine(9)
    assert model.size == 9
    assert torch.equal(model.layers[0].sin_coef[..., 4:], torch.zeros(3, 2, 5, dtype=torch.float64))
    assert torch.allclose(model(x), before, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="new_size >= the current G = 9"):
        model.refine(5)


def test_grid_update_keeps_the_function_closely():
    layer = _layer(grid=5)
    x = torch.rand(400, 2, dtype=torch.float64) * 1.6 - 0.8
    before = layer(x)
    layer.update_grid(x)  # the range moves from [-1, 1] to about [-0.8, 0.8]
    assert torch.allclose(layer.lo, x.amin(0)) and torch.allclose(layer.hi, x.amax(0))
    assert (layer(x) - before).norm() < 1e-2 * before.norm()


def test_update_without_refit_keeps_the_coefficients():
    layer = _layer()
    coef = layer.coefficients().detach().clone()
    layer.update_grid(torch.rand(20, 2, dtype=torch.float64) + 3, refit=False)
    assert torch.equal(layer.coefficients(), coef) and layer.lo.min() >= 3


def test_half_period_map_fits_a_smooth_non_periodic_function_spectrally():
    x = torch.linspace(-1, 1, 1000, dtype=torch.float64)[:, None]
    y = torch.exp(x)
    errors = {g: lstsq_rmse(_layer(1, 1, g).linear_features(x), y) for g in (3, 10)}
    assert errors[3] < 1e-2 and errors[10] < 1e-7  # a full period: 0.17 at G = 10


def test_count_matches_the_built_model():
    for widths, grid, bias in (([2, 1], 3, False), ([3, 5, 2, 1], 7, True)):
        model = FourierKAN(widths, grid, bias=bias)
        assert count_trainable(model) == fourier_kan_size(widths, grid, bias)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"grid_size": 0}, "grid_size"),
        ({"grid_range": (1.0, -1.0)}, "grid_range"),
        ({"in_features": 0}, "in_features"),
    ],
)
def test_bad_arguments_name_themselves(options, message):
    arguments = {"in_features": 2, "out_features": 1, **options}
    with pytest.raises(ValueError, match=message):
        FourierKANLayer(**arguments)


def test_wrong_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 2\)"):
        _layer()(torch.zeros(4, 3, dtype=torch.float64))
