"""FLOPs per sample: the three KAN conventions and the MLP on hand-computed cases, and
each family's count against torch's FlopCounterMode and by hand."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kanbench.families import FAMILIES
from kanbench.flops import (
    BACKWARD_PER_FORWARD,
    SILU_FLOPS,
    bspline_basis_flops,
    cheby_kan_count,
    fourier_kan_count,
    grouped_kan_count,
    kan_count,
    kan_flops,
    mlp_count,
    mlp_flops,
    rbf_kan_count,
    train_flops,
)
from kanbench.models import MLP, RBFKAN, ChebyKAN, GroupedKAN
from kanbench.models.fourier import FourierKAN
from kanbench.models.kan import KANLayer


def test_kan_flops_of_a_two_edge_layer_by_hand():
    # [2, 1] at G = k = 3: 2 edges, base branch 2 per edge, silu 5 per input (2 inputs)
    assert kan_flops([2, 1], 3, 3, "dense") == 2 * (2 * 6 + 2) + 2 * 5  # 38
    assert kan_flops([2, 1], 3, 3, "sparse") == 2 * (2 * 4 + 2) + 2 * 5  # 30
    # Yu et al.: 9 k (G + 1.5 k) + 2 G - 2.5 k + 1 = 202.5 + 6 - 7.5 + 1 = 202 per edge
    assert kan_flops([2, 1], 3, 3, "pykan") == 2 * (202 + 2) + 2 * 5  # 418


def test_mlp_flops_by_hand():
    # 2 -> 3 -> 1: 2*2*3 + 3 + 2*3*1 + 1 = 22, and silu on the 3 hidden units
    assert mlp_flops(2, 2, 3, 1) == 22 + 3 * SILU_FLOPS


def test_sparse_flops_do_not_grow_with_the_grid_and_dense_ones_do():
    widths = [4, 8, 1]
    assert kan_flops(widths, 1000, 3, "sparse") == kan_flops(widths, 5, 3, "sparse")
    edges = 4 * 8 + 8
    step = kan_flops(widths, 6, 3, "dense") - kan_flops(widths, 5, 3, "dense")
    assert step == 2 * edges


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="convention must be one of"):
        kan_flops([2, 1], 3, 3, "recursive")


# --------------------------------------------------------------------------- families
# Reference: torch.utils.flop_counter.FlopCounterMode counts the matrix products a forward
# pass runs (2 m n k each), which is the `products` part of each family count; the dense
# KAN form adds its products in place (addmm_), which the counter does not know, so it is
# mapped to addmm's count. Tolerance: exact (the counts are integers).

B = 8  # samples
SHAPE = [3, 4, 2]


def _addmm_flops(sum_shape, a_shape, b_shape, *args, **kwargs) -> int:
    """addmm_(c, a, b): 2 m n k, as FlopCounterMode counts addmm."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _counted(model, x, backward=False):
    """(forward, backward) matrix-product FLOPs per sample that FlopCounterMode sees."""
    mapping = {torch.ops.aten.addmm_: _addmm_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as forward:
        y = model(x)
    with FlopCounterMode(display=False, custom_mapping=mapping) as back:
        if backward:
            y.sum().backward()
    return forward.get_total_flops() / x.shape[0], back.get_total_flops() / x.shape[0]


def _inputs(n_in, grad=False):
    torch.manual_seed(0)
    return (2 * torch.rand(B, n_in, dtype=torch.float64) - 1).requires_grad_(grad)


FAMILY_CASES = {
    "rbfkan": (lambda: RBFKAN(SHAPE, 6, dtype=torch.float64), rbf_kan_count(SHAPE, 6)),
    "rbfkan layernorm": (
        lambda: RBFKAN(SHAPE, 6, layernorm=True, dtype=torch.float64),
        rbf_kan_count(SHAPE, 6, layernorm=True),
    ),
    "chebykan": (lambda: ChebyKAN(SHAPE, 4, dtype=torch.float64), cheby_kan_count(SHAPE, 4)),
    "fourierkan": (lambda: FourierKAN(SHAPE, 4, dtype=torch.float64), fourier_kan_count(SHAPE, 4)),
    "mlp": (lambda: MLP(3, 3, 5, 2, dtype=torch.float64), mlp_count(3, 3, 5, 2)),
}


@pytest.mark.parametrize("name", FAMILY_CASES)
def test_family_products_equal_the_flop_counter(name):
    build, count = FAMILY_CASES[name]
    forward, _ = _counted(build(), _inputs(3))
    assert forward == count.products


@pytest.mark.parametrize("groups", [1, None])
def test_grouped_kan_products_equal_the_flop_counter_whatever_the_groups(groups):
    # the counter also sees the bases' own small product in every layer (kanbench
    # evaluates the k + 1 pieces as a matrix times the powers of u), 2 k (k + 1) per
    # input, and 4 k (k + 1) where the input needs a gradient (the slopes too: layer 2)
    model = GroupedKAN(SHAPE, 5, 3, groups=groups, rank=2, form="dense", dtype=torch.float64)
    forward, _ = _counted(model, _inputs(3))
    k = 3
    bases = 2 * k * (k + 1) * SHAPE[0] + 4 * k * (k + 1) * SHAPE[1]
    assert forward == grouped_kan_count(SHAPE, 5, 3, rank=2).products + bases


def test_dense_kan_layer_products_and_bases_equal_the_flop_counter():
    # one layer whose input needs no gradient: its products, and of its bases the
    # (k + 1) x k matrix times the powers, 2 k (k + 1) per input
    for g, k in ((5, 3), (10, 2)):
        layer = KANLayer(3, 4, g, k, form="dense", dtype=torch.float64)
        forward, _ = _counted(layer, _inputs(3))
        assert forward == kan_count([3, 4], g, k).products + 2 * k * (k + 1) * 3


def test_pointwise_parts_by_hand():
    # [2, 1] KAN at G = 5, k = 3, bias: silu 5 + bases 2*3*4 + 3 + 3 = 35 per input, 1 bias
    assert bspline_basis_flops(3) == 2 * 3 * 4 + 3 + 3
    assert kan_count([2, 1], 5, 3, bias=True).pointwise == 2 * (5 + 30) + 1
    # the dense count is kan_flops (bench) plus the bases (and biases)
    for shape, g in (([2, 5, 1], 3), ([4, 8, 1], 20)):
        count = kan_count(shape, g, 3)
        bases = sum(shape[:-1]) * bspline_basis_flops(3)
        assert count.total == kan_flops(shape, g, 3, "dense") + bases
    # RBF [2, 1], G = 4: 5 per Gaussian x 4 + silu 5 per input (+ 7 with layernorm)
    assert rbf_kan_count([2, 1], 4).pointwise == 2 * (20 + 5)
    assert rbf_kan_count([2, 1], 4, layernorm=True).pointwise == 2 * (20 + 5 + 7)
    # Chebyshev [2, 1], D = 4: tanh 1 + T_2..T_4 at 3 each; range map 4 instead of tanh
    assert cheby_kan_count([2, 1], 4).pointwise == 2 * (1 + 9)
    assert cheby_kan_count([2, 1], 4, input_map="range").pointwise == 2 * (4 + 9)
    # Fourier [2, 1], G = 3: phase 5, angles 4, cos 4 + sin 3
    assert fourier_kan_count([2, 1], 3).pointwise == 2 * (5 + 4 + 7)
    # MLP 2 -> 3 -> 1: biases 3 + 1, silu on 3 hidden units; tanh costs 1 per unit
    assert mlp_count(2, 2, 3).pointwise == 4 + 3 * SILU_FLOPS
    assert mlp_count(2, 2, 3, activation="tanh").pointwise == 4 + 3
    assert mlp_count(2, 2, 3).total == mlp_flops(2, 2, 3)


@pytest.mark.parametrize("name", ["rbfkan", "fourierkan", "mlp"])
def test_backward_is_twice_the_forward_products_when_the_input_needs_a_gradient(name):
    # the convention backward = 2 x forward is exact for the products then, and an upper
    # bound when the first layer needs no input gradient (as in training)
    build, _ = FAMILY_CASES[name]
    forward, backward = _counted(build(), _inputs(3, grad=True), backward=True)
    assert backward == BACKWARD_PER_FORWARD * forward
    forward, backward = _counted(build(), _inputs(3), backward=True)
    assert backward <= BACKWARD_PER_FORWARD * forward


def test_every_registry_family_counts_its_flops_and_they_grow_with_its_size():
    for name, entry in FAMILIES.items():
        assert entry.flops is not None, name
        config = entry.schema()
        shape = [2, 3, 1] if entry.staged else [2, 1]
        small, large = (entry.flops(config, shape, size) for size in (3, 6))
        assert 0 < small < large, name


def test_train_flops_are_three_forwards_per_sample_and_evaluation():
    assert train_flops(100.0, 10, 7) == 3 * 100 * 10 * 7


def test_bad_family_options_are_refused():
    with pytest.raises(ValueError, match="convention must be one of"):
        kan_count([2, 1], 3, 3, "pykan")
    with pytest.raises(ValueError, match="input_map must be one of"):
        cheby_kan_count([2, 1], 3, "sine")
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_count(2, 2, 3, activation="gelu")
