"""Scaling figures: test RMSE against N per task (scaling_figure) and every task in a grid
of panels (scaling_grid), drawn by draw_scaling.

Lines drawn (x is N, by the analysis' convention, in every scaling figure):

- fitted laws, each over its own fit window: l = A N^-alpha (solid) over the power-law
  window, l = A N^-alpha + E (dashed) over the plateau-aware law's window; the primary
  series' power-law window is shaded. Labels give alpha in edges·G and in N for staged
  families (the fits were made in both variables over the same points), in N for MLPs,
  and the window's N range; a series that one power law does not describe says so;
- stalled stages (flagged in the analysis' optimality check) are crossed out in red;
- theory lines, from the first point (smallest N, median over seeds) of the family's
  primary series: through the KAN series (edges·G / edges·G_0)^-(k+1) at the series'
  own sizes (k the spline order; the rate is in G, so the line bends on the N axis), and
  N^-(4/d) through the MLP frontier to the largest N of the task (d the task's intrinsic
  dimension).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from kanbench.analysis import GRID_VARIABLE, N_VARIABLE, Analysis
from kanbench.plots.figure import MARKERS, Drawn, Layer, family_colour, log_axes


def _series_style(family: str, primary: bool, index: int) -> dict:
    color = family_colour(family)
    if primary:
        return {"color": color, "marker": "o", "markersize": 5, "linewidth": 0, "alpha": 1.0}
    return {
        "color": color,
        "marker": MARKERS[(index + 1) % len(MARKERS)],
        "markersize": 3.5,
        "linewidth": 0,
        "alpha": 0.45,
        "markerfacecolor": "none",
    }


def draw_scaling(ax, analysis: Analysis, task: str, legend: bool = True) -> list[Layer]:
    """Draw test RMSE vs N (log-log) of every series of one task on ax, with fits and
    theory lines; returns the layers drawn."""
    layers: list[Layer] = []
    points = analysis.points[analysis.points["task"] == task]
    fits = analysis.fits[analysis.fits["task"] == task]
    if points.empty:
        ax.text(0.5, 0.5, "no usable points", transform=ax.transAxes, ha="center")
        ax.set_title(task, fontsize=9)
        return layers
    for index, (_, fit) in enumerate(fits.iterrows()):
        of_series = points[points["series"] == fit["series"]]
        x = of_series["N"].to_numpy(dtype=float)
        y = of_series["test_rmse"].to_numpy(dtype=float)
        style = _series_style(fit["family"], bool(fit["primary"]), index)
        name = fit["series"] + ("" if fit["one_law"] else " (no single power law)")
        ax.plot(x, y, label=name, **style)
        layers.append(Layer(task, "points", fit["series"], x, y, fit["series"]))
        if "stall" in of_series:
            stalled = of_series[of_series["stall"].fillna("").astype(str) != ""]
            if not stalled.empty:
                sx = stalled["N"].to_numpy(dtype=float)
                sy = stalled["test_rmse"].to_numpy(dtype=float)
                ax.plot(sx, sy, "x", color="red", ms=6, label=None)
                layers.append(Layer(task, "stalled", "stalled stage", sx, sy, fit["series"]))
        if math.isfinite(fit["alpha"]):
            line_x = np.geomspace(fit["n_lo"], fit["n_hi"], 50)
            line_y = fit["A"] * line_x ** -fit["alpha"]
            label = f"{fit['series']}: {_alpha_text(fit)}; {_window_text(fit)}"
            width = 1.4 if fit["primary"] else 0.7
            ax.plot(
                line_x,
                line_y,
                "-",
                color=style["color"],
                lw=width,
                alpha=style["alpha"],
                label=f"fit {_alpha_text(fit)}; {_window_text(fit)}" if fit["primary"] else None,
            )
            layers.append(Layer(task, "fit", label, line_x, line_y, fit["series"]))
            if fit["primary"]:
                ax.axvspan(fit["n_lo"], fit["n_hi"], color=style["color"], alpha=0.07, lw=0)
                ends = np.array([fit["n_lo"], fit["n_hi"]])
                layers.append(
                    Layer(
                        task, "window", _window_text(fit), ends, np.full(2, np.nan), fit["series"]
                    )
                )
        if fit["primary"] and math.isfinite(fit["plateau_alpha"]):
            plateau_x = np.geomspace(fit["plateau_n_lo"], fit["plateau_n_hi"], 50)
            plateau_y = fit["plateau_A"] * plateau_x ** -fit["plateau_alpha"] + fit["plateau_E"]
            text = f"{_alpha_text(fit, 'plateau_')}; {_window_text(fit, 'plateau_')}"
            ax.plot(
                plateau_x,
                plateau_y,
                "--",
                color=style["color"],
                lw=1.0,
                label=f"fit with E: {text}",
            )
            label = f"{fit['series']}: + E, {text}"
            layers.append(Layer(task, "plateau-fit", label, plateau_x, plateau_y, fit["series"]))
    layers += _draw_theory(ax, analysis, task, points, fits)
    log_axes(ax)
    ax.set_xlabel(f"N ({analysis.settings.convention} parameters)", fontsize=8)
    ax.set_ylabel("test RMSE", fontsize=8)
    ax.set_title(task, fontsize=9)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(fontsize=6, loc="best")
    return layers


def _alpha_text(fit, prefix: str = "") -> str:
    """'α=4.02 in edges·G, 5.05 in N' for a staged series, 'α=1.97 in N' for an MLP."""
    text = f"α={fit[f'{prefix}alpha']:.2f} in {N_VARIABLE}"
    if fit["variable"] == GRID_VARIABLE and math.isfinite(fit[f"{prefix}alpha_grid"]):
        text = f"α={fit[f'{prefix}alpha_grid']:.2f} in {GRID_VARIABLE}, {text[2:]}"
    return text


def _window_text(fit, prefix: str = "") -> str:
    return f"window N {fit[f'{prefix}n_lo']:.4g}-{fit[f'{prefix}n_hi']:.4g}"


def _draw_theory(ax, analysis: Analysis, task: str, points, fits) -> list[Layer]:
    layers = []
    theory = analysis.theory[analysis.theory["task"] == task]
    if theory.empty:
        return layers
    theory = theory.iloc[0]
    n_max = float(points["N"].max())
    for family, column, label in (
        ("kan", "alpha_theory_kan", f"theory ({GRID_VARIABLE})^-(k+1)"),
        ("mlp", "alpha_theory_mlp", "theory N^-(4/d)"),
    ):
        alpha = theory[column]
        primary = fits[(fits["family"] == family) & fits["primary"]]
        if not (isinstance(alpha, float) and math.isfinite(alpha)) or primary.empty:
            continue
        of_series = points[points["series"] == primary.iloc[0]["series"]]
        n0 = float(of_series["N"].min())
        l0 = float(of_series.loc[of_series["N"] == n0, "test_rmse"].median())
        if "shape" in of_series:  # a frontier of several shapes: the first point's shape
            first = of_series.loc[of_series["N"] == n0, "shape"].astype(str).iloc[0]
            of_series = of_series[of_series["shape"].astype(str) == first]
        sizes = of_series.groupby("N")["edges_g"].median() if "edges_g" in of_series else None
        if family == "kan" and sizes is not None and np.all(np.isfinite(sizes.to_numpy())):
            # the rate is in edges x G: drawn at the series' own N through its sizes
            x = sizes.index.to_numpy(dtype=float)
            grid = sizes.to_numpy(dtype=float)
            y = l0 * (grid / grid[0]) ** -alpha
            text = f"{label} = ({GRID_VARIABLE})^-{alpha:.3g}"
        else:
            x = np.geomspace(n0, max(n_max, n0 * 1.01), 50)
            y = l0 * (x / n0) ** -alpha
            text = f"{label} = N^-{alpha:.3g}"
        ax.plot(x, y, ":", color=family_colour(family), lw=1.2, label=text)
        layers.append(Layer(task, "theory", text, x, y, None))
    low = float(points["test_rmse"].min())
    high = float(points["test_rmse"].max())
    ax.set_ylim(low / 5, high * 3)  # theory lines may fall far below the data
    return layers


def scaling_figure(analysis: Analysis, task: str) -> Drawn:
    """One task: test RMSE vs N of every series, fitted laws and theory lines."""
    figure = Figure(figsize=(5.5, 4.2))
    ax = figure.add_subplot()
    layers = draw_scaling(ax, analysis, task)
    figure.tight_layout()
    return Drawn(figure, layers)


def scaling_grid(analysis: Analysis, tasks: Sequence[str] | None = None, ncols: int = 3) -> Drawn:
    """Every task in a grid of panels (as the KAN paper's Fig 3.1) and one shared legend of
    the series and theory lines (each panel's fitted alphas are in the tables)."""
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be an integer >= 1, got {ncols!r}")
    tasks = list(tasks) if tasks is not None else analysis.tasks
    if not tasks:
        raise ValueError("tasks must name at least one task of the analysis, got none")
    ncols = min(ncols, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    width = 3.4 * ncols + 0.4
    figure = Figure(figsize=(width, 2.9 * nrows + 0.8), layout="constrained")
    layers = []
    legend: dict[str, object] = {}
    for index, task in enumerate(tasks):
        ax = figure.add_subplot(nrows, ncols, index + 1)
        layers += draw_scaling(ax, analysis, task, legend=False)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.startswith("fit"):
                # one entry per kind of line: shapes and theory exponents differ by task
                key = re.sub(r"\[[0-9,]+\]", "[shape]", label.split(" = ")[0])
                legend.setdefault(key, handle)
    if legend:
        figure.legend(
            list(legend.values()),
            list(legend),
            loc="outside lower center",
            ncols=min(len(legend), 2 * ncols, _legend_columns(width, legend)),
            fontsize=7,
        )
    return Drawn(figure, layers)


def _legend_columns(width: float, legend: dict) -> int:
    """As many legend columns as fit the figure's width (inches) at 7-point text."""
    longest = max(len(label) for label in legend)
    return max(1, math.floor(width / (0.065 * longest + 0.45)))
