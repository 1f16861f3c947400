"""The compute analysis' tables formatted for reading and written: the fits of l against
cost, the cost to reach each test RMSE, the leaders by budget (CSV and Markdown) and every
point with its cost (CSV)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from kanbench.analysis.compute import AXIS_WORDS, COST_AXES, ComputeAnalysis, amount
from kanbench.analysis.series import family_labels
from kanbench.analysis.tables import NOT_REACHED
from kanbench.analysis.text import format_interval, markdown_table, number, stalled_mark

COMPUTE_POINT_COLUMNS = (
    "task",
    "family",
    "run_id",
    "seed",
    "stage",
    "grid_size",
    "depth",
    "width",
    "N",
    "train_rmse",
    "test_rmse",
    "flops_forward_per_sample",
    "samples_per_evaluation",
    "train_evaluations",
    "train_flops",
    "cum_train_flops",
    "wall_s",
    "cum_wall_s",
    "cost_derived",
    "on_pareto_flops",
    "on_family_pareto_flops",
    "on_pareto_seconds",
    "on_family_pareto_seconds",
)


def _label(family: str) -> str:
    return family_labels().get(family, family)


def compute_fits_markdown_frame(fits: pd.DataFrame) -> pd.DataFrame:
    """The compute fits formatted for reading: gamma of l = A C^-gamma with its interval,
    the window, the plateau-aware law's gamma and E, the method and the note."""
    rows = []
    for _, f in fits.iterrows():
        gamma = format_interval(f["gamma"], f["gamma_lo"], f["gamma_hi"])
        plateau = format_interval(f["plateau_gamma"], f["plateau_gamma_lo"], f["plateau_gamma_hi"])
        rows.append(
            {
                "task": f["task"],
                "cost": AXIS_WORDS[f["axis"]],
                "family": _label(f["family"]),
                "frontier points (in window)": f"{f['n_points']} ({f['n_window']})",
                "window": f"{amount(f['cost_lo'], f['axis'])} - {amount(f['cost_hi'], f['axis'])}",
                "γ": stalled_mark(gamma, f["n_stalled"]) or "no fit",
                "interval": f["interval"],
                "γ with E": plateau or "no fit",
                "E": number(f["plateau_E"], "e"),
                "note": f["note"],
            }
        )
    return pd.DataFrame(rows)


def compute_reach_markdown_frame(compute: ComputeAnalysis) -> pd.DataFrame:
    """One row per (task, cost axis): each family's best test RMSE (at its cost) and the
    least cost at which it reaches each threshold (NOT_REACHED otherwise)."""
    reach, points = compute.reach, compute.points
    rows = []
    for (task, axis), group in reach.groupby(["task", "axis"], sort=True):
        row = {"task": task, "cost": AXIS_WORDS[axis]}
        column = COST_AXES[axis]
        families = [f for f in family_labels() if f in set(group["family"])]
        for family in families:
            mine = points[(points["task"] == task) & (points["family"] == family)]
            mine = mine[np.isfinite(mine[column].to_numpy(dtype=float))]
            best = mine.loc[mine["test_rmse"].idxmin()]
            row[f"best {_label(family)} (cost)"] = (
                f"{best['test_rmse']:.1e} ({amount(best[column], axis)})"
            )
        for threshold in compute.settings.thresholds:
            for family in families:
                cost = group[(group["family"] == family) & (group["threshold"] == threshold)]
                value = float(cost["cost"].iloc[0]) if not cost.empty else math.nan
                text = amount(value, axis) if math.isfinite(value) else NOT_REACHED
                row[f"to {threshold:g} {_label(family)}"] = text
        rows.append(row)
    return pd.DataFrame(rows)


def leaders_markdown_frame(leaders: pd.DataFrame) -> pd.DataFrame:
    """The segments of budgets with one leader, formatted for reading."""
    rows = []
    for _, s in leaders.iterrows():
        runner = s["runner_up"] if isinstance(s["runner_up"], str) else None
        rows.append(
            {
                "task": s["task"],
                "cost": AXIS_WORDS[s["axis"]],
                "ahead": _label(s["leader"]),
                "from": amount(s["start"], s["axis"]),
                "to": amount(s["end"], s["axis"]) if math.isfinite(s["end"]) else "on",
                "its test RMSE there": f"{s['leader_rmse']:.1e}",
                "next": _label(runner) if runner else "-",
                "next's test RMSE": f"{s['runner_up_rmse']:.1e}" if runner else "-",
            }
        )
    return pd.DataFrame(rows)


def write_compute_tables(compute: ComputeAnalysis, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write compute_fits.{csv,md}, compute_reach.{csv,md}, compute_leaders.{csv,md} and
    compute_points.csv into out_dir; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("compute_fits", "compute_reach", "compute_leaders")
    paths = {f"{name}.{ext}": out_dir / f"{name}.{ext}" for name in names for ext in ("csv", "md")}
    paths["compute_points.csv"] = out_dir / "compute_points.csv"
    compute.fits.to_csv(paths["compute_fits.csv"], index=False)
    paths["compute_fits.md"].write_text(markdown_table(compute_fits_markdown_frame(compute.fits)))
    compute.reach.to_csv(paths["compute_reach.csv"], index=False)
    paths["compute_reach.md"].write_text(markdown_table(compute_reach_markdown_frame(compute)))
    compute.leaders.to_csv(paths["compute_leaders.csv"], index=False)
    paths["compute_leaders.md"].write_text(markdown_table(leaders_markdown_frame(compute.leaders)))
    points = compute.points
    columns = [c for c in COMPUTE_POINT_COLUMNS if c in points.columns]
    points[columns].to_csv(paths["compute_points.csv"], index=False)
    return paths
