"""Training history of the B-spline KAN across its grid stages, after the KAN paper's
Fig 2.3: train and test RMSE against the step, and test RMSE against G with guide lines
G^-2, G^-3 and G^-4 through the test RMSE of the smallest grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kanbench.analysis import usable
from kanbench.plots.figure import Drawn, Layer, log_axes


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
    log_axes(left, x=False)
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
    log_axes(right)
    right.set_xlabel("grid size G", fontsize=8)
    right.set_ylabel("test RMSE", fontsize=8)
    right.legend(fontsize=6, loc="lower left")
    right.tick_params(which="both", labelsize=7)
    figure.suptitle(f"{task}: KAN {pretty_shape(shape)}", fontsize=9)
    figure.tight_layout()
    return Drawn(figure, layers)


def pretty_shape(shape: str) -> str:
    """'[2,5,1]' -> '[2, 5, 1]'."""
    return shape.replace(",", ", ")
