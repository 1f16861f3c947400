"""Model families: the B-spline KAN, the MLP baseline, and their parameter counts."""

from kanbench.models.kan import KAN, KANLayer
from kanbench.models.mlp import MLP
from kanbench.models.size import (
    CONVENTIONS,
    MatchedWidth,
    count_trainable,
    kan_size,
    match_mlp_width,
    mlp_size,
)

__all__ = [
    "KAN",
    "KANLayer",
    "MLP",
    "CONVENTIONS",
    "MatchedWidth",
    "count_trainable",
    "kan_size",
    "match_mlp_width",
    "mlp_size",
]
