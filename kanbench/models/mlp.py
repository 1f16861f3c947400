"""The MLP baseline: depth linear layers of a common hidden width, one activation between."""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

ACTIVATIONS = {"silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU}


class MLP(nn.Module):
    """d_in -> width -> ... -> width -> d_out with `depth` linear layers (depth - 1 hidden).

    depth = 1 is a linear model (width unused). Parameters: weights and biases of every
    linear layer, initialised as torch.nn.Linear does.
    """

    def __init__(
        self,
        d_in: int,
        depth: int,
        width: int,
        d_out: int = 1,
        activation: str = "silu",
        dtype=None,
        device=None,
    ):
        super().__init__()
        for name, value in (("d_in", d_in), ("depth", depth), ("width", width), ("d_out", d_out)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.d_in, self.depth, self.width, self.d_out = d_in, depth, width, d_out
        self.activation = activation
        sizes = [d_in] + [width] * (depth - 1) + [d_out]
        layers: list[nn.Module] = []
        for n_in, n_out in pairwise(sizes):
            layers += [
                nn.Linear(n_in, n_out, dtype=dtype, device=device),
                ACTIVATIONS[activation](),
            ]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: Tensor) -> Tensor:
        """(batch, d_in) -> (batch, d_out)."""
        return self.net(x)
