"""Training cost against N from the stage records (wall time of a stage, seconds per
step), per family the registry reports; not a benchmark (kanbench.plots.bench draws the
bench study)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kanbench.analysis import param_count, usable
from kanbench.families import FAMILIES
from kanbench.plots.figure import MARKERS, Drawn, Layer, log_axes


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
    reported = [f for f in FAMILIES.values() if f.reported]  # in the registry's order
    for ax, column, ylabel in zip(
        axes,
        ("wall_s", "s_per_step"),
        ("wall time of the stage (s)", "seconds per step"),
        strict=True,
    ):
        for family in reported:
            for t_index, task in enumerate(tasks):
                rows = frame[(frame["family"] == family.name) & (frame["task"] == task)]
                rows = rows[np.isfinite(rows[column].to_numpy(dtype=float))].sort_values("N")
                if rows.empty:
                    continue
                x, y = rows["N"].to_numpy(dtype=float), rows[column].to_numpy(dtype=float)
                name = family.label if len(tasks) == 1 else f"{family.label} {task}"
                ax.plot(
                    x, y, MARKERS[t_index % len(MARKERS)], color=family.colour, ms=4, label=name
                )
                layers.append(Layer(column, "points", name, x, y, family.name))
        log_axes(ax)
        ax.set_xlabel(f"N ({convention} parameters)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, alpha=0.3)
        if layers:
            ax.legend(fontsize=6)
    figure.suptitle("training cost from the stage records", fontsize=9)
    figure.tight_layout()
    return Drawn(figure, layers)
