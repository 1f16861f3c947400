"""FLOPs per sample of a forward pass of each model family, and of a training step.

A FLOP is one multiply or one add (a multiply-add is 2); a matrix product (batch, n) @
(n, out) is 2 n out per sample, as torch.utils.flop_counter counts it (terms summed by
separate products into one output count as one product over the stacked inner
dimension). An exp, tanh, sin or cos counts FUNCTION_FLOPS (1) and silu SILU_FLOPS (5).

The B-spline KAN, in three named conventions (FLOP_CONVENTIONS). Every convention counts
a layer of in -> out edges as its spline part plus the same base branch, silu(x) w_b^T:
2 in out for the matrix product and SILU_FLOPS per input for silu (the conventions of
Yu et al. 2024, "KAN or MLP: A Fairer Comparison"):

- "dense" (basis + GEMM, efficient-kan's and kanbench's dense form): the G + k bases of
  every input meet the coefficients in one matrix product, 2 in out (G + k).
- "sparse" (local support, kanbench's sparse form): only the k + 1 non-zero bases of an
  input are used, 2 in out (k + 1), whatever G.
- "pykan" (the Cox-de Boor recursion evaluated on every edge, as pykan does; Yu et al.
  2024, "KAN or MLP: A Fairer Comparison", appendix): in out (9 k (G + 1.5 k) + 2 G -
  2.5 k + 1) per layer, about 200 per edge at G = k = 3.

`kan_flops` (what kanbench-bench reports) counts none of the basis evaluation of the dense
and sparse forms. The family counts below (`*_count`, a FlopCount of matrix products and
pointwise work) do, so that families whose bases cost differently compare fairly; per
layer of in -> out, with b = 1 when the layer has a bias (its out adds), else 0:

- KAN (`kan_count`, dense or sparse): the convention's products and base branch, plus
  bspline_basis_flops(k) = 2 k (k + 1) + k + 3 per input, as kanbench.models.bspline
  evaluates the k + 1 non-zero bases on uniform knots: the cell coordinate u = s -
  floor(s), s = (x - t_0) / h (4), the powers u^2..u^k (k - 1), and the k + 1 pieces, a
  (k + 1) x k matrix times (u, .., u^k) plus their constants (2 k (k + 1)); + b out.
  The registry counts the KAN and the grouped KAN in the dense convention, the
  arithmetic of a GEMM evaluation, whichever form ran (kanbench's "auto" form runs the
  sparse one for layers of at most 4 edges and from G + k > 5 (k + 1); and it keeps the
  first layer's bases from one loss evaluation to the next, which no count here does).
- RBF KAN (`rbf_kan_count`): 2 in out (G + 1) for the G Gaussians and silu meeting
  their coefficients, GAUSSIAN_FLOPS (5: subtract the centre, divide by the width,
  square, negate, exp) per input and centre, SILU_FLOPS per input, LAYERNORM_FLOPS (7)
  per input with layernorm, + b out.
- Chebyshev KAN (`cheby_kan_count`): 2 in out (D + 1) for T_0..T_D meeting their
  coefficients, the input map per input (tanh: 1; range (2 x - lo - hi) / (hi - lo): 4)
  and the recurrence T_{n+1} = 2 z T_n - T_{n-1}, 3 per term from T_2 on: 3 (D - 1) per
  input, + b out.
- Fourier KAN (`fourier_kan_count`): 2 in out (2G + 1) for the features meeting their
  coefficients; per input the phase t = (pi/2)(2 x - lo - hi) / (hi - lo) (5), the G + 1
  angles m t (G + 1) and their G + 1 cosines and G sines (2G + 1): 3G + 7, + b out.
- Grouped KAN (`grouped_kan_count`, dense or sparse): each input's bases meet its group's
  R splines, 2 in R (G + k) (dense; 2 in R (k + 1) sparse), the R splines of every input
  are mixed into the outputs, 2 in R out, the base branch 2 in out + SILU_FLOPS in, the
  bases bspline_basis_flops(k) per input, + b out (the count does not depend on the
  number of groups).
- MLP (`mlp_count`; with silu, = mlp_flops): a linear layer in -> out costs 2 in out +
  out (bias), plus the activation per hidden unit (silu SILU_FLOPS, tanh and relu 1).

Training: a loss evaluation on n samples costs (1 + BACKWARD_PER_FORWARD) x forward x n
FLOPs (`train_flops`): backward = 2 x forward, the usual count for matrix products (the
gradients with respect to a product's input and to its weights are each a product of the
same size; the first layer needs no input gradient, so this is an upper bound there).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

FLOP_CONVENTIONS = ("dense", "sparse", "pykan")
SILU_FLOPS = 5  # x * sigmoid(x): exp, add, divide, multiply, negate (Yu et al.'s count)
FUNCTION_FLOPS = 1  # exp, tanh, sin, cos: one each, as SILU_FLOPS counts its exp
GAUSSIAN_FLOPS = 5  # exp(-((z - mu) / h)^2): subtract, divide, square, negate, exp
LAYERNORM_FLOPS = 7  # per input: mean, centre, square, sum, normalise, scale, shift
ACTIVATION_FLOPS = {"silu": SILU_FLOPS, "tanh": FUNCTION_FLOPS, "relu": 1}  # an MLP's
BACKWARD_PER_FORWARD = 2  # backward FLOPs = 2 x forward FLOPs (module docstring)
FAMILY_CONVENTIONS = ("dense", "sparse")  # the KAN conventions kan_count takes


class FlopCount(NamedTuple):
    """FLOPs per sample of a forward pass: `products` (the matrix products, what
    torch.utils.flop_counter counts) and `pointwise` (bases, activations, biases)."""

    products: float
    pointwise: float

    @property
    def total(self) -> float:
        return float(self.products + self.pointwise)


def _check_convention(convention: str, allowed: Sequence[str] = FLOP_CONVENTIONS) -> None:
    if convention not in allowed:
        raise ValueError(f"convention must be one of {tuple(allowed)}, got {convention!r}")


def _layers(widths: Sequence[int]) -> list[tuple[int, int]]:
    return list(pairwise(widths))


def bspline_basis_flops(spline_order: int) -> float:
    """FLOPs of the k + 1 non-zero B-spline bases of one input: 2 k (k + 1) + k + 3
    (module docstring)."""
    k = spline_order
    return float(2 * k * (k + 1) + k + 3)


def kan_flops(widths: Sequence[int], grid_size: int, spline_order: int, convention: str) -> float:
    """FLOPs per sample of a KAN of shape widths at grid G and order k (module docstring),
    without the basis evaluation of the dense and sparse forms."""
    _check_convention(convention)
    g, k = grid_size, spline_order
    per_edge = {
        "dense": 2 * (g + k),
        "sparse": 2 * (k + 1),
        "pykan": 9 * k * (g + 1.5 * k) + 2 * g - 2.5 * k + 1,
    }[convention]
    return float(
        sum(n_in * n_out * (per_edge + 2) + SILU_FLOPS * n_in for n_in, n_out in _layers(widths))
    )


def _spline_terms(grid_size: int, spline_order: int, convention: str) -> int:
    """Bases per input that meet coefficients: G + k (dense) or k + 1 (sparse)."""
    _check_convention(convention, FAMILY_CONVENTIONS)
    return grid_size + spline_order if convention == "dense" else spline_order + 1


def kan_count(
    widths: Sequence[int],
    grid_size: int,
    spline_order: int,
    convention: str = "dense",
    bias: bool = False,
) -> FlopCount:
    """A B-spline KAN's forward FLOPs per sample, bases included (module docstring)."""
    terms = _spline_terms(grid_size, spline_order, convention)
    basis = bspline_basis_flops(spline_order)
    products = sum(2 * a * b * (terms + 1) for a, b in _layers(widths))
    pointwise = sum((SILU_FLOPS + basis) * a + b * bias for a, b in _layers(widths))
    return FlopCount(float(products), float(pointwise))


def rbf_kan_count(
    widths: Sequence[int], n_centres: int, layernorm: bool = False, bias: bool = False
) -> FlopCount:
    """An RBF KAN's forward FLOPs per sample with G = n_centres (module docstring)."""
    g = n_centres
    products = sum(2 * a * b * (g + 1) for a, b in _layers(widths))
    per_input = GAUSSIAN_FLOPS * g + SILU_FLOPS + LAYERNORM_FLOPS * layernorm
    pointwise = sum(per_input * a + b * bias for a, b in _layers(widths))
    return FlopCount(float(products), float(pointwise))


def cheby_kan_count(
    widths: Sequence[int], degree: int, input_map: str = "tanh", bias: bool = False
) -> FlopCount:
    """A Chebyshev KAN's forward FLOPs per sample at degree D (module docstring)."""
    if input_map not in ("tanh", "range"):
        raise ValueError(f"input_map must be one of ('tanh', 'range'), got {input_map!r}")
    d = degree
    mapping = FUNCTION_FLOPS if input_map == "tanh" else 4
    products = sum(2 * a * b * (d + 1) for a, b in _layers(widths))
    per_input = mapping + 3 * max(d - 1, 0)
    pointwise = sum(per_input * a + b * bias for a, b in _layers(widths))
    return FlopCount(float(products), float(pointwise))


def fourier_kan_count(widths: Sequence[int], grid_size: int, bias: bool = False) -> FlopCount:
    """A Fourier KAN's forward FLOPs per sample up to frequency G (module docstring)."""
    g = grid_size
    products = sum(2 * a * b * (2 * g + 1) for a, b in _layers(widths))
    per_input = 5 + (g + 1) + FUNCTION_FLOPS * (2 * g + 1)
    pointwise = sum(per_input * a + b * bias for a, b in _layers(widths))
    return FlopCount(float(products), float(pointwise))


def grouped_kan_count(
    widths: Sequence[int],
    grid_size: int,
    spline_order: int,
    rank: int,
    convention: str = "dense",
    bias: bool = False,
) -> FlopCount:
    """A grouped KAN's forward FLOPs per sample with rank R (module docstring)."""
    terms = _spline_terms(grid_size, spline_order, convention)
    r = rank
    products = sum(2 * a * r * terms + 2 * a * r * b + 2 * a * b for a, b in _layers(widths))
    per_input = SILU_FLOPS + bspline_basis_flops(spline_order)
    pointwise = sum(per_input * a + b * bias for a, b in _layers(widths))
    return FlopCount(float(products), float(pointwise))


def mlp_count(
    d_in: int, depth: int, width: int, d_out: int = 1, activation: str = "silu"
) -> FlopCount:
    """An MLP's forward FLOPs per sample: weights as products, biases and the activation
    (ACTIVATION_FLOPS per hidden unit) pointwise."""
    if activation not in ACTIVATION_FLOPS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATION_FLOPS)}, got {activation!r}")
    sizes = [d_in] + [width] * (depth - 1) + [d_out]
    products = sum(2 * a * b for a, b in pairwise(sizes))
    hidden = ACTIVATION_FLOPS[activation] * width * (depth - 1)
    pointwise = sum(b for _, b in pairwise(sizes)) + hidden
    return FlopCount(float(products), float(pointwise))


def mlp_flops(d_in: int, depth: int, width: int, d_out: int = 1) -> float:
    """FLOPs per sample of an MLP with depth linear layers of hidden width (module docstring)."""
    return mlp_count(d_in, depth, width, d_out).total


def train_flops(forward_per_sample: float, samples: int, evaluations: int) -> float:
    """FLOPs of `evaluations` loss evaluations (forward and backward) on `samples`
    samples each: (1 + BACKWARD_PER_FORWARD) x forward_per_sample x samples x evaluations."""
    return float((1 + BACKWARD_PER_FORWARD) * forward_per_sample * samples * evaluations)
