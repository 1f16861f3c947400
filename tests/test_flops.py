"""FLOPs per sample: the three KAN conventions and the MLP, on hand-computed cases."""

import pytest

from kanbench.flops import SILU_FLOPS, kan_flops, mlp_flops


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
