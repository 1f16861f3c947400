"""A KAN drawn as a network (paper §2.5, Fig. 2.4): nodes in rows, one small plot per edge.

Every kept edge (i, j) of layer li is a line from input node i to output node j with a
small plot of phi_ji over the samples that reach it at its middle; its opacity is
tanh(beta A) with A = |phi_ji|_1 (the mean of |phi_ji| over the samples, as the
regularisation uses it) and beta = 3. Symbolic edges are drawn in red and labelled
with their function; spline edges in black; masked edges are not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from kanbench.interpret.prune import edge_norms  # noqa: E402
from kanbench.interpret.symbolic import edge_samples  # noqa: E402
from kanbench.models import KAN  # noqa: E402

BETA = 3.0


def edge_opacity(l1: Tensor, beta: float = BETA) -> Tensor:
    """tanh(beta A) of edge magnitudes A."""
    return torch.tanh(beta * l1)


def plot_network(
    model: KAN,
    x: Tensor,
    path: str | Path,
    beta: float = BETA,
    variables: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Draw model on samples x (batch, n_0) of its input to path (PNG or PDF)."""
    if not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a positive number, got {beta!r}")
    norms = edge_norms(model, x)  # checks x
    widths, depth = model.widths, len(model.widths) - 1
    fig_w = max(4.0, 1.6 * max(widths))
    fig = plt.figure(figsize=(fig_w, 2.4 * depth + 0.8))
    canvas = fig.add_axes((0, 0, 1, 1))
    canvas.set_xlim(0, 1)
    canvas.set_ylim(0, 1)
    canvas.axis("off")

    def position(level: int, node: int) -> tuple[float, float]:
        return (node + 0.5) / widths[level], 0.06 + 0.86 * level / depth

    inset = 0.32 / max(widths)
    for li, layer in enumerate(model.layers):
        opacity = edge_opacity(norms[li], beta)
        for j in range(layer.out_features):
            for i in range(layer.in_features):
                if layer.mask[j, i] == 0:
                    continue
                alpha = float(opacity[j, i])
                fixed = layer.symbolic_edge(i, j)
                color = "tab:red" if fixed else "black"
                (x0, y0), (x1, y1) = position(li, i), position(li + 1, j)
                canvas.plot([x0, x1], [y0, y1], color=color, alpha=alpha, lw=0.8)
                h, phi = edge_samples(model, x, li, i, j)
                order = torch.argsort(h)
                mx, my = (x0 + x1) / 2, (y0 + y1) / 2
                ax = fig.add_axes((mx - inset / 2, my - 0.06, inset, 0.12))
                ax.plot(h[order].cpu(), phi[order].cpu(), color=color, alpha=alpha, lw=1.2)
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_alpha(alpha)
                if fixed:
                    ax.set_title(fixed[0], fontsize=7, color=color, pad=1)
    for level, width in enumerate(widths):
        for node in range(width):
            px, py = position(level, node)
            canvas.plot(px, py, "o", color="black", ms=4)
            if level == 0 and variables is not None:
                canvas.text(px, py - 0.04, str(variables[node]), ha="center", va="top", fontsize=9)
    if title:
        canvas.text(0.5, 0.985, title, ha="center", va="top", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
