"""The MLP baseline and parameter matching."""

import pytest
import torch

from kanbench.models import MLP, count_trainable, match_mlp_width, mlp_size


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_mlp_count_matches_the_formula(depth):
    model = MLP(d_in=4, depth=depth, width=7, d_out=2)
    assert count_trainable(model) == mlp_size(4, depth, 7, 2)
    assert model(torch.zeros(3, 4)).shape == (3, 2)


@pytest.mark.parametrize("activation", ["silu", "tanh", "relu"])
def test_mlp_activations(activation):
    model = MLP(2, 3, 5, 1, activation=activation)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("target", [50, 417, 10_880, 82_560, 655_360])
def test_matched_width_is_the_best_integer_width(target, depth):
    d_in, d_out = 16, 1
    match = match_mlp_width(target, d_in, depth, d_out)
    # every width past target / (d_in + d_out) already has more than target parameters
    widths = range(1, target // (d_in + d_out) + 2)
    best = min(widths, key=lambda w: (abs(mlp_size(d_in, depth, w, d_out) - target), w))
    assert match.width == best
    assert match.size == mlp_size(d_in, depth, best, d_out)
    assert match.relative_error == pytest.approx((match.size - target) / target)


def test_tiny_targets_give_width_one():
    assert match_mlp_width(1, 3, 2, 1).width == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"d_in": 0, "depth": 2, "width": 3}, "d_in"),
        ({"d_in": 2, "depth": 0, "width": 3}, "depth"),
        ({"d_in": 2, "depth": 2, "width": -1}, "width"),
        ({"d_in": 2, "depth": 2, "width": 3, "activation": "gelu"}, "activation"),
    ],
)
def test_bad_mlp_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MLP(**kwargs)


def test_bad_match_arguments():
    with pytest.raises(ValueError, match="target"):
        match_mlp_width(0, 2, 2)
    with pytest.raises(ValueError, match="depth"):
        match_mlp_width(100, 2, 1)
