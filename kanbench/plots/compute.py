"""Compute figures: test RMSE against cumulative training FLOPs and seconds, per task
(kanbench.analysis.compute).

Each task's figure has one panel per cost axis. Per family (its registry colour): every
point, faint; its Pareto frontier in (cost, train RMSE) as the steps of the test RMSE a
budget buys; the fit l = A C^-gamma over its window (dashed), when there is one; and a
dotted vertical line where the family ahead changes.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from kanbench.analysis.compute import (
    AXIS_WORDS,
    COST_AXES,
    ComputeAnalysis,
    amount,
    pareto_frontier,
)
from kanbench.analysis.series import family_labels
from kanbench.plots.figure import Drawn, Layer, family_colour, log_axes


def _draw_axis(ax, compute: ComputeAnalysis, task: str, axis: str) -> list[Layer]:
    column, panel = COST_AXES[axis], f"{task} {axis}"
    points = compute.points[compute.points["task"] == task]
    points = points[np.isfinite(points[column].to_numpy(dtype=float))]
    layers: list[Layer] = []
    for family, label in family_labels().items():
        rows = points[points["family"] == family]
        if rows.empty:
            continue
        colour = family_colour(family)
        x, y = rows[column].to_numpy(dtype=float), rows["test_rmse"].to_numpy(dtype=float)
        ax.plot(x, y, "o", color=colour, ms=3, alpha=0.3, label=None)
        layers.append(Layer(panel, "points", label, x, y, family))
        frontier = pareto_frontier(rows, column)
        fx, fy = frontier[column].to_numpy(dtype=float), frontier["test_rmse"].to_numpy(float)
        ax.step(fx, fy, where="post", color=colour, lw=1.4, marker="o", ms=4, label=label)
        layers.append(Layer(panel, "frontier", f"{label} frontier", fx, fy, family))
        fits = compute.fits
        fit = fits[(fits["task"] == task) & (fits["axis"] == axis) & (fits["family"] == family)]
        if not fit.empty and math.isfinite(fit["gamma"].iloc[0]):
            f = fit.iloc[0]
            line_x = np.geomspace(f["cost_lo"], f["cost_hi"], 50)
            line_y = f["A"] * line_x ** -f["gamma"]
            text = f"{label}: γ={f['gamma']:.2f}"
            if math.isfinite(f["gamma_lo"]):
                text += f" [{f['gamma_lo']:.2f}, {f['gamma_hi']:.2f}]"
            ax.plot(line_x, line_y, "--", color=colour, lw=1.0, label=text)
            layers.append(Layer(panel, "fit", text, line_x, line_y, family))
    leaders = compute.leaders
    if not leaders.empty:
        mine = leaders[(leaders["task"] == task) & (leaders["axis"] == axis)]
        for _, change in mine.iloc[1:].iterrows():
            name = family_labels().get(change["leader"], change["leader"])
            text = f"{name} ahead from {amount(change['start'], axis)}"
            ax.axvline(change["start"], color="0.4", ls=":", lw=0.8)
            layers.append(
                Layer(panel, "boundary", text, np.array([change["start"]]), np.array([math.nan]))
            )
    if layers:
        log_axes(ax)
        ax.legend(fontsize=6)
    ax.set_xlabel(f"cumulative {AXIS_WORDS[axis]}", fontsize=8)
    ax.set_ylabel("test RMSE", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{task}: against {AXIS_WORDS[axis]}", fontsize=9)
    return layers


def compute_figure(compute: ComputeAnalysis, task: str) -> Drawn:
    """Test RMSE against cumulative training FLOPs and seconds of one task (module
    docstring); each Layer's panel is '<task> flops' or '<task> seconds'."""
    figure = Figure(figsize=(9, 3.8))
    layers: list[Layer] = []
    for index, axis in enumerate(COST_AXES, start=1):
        layers += _draw_axis(figure.add_subplot(1, len(COST_AXES), index), compute, task, axis)
    figure.tight_layout()
    return Drawn(figure, layers)
