"""Figures of a scaling analysis: test RMSE against N per task and a grid of all tasks
(kanbench.plots.scaling), KAN training histories across grid stages (.history), training
cost against N (.cost), and the bench study's time and memory against N, G and batch with
the KAN / MLP ratio (.bench); write_plots draws and saves every figure of an analysis.

Every function draws on its own matplotlib Figure and returns a `Drawn`: the figure
together with a `Layer` for each set of points or line it drew, so a caller (or a test)
can check that a plot shows exactly the numbers of the tables (kanbench.plots.figure).
`save` writes a Drawn as PNG and PDF.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from kanbench.analysis import Analysis
from kanbench.plots.bench import BENCH_FIGURES, bench_figure, write_bench_plots
from kanbench.plots.compute import compute_figure
from kanbench.plots.cost import cost_figure
from kanbench.plots.figure import FORMATS, Drawn, Layer, save
from kanbench.plots.history import history_figure, kan_history_groups, pretty_shape
from kanbench.plots.scaling import draw_scaling, scaling_figure, scaling_grid


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
            f"{task}: KAN {pretty_shape(shape)} training across grid stages",
        )
    keep(
        cost_figure(analysis.stages, analysis.settings.convention),
        "cost",
        "Training time against N (from the stage records, not a benchmark)",
    )
    return written


__all__ = [
    "BENCH_FIGURES",
    "FORMATS",
    "Drawn",
    "Layer",
    "compute_figure",
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
