"""FLOPs per sample of a forward pass of a KAN and of an MLP, in three named conventions.

A FLOP is one multiply or one add (a multiply-add is 2). Every convention counts a KAN
layer of in -> out edges as its spline part plus the same base branch, silu(x) w_b^T:
2 in out for the matrix product and SILU_FLOPS per input for silu (the conventions of
Yu et al. 2024, "KAN or MLP: A Fairer Comparison"):

- "dense" (basis + GEMM, efficient-kan's and kanbench's dense form): the G + k bases of
  every input meet the coefficients in one matrix product, 2 in out (G + k).
- "sparse" (local support, kanbench's sparse form): only the k + 1 non-zero bases of an
  input are used, 2 in out (k + 1), whatever G.
- "pykan" (the Cox-de Boor recursion evaluated on every edge, as pykan does; Yu et al.
  2024, "KAN or MLP: A Fairer Comparison", appendix): in out (9 k (G + 1.5 k) + 2 G -
  2.5 k + 1) per layer, about 200 per edge at G = k = 3.

None of them counts the basis evaluation of the dense and sparse forms (O(in k^2) per
layer, small beside the products when out is large). An MLP layer in -> out costs 2 in out
+ out (bias), plus SILU_FLOPS per hidden unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

FLOP_CONVENTIONS = ("dense", "sparse", "pykan")
SILU_FLOPS = 5  # x * sigmoid(x): exp, add, divide, multiply, negate (Yu et al.'s count)


def kan_flops(widths: Sequence[int], grid_size: int, spline_order: int, convention: str) -> float:
    """FLOPs per sample of a KAN of shape widths at grid G and order k (module docstring)."""
    if convention not in FLOP_CONVENTIONS:
        raise ValueError(f"convention must be one of {FLOP_CONVENTIONS}, got {convention!r}")
    g, k = grid_size, spline_order
    per_edge = {
        "dense": 2 * (g + k),
        "sparse": 2 * (k + 1),
        "pykan": 9 * k * (g + 1.5 * k) + 2 * g - 2.5 * k + 1,
    }[convention]
    return float(
        sum(n_in * n_out * (per_edge + 2) + SILU_FLOPS * n_in for n_in, n_out in pairwise(widths))
    )


def mlp_flops(d_in: int, depth: int, width: int, d_out: int = 1) -> float:
    """FLOPs per sample of an MLP with depth linear layers of hidden width (module docstring)."""
    sizes = [d_in] + [width] * (depth - 1) + [d_out]
    products = sum(2 * a * b + b for a, b in pairwise(sizes))
    return float(products + SILU_FLOPS * width * (depth - 1))
