"""Test RMSE against the number of training points D at a fixed model, per task: each
series' points (kanbench.analysis.data_axis) and its fitted l = A D^-beta over its window."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kanbench.analysis.data_axis import DataAnalysis
from kanbench.plots.figure import MARKERS, Drawn, Layer, family_colour, log_axes


def data_figure(data: DataAnalysis, task: str) -> Drawn:
    """One task's data-scaling points and fits (a line over each fitted window)."""
    points = data.points[data.points["task"] == task]
    fits = data.fits[data.fits["task"] == task] if not data.fits.empty else data.fits
    figure = Figure(figsize=(5.4, 3.8))
    ax = figure.add_subplot(1, 1, 1)
    layers: list[Layer] = []
    for index, (series, rows) in enumerate(points.groupby("series", sort=True)):
        rows = rows.sort_values("D")
        colour = family_colour(rows["family"].iloc[0])
        x, y = rows["D"].to_numpy(dtype=float), rows["test_rmse"].to_numpy(dtype=float)
        ax.plot(x, y, MARKERS[index % len(MARKERS)], color=colour, ms=5, label=series)
        layers.append(Layer("data", "points", series, x, y, rows["family"].iloc[0]))
        fit = fits[fits["series"] == series] if not fits.empty else fits
        if fit.empty or not np.isfinite(fit["beta"].iloc[0]):
            continue
        row = fit.iloc[0]
        d = np.geomspace(row["D_lo"], row["D_hi"], 20)
        line = row["A"] * d ** -row["beta"]
        label = f"fit β={row['beta']:.2f} over D {row['D_lo']:.0f}-{row['D_hi']:.0f}"
        ax.plot(d, line, "-", color=colour, linewidth=1.2, label=label)
        layers.append(Layer("data", "fit", label, d, line, row["family"]))
    log_axes(ax)
    ax.set_xlabel("D (training points)", fontsize=8)
    ax.set_ylabel("test RMSE", fontsize=8)
    ax.set_title(f"{task}: test RMSE against D at a fixed model", fontsize=9)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(True, alpha=0.3)
    if layers:
        ax.legend(fontsize=6)
    figure.tight_layout()
    return Drawn(figure, layers)


def data_tasks(data: DataAnalysis) -> list[str]:
    """The tasks with at least one data-scaling point."""
    return sorted(pd.unique(data.points["task"])) if not data.points.empty else []
