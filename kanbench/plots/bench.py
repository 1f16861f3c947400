"""Figures of the bench study (kanbench-bench records): time and memory against N, G and
batch per family, and each family's value over the matched MLP's (over its own at G = 5
on the G ladder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kanbench.analysis import BENCH_GOALS
from kanbench.families import FAMILIES
from kanbench.plots.figure import Drawn, Layer, family_colour, log_axes, save

BASELINE = "mlp"  # the family every bench ratio divides by: the case's matched MLP
# the bench's own forms (and its names for the KAN and the MLP); the registry's other staged
# families are drawn between them, each at the KAN's N, in its colour and label
_KAN_FORMS = {
    "kan": {"color": family_colour("kan"), "marker": "o", "label": "KAN (automatic form)"},
    "kan_dense": {"color": "C6", "marker": "s", "label": "KAN, dense form"},
    "kan_sparse": {"color": "C3", "marker": "^", "label": "KAN, sparse form"},
}
_OTHERS = {
    BASELINE: {"color": family_colour(BASELINE), "marker": "D", "label": "matched MLP"},
    "pykan": {"color": "C8", "marker": "v", "label": "pykan 0.2.8"},
    "pykan_speed": {"color": "C7", "marker": "<", "label": "pykan 0.2.8, speed()"},
}
_VARIANT_MARKERS = ("P", "X", "*", "h", "p", "d", "H", "8")


def bench_styles() -> dict[str, dict]:
    """The style (color, marker, label) of each family a bench figure draws, in legend
    order: the KAN's forms, every other staged family the registry reports (its colour,
    its label + ' (same N)', a marker of its own), the matched MLP and pykan."""
    styles = dict(_KAN_FORMS)
    variants = [
        f for f in FAMILIES.values() if f.staged and f.reported and f.name not in _KAN_FORMS
    ]
    for index, variant in enumerate(variants):
        styles[variant.name] = {
            "color": variant.colour,
            "marker": _VARIANT_MARKERS[index % len(_VARIANT_MARKERS)],
            "label": f"{variant.label} (same N)",
        }
    return {**styles, **_OTHERS}


# (stem, ladder, x column, x label, value, value label, ratio target or None, caption)
BENCH_FIGURES = (
    (
        "bench_time_vs_n",
        "n",
        "n_params",
        "N (trainable parameters)",
        "fwd_bwd_ms",
        "forward+backward (ms)",
        BENCH_GOALS["fwd_bwd_ratio_hidden64"],
        "Forward+backward time against N, and over the matched MLP",
    ),
    (
        "bench_memory_vs_n",
        "n",
        "n_params",
        "N (trainable parameters)",
        "peak_mb",
        "peak memory of forward+backward (MiB)",
        BENCH_GOALS["memory_ratio_batch65536"],
        "Peak memory against N, and over the MLP",
    ),
    (
        "bench_time_vs_grid",
        "grid",
        "grid_size",
        "grid size G",
        "fwd_bwd_ms",
        "forward+backward (ms)",
        BENCH_GOALS["grid1000_over_grid5"],
        "Forward+backward time against G at a fixed shape",
    ),
    (
        "bench_memory_vs_batch",
        "batch",
        "batch",
        "batch",
        "peak_mb",
        "peak memory of forward+backward (MiB)",
        BENCH_GOALS["memory_ratio_batch65536"],
        "Peak memory against batch size",
    ),
)


def bench_figure(
    frame: pd.DataFrame,
    ladder: str,
    x: str,
    xlabel: str,
    value: str,
    ylabel: str,
    target: float | None = None,
) -> Drawn:
    """One ladder of bench records: value against x per family (left) and the family's
    value over the matched MLP's (right, with the goal's target as a dotted line). On the
    G ladder the right panel shows each KAN family's time over its own time at G = 5
    instead, as the MLP's size changes with G there."""
    rows = frame[(frame["ladder"] == ladder) & (frame["status"] == "ok")]
    figure = Figure(figsize=(9, 3.6))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    layers: list[Layer] = []
    by_grid = ladder == "grid"
    for family, style in bench_styles().items():
        part = rows[rows["family"] == family].sort_values(x)
        part = part[np.isfinite(part[value].to_numpy(dtype=float))]
        if part.empty:
            continue
        xs, ys = part[x].to_numpy(dtype=float), part[value].to_numpy(dtype=float)
        left.plot(
            xs, ys, "-", marker=style["marker"], color=style["color"], ms=4, label=style["label"]
        )
        layers.append(Layer(ylabel, "points", style["label"], xs, ys, family))
        if family == BASELINE and not by_grid:
            continue
        if by_grid:
            if family == BASELINE or 5 not in part[x].to_numpy():
                continue
            ratio = ys / ys[part[x].to_numpy() == 5][0]
        else:
            ratio = part[f"{value}_ratio"].to_numpy(dtype=float)
        keep = np.isfinite(ratio)
        right.plot(
            xs[keep],
            ratio[keep],
            "-",
            marker=style["marker"],
            color=style["color"],
            ms=4,
            label=style["label"],
        )
        layers.append(Layer("ratio", "points", style["label"], xs[keep], ratio[keep], family))
    if target is not None:
        right.axhline(target, color="k", linestyle=":", linewidth=1, label=f"goal {target:g}")
    right.axhline(1.0, color="0.6", linewidth=0.8)
    for ax, label in ((left, ylabel), (right, "over G = 5" if by_grid else "over matched MLP")):
        log_axes(ax)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=6)
    figure.tight_layout()
    return Drawn(figure, layers)


def write_bench_plots(
    frame: pd.DataFrame, out_dir: str | os.PathLike, formats=("png",)
) -> list[tuple[str, Path]]:
    """Draw and save each of BENCH_FIGURES whose ladder was measured; (caption, file)."""
    written = []
    for stem, ladder, x, xlabel, value, ylabel, target, caption in BENCH_FIGURES:
        if (frame["ladder"] == ladder).any():
            drawn = bench_figure(frame, ladder, x, xlabel, value, ylabel, target)
            written.append((caption, save(drawn, out_dir, stem, formats)[0]))
    return written
