"""The least-squares optimum of a model's last layer: the reference a staged run is held to.

A KAN layer is linear in its coefficients once its grid and inputs are fixed (so are the
RBF and Chebyshev layers): y = F theta, with F the layer's `linear_features` of its inputs.
Least squares on F over the training points gives the lowest training RMSE that layer can
reach with what feeds it. For a single-layer KAN [d, 1] that is the optimum of the whole
model (the same spline space on the same points); for a deeper KAN it is the optimum of
the last layer given the earlier layers as trained, a bound the staged run must meet at
that stage. A train RMSE far above it means the optimiser, not the model, stopped.

The solve is scipy.linalg.lstsq (SVD, gelsd) in float64, so a rank-deficient design (more
bases than points, or bases without points) still gives the minimum-norm optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg
from torch import Tensor, nn

# designs larger than this many entries (float64: 400 MB) are not solved
MAX_DESIGN_ENTRIES = 50_000_000


@dataclass(frozen=True)
class Optimum:
    """rmse: the least-squares train RMSE (None when not computed); scope: 'model' (a
    single-layer model: the optimum of the whole model) or 'last layer'; reason: why it
    was not computed."""

    rmse: float | None
    scope: str | None
    reason: str | None = None


def lstsq_rmse(features: Tensor, target: Tensor) -> float:
    """RMSE of the least-squares fit of target (batch, out) by features (batch, F)."""
    design = features.detach().to("cpu", torch.float64).numpy()
    values = target.detach().to("cpu", torch.float64).numpy()
    solution, *_ = linalg.lstsq(design, values, lapack_driver="gelsd")
    residual = design @ solution - values
    return math.sqrt(float(np.mean(residual**2)))


@torch.no_grad()
def last_layer_optimum(model: nn.Module, x: Tensor, y: Tensor) -> Optimum:
    """The least-squares train RMSE of the model's last layer on inputs x (batch, d) and
    labels y (batch, out), the earlier layers as they are (see the module docstring)."""
    layers = getattr(model, "layers", None)
    if not layers or not hasattr(layers[-1], "linear_features"):
        return Optimum(None, None, "the last layer is not linear in its coefficients")
    for layer in layers[:-1]:
        x = layer(x)
    features = layers[-1].linear_features(x)
    if features.numel() > MAX_DESIGN_ENTRIES:
        return Optimum(None, None, f"design of {features.numel()} entries is too large")
    if not (torch.isfinite(features).all() and torch.isfinite(y).all()):
        return Optimum(None, None, "non-finite inputs to the last layer")
    scope = "model" if len(layers) == 1 else "last layer"
    return Optimum(lstsq_rmse(features, y), scope)
