"""Model families: the B-spline KAN, its variants (RBF, Chebyshev, grouped), the MLP
baseline, and their parameter counts."""

from kanbench.models.chebyshev import ChebyKAN, ChebyKANLayer
from kanbench.models.grouped import GroupedKAN, GroupedKANLayer
from kanbench.models.kan import KAN, KANLayer
from kanbench.models.mlp import MLP
from kanbench.models.rbf import RBFKAN, RBFKANLayer
from kanbench.models.size import (
    CONVENTIONS,
    MatchedWidth,
    cheby_kan_size,
    count_trainable,
    grouped_kan_size,
    kan_size,
    match_mlp_width,
    mlp_size,
    rbf_kan_size,
)
from kanbench.models.stack import LayerStack

__all__ = [
    "KAN",
    "KANLayer",
    "RBFKAN",
    "RBFKANLayer",
    "ChebyKAN",
    "ChebyKANLayer",
    "GroupedKAN",
    "GroupedKANLayer",
    "LayerStack",
    "MLP",
    "CONVENTIONS",
    "MatchedWidth",
    "count_trainable",
    "kan_size",
    "rbf_kan_size",
    "cheby_kan_size",
    "grouped_kan_size",
    "match_mlp_width",
    "mlp_size",
]
