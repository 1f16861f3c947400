"""Figures of a scaling analysis: test RMSE against N per task, a grid of all tasks, KAN
training histories across grid stages, training cost against N, and the bench study's
time and memory against N, G and batch with the KAN / MLP ratio.

Every function draws on its own matplotlib Figure (no pyplot, no global backend switch;
saving renders through Agg), and returns a `Drawn`: the figure together with a `Layer`
for each set of points or line it drew, so a caller (or a test) can check that a plot
shows exactly the numbers of the tables. `save` writes a Drawn as PNG and PDF.

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
  dimension);
- in the KAN history figure (after the KAN paper's Fig 2.3), guide lines G^-2, G^-3 and
  G^-4 through the test RMSE of the smallest grid.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from kanbench.analysis import (
    FAMILY_NAMES,
    GRID_VARIABLE,
    N_VARIABLE,
    Analysis,
    param_count,
    usable,
)

log = logging.getLogger(__name__)

FORMATS = ("png", "pdf")
_KAN_COLOR = "C0"
_MLP_COLOR = "C1"
_FAMILY_COLORS = {"kan": _KAN_COLOR, "mlp": _MLP_COLOR, "rbfkan": "C2", "chebykan": "C4"}
_FAMILY_COLORS["grouped"] = "C9"
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">")


@dataclass(frozen=True)
class Layer:
    """One thing a plot drew: kind is 'points', 'stalled', 'fit', 'plateau-fit', 'window'
    (x: the shaded window's ends, y: NaN), 'theory', 'guide', 'history' or 'boundary';
    panel names the axes (a task, or a panel's title)."""

    panel: str
    kind: str
    label: str
    x: np.ndarray
    y: np.ndarray
    series: str | None = None


@dataclass
class Drawn:
    """A figure and the record of what it shows."""

    figure: Figure
    layers: list[Layer] = field(default_factory=list)

    def data(self, kind: str | None = None, panel: str | None = None) -> pd.DataFrame:
        """The drawn data as a frame (panel, kind, label, series, x, y), one row per point."""
        rows = [
            {
                "panel": layer.panel,
                "kind": layer.kind,
                "label": layer.label,
                "series": layer.series,
                "x": x,
                "y": y,
            }
            for layer in self.layers
            if (kind is None or layer.kind == kind) and (panel is None or layer.panel == panel)
            for x, y in zip(layer.x, layer.y, strict=True)
        ]
        return pd.DataFrame(rows, columns=["panel", "kind", "label", "series", "x", "y"])


def save(drawn: Drawn, out_dir: str | os.PathLike, stem: str, formats=FORMATS) -> list[Path]:
    """Write the figure as out_dir/stem.<format> for each format; returns the paths."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"formats must be among {FORMATS}, got {unknown}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        drawn.figure.savefig(path, dpi=150 if fmt == "png" else None)
        paths.append(path)
    return paths


def _log_axes(ax, x: bool = True, y: bool = True) -> None:
    """Log scales with plain-text tick labels (1e-05, 0.01: faster than mathtext)."""
    for use, axis, set_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if use:
            set_scale("log")
            axis.set_major_formatter(LogFormatter(labelOnlyBase=True))
            axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


# --------------------------------------------------------------------------- scaling


def _series_style(family: str, primary: bool, index: int) -> dict:
    color = _FAMILY_COLORS.get(family, "C7")
    if primary:
        return {"color": color, "marker": "o", "markersize": 5, "linewidth": 0, "alpha": 1.0}
    return {
        "color": color,
        "marker": _MARKERS[(index + 1) % len(_MARKERS)],
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
    _log_axes(ax)
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
    for family, column, label, color in (
        ("kan", "alpha_theory_kan", f"theory ({GRID_VARIABLE})^-(k+1)", _KAN_COLOR),
        ("mlp", "alpha_theory_mlp", "theory N^-(4/d)", _MLP_COLOR),
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
        ax.plot(x, y, ":", color=color, lw=1.2, label=text)
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


# --------------------------------------------------------------------------- KAN history


def kan_history_groups(history: pd.DataFrame) -> list[tuple[str, str]]:
    """The (task, KAN shape) pairs that have a stored step history."""
    kan = history[history["family"] == "kan"]
    pairs = kan[["task", "shape"]].drop_duplicates()
    return sorted((str(t), str(s)) for t, s in pairs.itertuples(index=False))


def history_figure(history: pd.DataFrame, stages: pd.DataFrame, task: str, shape: str) -> Drawn:
    """The KAN paper's Fig 2.3 for one task and KAN shape, every seed drawn.

    Left: train (solid) and test (dashed) RMSE against the step counted across the grid
    stages, the stage boundaries marked with their G. Right: test RMSE and the square
    root of the median squared test error against G, with guide lines G^-2, G^-3, G^-4.
    """
    runs = history[
        (history["family"] == "kan") & (history["task"] == task) & (history["shape"] == shape)
    ]
    if runs.empty:
        raise ValueError(f"no KAN history for task {task!r} and shape {shape!r}")
    figure = Figure(figsize=(10, 3.8))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    layers: list[Layer] = []
    seeds = runs.groupby("run_id")["seed"].min()
    run_ids = sorted(seeds.index, key=lambda r: (seeds[r], r))  # the first run is drawn bold
    for index, run_id in enumerate(run_ids):
        run = runs[runs["run_id"] == run_id].sort_values("cum_step")
        seed = run["seed"].iloc[0]
        alpha = 1.0 if index == 0 else 0.4
        x = run["cum_step"].to_numpy(dtype=float)
        train = run["train_rmse"].to_numpy(dtype=float)
        left.plot(x, train, "-", color="C0", lw=0.9, alpha=alpha, label=f"train (seed {seed})")
        layers.append(Layer("history", "history", f"train seed {seed}", x, train, run_id))
        logged = run["test_rmse"].notna().to_numpy()
        test = run["test_rmse"].to_numpy(dtype=float)[logged]
        left.plot(
            x[logged], test, "--", color="C3", lw=0.9, alpha=alpha, label=f"test (seed {seed})"
        )
        layers.append(Layer("history", "history", f"test seed {seed}", x[logged], test, run_id))
        if index == 0:
            ends = run.groupby("stage")["cum_step"].agg(["min", "max"])
            grids = run.groupby("stage")["grid_size"].first()
            bounds = ends["min"].to_numpy(dtype=float)[1:] - 0.5
            for b in bounds:
                left.axvline(b, color="gray", lw=0.6, ls=":")
            layers.append(Layer("history", "boundary", "stage boundaries", bounds, bounds, run_id))
            for stage, (start, stop) in ends.iterrows():
                grid = grids.loc[stage]
                if pd.notna(grid):
                    left.text(
                        (start + stop) / 2,
                        1.02,
                        f"G={grid}",
                        fontsize=6,
                        ha="center",
                        transform=left.get_xaxis_transform(),
                    )
    _log_axes(left, x=False)
    left.set_xlabel("step (across grid stages)", fontsize=8)
    left.set_ylabel("RMSE", fontsize=8)
    left.legend(fontsize=6, loc="upper right")
    left.tick_params(which="both", labelsize=7)

    of_shape = stages[
        (stages["family"] == "kan")
        & (stages["task"] == task)
        & (stages["shape"] == shape)
        & usable(stages)
    ].sort_values("grid_size")
    stage_runs = set(of_shape["run_id"])
    ordered = [r for r in run_ids if r in stage_runs] + sorted(stage_runs - set(run_ids))
    for index, run_id in enumerate(ordered):
        run = of_shape[of_shape["run_id"] == run_id]
        g = run["grid_size"].to_numpy(dtype=float)
        for column, marker, label in (
            ("test_rmse", "o", "test RMSE"),
            ("test_median_rmse", "s", "sqrt(median squared test error)"),
        ):
            y = run[column].to_numpy(dtype=float)
            right.plot(
                g,
                y,
                marker=marker,
                ms=4,
                lw=0.8,
                color="C3" if marker == "o" else "C2",
                alpha=1.0 if index == 0 else 0.4,
                label=f"{label} (seed {run['seed'].iloc[0]})" if index == 0 else None,
            )
            layers.append(Layer("grid", "points", label, g, y, run_id))
    if not of_shape.empty:
        first = of_shape[of_shape["grid_size"] == of_shape["grid_size"].min()]
        g0 = float(first["grid_size"].iloc[0])
        l0 = float(first["test_rmse"].median())
        gx = np.geomspace(g0, float(of_shape["grid_size"].max()), 50)
        for power, style in ((2, "-."), (3, "--"), (4, ":")):
            gy = l0 * (gx / g0) ** -power
            right.plot(gx, gy, style, color="gray", lw=0.9, label=f"G^-{power}")
            layers.append(Layer("grid", "guide", f"G^-{power}", gx, gy, None))
        low = float(np.nanmin(of_shape[["test_rmse", "test_median_rmse"]].to_numpy(dtype=float)))
        right.set_ylim(low / 5, float(of_shape["test_rmse"].max()) * 3)
    _log_axes(right)
    right.set_xlabel("grid size G", fontsize=8)
    right.set_ylabel("test RMSE", fontsize=8)
    right.legend(fontsize=6, loc="lower left")
    right.tick_params(which="both", labelsize=7)
    figure.suptitle(f"{task}: KAN {_pretty_shape(shape)}", fontsize=9)
    figure.tight_layout()
    return Drawn(figure, layers)


def _pretty_shape(shape: str) -> str:
    return shape.replace(",", ", ")


# --------------------------------------------------------------------------- cost


def cost_figure(stages: pd.DataFrame, convention: str = "trainable") -> Drawn:
    """Training cost against N from the stage records: wall time of a stage and seconds per
    optimiser step, per family (marker per task). Not a benchmark: the timings include
    everything a stage did (grid updates, line searches) on whatever machine ran it."""
    frame = stages[usable(stages)].copy()
    frame["N"] = param_count(frame, convention)
    figure = Figure(figsize=(9, 3.6))
    axes = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    layers: list[Layer] = []
    tasks = sorted(frame["task"].unique())
    for ax, column, ylabel in zip(
        axes,
        ("wall_s", "s_per_step"),
        ("wall time of the stage (s)", "seconds per step"),
        strict=True,
    ):
        for family, label in FAMILY_NAMES.items():
            color = _FAMILY_COLORS.get(family, "C7")
            for t_index, task in enumerate(tasks):
                rows = frame[(frame["family"] == family) & (frame["task"] == task)]
                rows = rows[np.isfinite(rows[column].to_numpy(dtype=float))].sort_values("N")
                if rows.empty:
                    continue
                x, y = rows["N"].to_numpy(dtype=float), rows[column].to_numpy(dtype=float)
                name = label if len(tasks) == 1 else f"{label} {task}"
                ax.plot(x, y, _MARKERS[t_index % len(_MARKERS)], color=color, ms=4, label=name)
                layers.append(Layer(column, "points", name, x, y, family))
        _log_axes(ax)
        ax.set_xlabel(f"N ({convention} parameters)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, alpha=0.3)
        if layers:
            ax.legend(fontsize=6)
    figure.suptitle("training cost from the stage records", fontsize=9)
    figure.tight_layout()
    return Drawn(figure, layers)


# --------------------------------------------------------------------------- all figures


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    return "-".join(part for part in keep.split("-") if part)


def write_plots(
    analysis: Analysis, history: pd.DataFrame, out_dir: str | os.PathLike, formats=FORMATS
) -> list[tuple[str, Path]]:
    """Draw and save every figure of an analysis; returns (caption, first file) per figure.

    Figures: scaling_all (every task), scaling_<task> (one per task), kan_history_<task>_
    <shape> (one per KAN shape with a stored history) and cost (time against N).
    """
    out_dir = Path(out_dir)
    written: list[tuple[str, Path]] = []

    def keep(drawn: Drawn, stem: str, caption: str) -> None:
        written.append((caption, save(drawn, out_dir, stem, formats)[0]))

    tasks = analysis.tasks
    if tasks:
        keep(scaling_grid(analysis), "scaling_all", "Test RMSE against N, every task")
    for task in tasks:
        keep(scaling_figure(analysis, task), f"scaling_{_slug(task)}", f"{task}: test RMSE vs N")
    for task, shape in kan_history_groups(history):
        keep(
            history_figure(history, analysis.stages, task, shape),
            f"kan_history_{_slug(task)}_{_slug(shape)}",
            f"{task}: KAN {_pretty_shape(shape)} training across grid stages",
        )
    keep(
        cost_figure(analysis.stages, analysis.settings.convention),
        "cost",
        "Training time against N (from the stage records, not a benchmark)",
    )
    return written


# --------------------------------------------------------------------------- bench

_BENCH_STYLE = {
    "kan": {"color": _KAN_COLOR, "marker": "o", "label": "KAN (automatic form)"},
    "kan_dense": {"color": "C2", "marker": "s", "label": "KAN, dense form"},
    "kan_sparse": {"color": "C3", "marker": "^", "label": "KAN, sparse form"},
    "rbfkan": {"color": "C6", "marker": "P", "label": "RBF KAN (same N)"},
    "chebykan": {"color": "C8", "marker": "X", "label": "Chebyshev KAN (same N)"},
    "grouped": {"color": "C9", "marker": "*", "label": "grouped KAN, 1 group (same N)"},
    "mlp": {"color": _MLP_COLOR, "marker": "D", "label": "matched MLP"},
    "pykan": {"color": "C4", "marker": "v", "label": "pykan 0.2.8"},
    "pykan_speed": {"color": "C5", "marker": "<", "label": "pykan 0.2.8, speed()"},
}
# (stem, ladder, x column, x label, value, value label, ratio target or None, caption)
BENCH_FIGURES = (
    (
        "bench_time_vs_n",
        "n",
        "n_params",
        "N (trainable parameters)",
        "fwd_bwd_ms",
        "forward+backward (ms)",
        1.5,
        "Forward+backward time against N, and over the matched MLP",
    ),
    (
        "bench_memory_vs_n",
        "n",
        "n_params",
        "N (trainable parameters)",
        "peak_mb",
        "peak memory of forward+backward (MiB)",
        2.0,
        "Peak memory against N, and over the MLP",
    ),
    (
        "bench_time_vs_grid",
        "grid",
        "grid_size",
        "grid size G",
        "fwd_bwd_ms",
        "forward+backward (ms)",
        1.5,
        "Forward+backward time against G at a fixed shape",
    ),
    (
        "bench_memory_vs_batch",
        "batch",
        "batch",
        "batch",
        "peak_mb",
        "peak memory of forward+backward (MiB)",
        2.0,
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
    for family, style in _BENCH_STYLE.items():
        part = rows[rows["family"] == family].sort_values(x)
        part = part[np.isfinite(part[value].to_numpy(dtype=float))]
        if part.empty:
            continue
        xs, ys = part[x].to_numpy(dtype=float), part[value].to_numpy(dtype=float)
        left.plot(
            xs, ys, "-", marker=style["marker"], color=style["color"], ms=4, label=style["label"]
        )
        layers.append(Layer(ylabel, "points", style["label"], xs, ys, family))
        if family == "mlp" and not by_grid:
            continue
        if by_grid:
            if family == "mlp" or 5 not in part[x].to_numpy():
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
        _log_axes(ax)
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


__all__ = [
    "BENCH_FIGURES",
    "FORMATS",
    "Drawn",
    "Layer",
    "cost_figure",
    "draw_scaling",
    "history_figure",
    "kan_history_groups",
    "save",
    "scaling_figure",
    "scaling_grid",
    "bench_figure",
    "write_bench_plots",
    "write_plots",
]
