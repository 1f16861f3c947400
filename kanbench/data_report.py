"""The data section of kanbench-report: test RMSE against the number of training points D
at a fixed model per family (kanbench.analysis.data_axis), its fits l ∝ D^-beta, tables
and figures. data_section writes them into the report's folder and returns the section's
Markdown lines (none when no series has runs at MIN_POINTS distinct D)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kanbench.analysis.data_axis import DataAnalysis, data_markdown_frame
from kanbench.analysis.text import markdown_table
from kanbench.fits import MIN_POINTS
from kanbench.plots.data import data_figure, data_tasks
from kanbench.plots.figure import FORMATS, save

DATA_FILES = (
    "data_fits.csv / data_fits.md (one row per task and fixed model: β in D), "
    "data_points.csv (each run's fixed model at its D) and data_<task> figures"
)


def _series_sentence(row) -> str:
    """One series' result in words: its β with interval and window, or why none."""
    best = f"best test RMSE {row['best_test_rmse']:.2e}"
    if np.isfinite(row["beta"]):
        text = (
            f"β = {row['beta']:.2f} [{row['beta_lo']:.2f}, {row['beta_hi']:.2f}] over D "
            f"{row['D_lo']:.0f}-{row['D_hi']:.0f}"
        )
        if np.isfinite(row["plateau_beta"]):
            text += f" (with a floor: β = {row['plateau_beta']:.2f}, E = {row['plateau_E']:.1e})"
    else:
        text = f"no β ({row['note']})"
    return f"{row['task']}, {row['series']} (N = {row['N']:.0f}): {text}; {best}"


def data_section(
    data: DataAnalysis, out_dir: str | os.PathLike, window_text: str, formats=FORMATS
) -> list[str]:
    """Write the data tables and figures into out_dir; returns the section's lines."""
    if data.fits.empty:
        return []
    out_dir = Path(out_dir)
    data.points.drop(columns=["model_key"]).to_csv(out_dir / "data_points.csv", index=False)
    data.fits.to_csv(out_dir / "data_fits.csv", index=False)
    table = markdown_table(data_markdown_frame(data.fits))
    (out_dir / "data_fits.md").write_text(table)
    lines = [
        "## Data scaling",
        "",
        "- A run's point is its last stage, the model the study fixes (a staged family "
        "grows to it through its schedule), at D = its training points (`data.n_train`; "
        "the test set is the same size for every D); a run whose last stage did not "
        "complete gives none. A series is one task and model: every config key but D and "
        "the seed equal.",
        f"- Fits: l = A D^-β (and l = A D^-β + E) with the windows and intervals of the fits "
        f"in N, D in place of N ({window_text}); fewer than {MIN_POINTS} distinct D in the "
        f"window: no fit.",
        "",
        *[f"- {_series_sentence(row)}" for _, row in data.fits.iterrows()],
        "",
        "### Fits of test RMSE against D, l ∝ D^-β",
        "",
        table,
    ]
    for task in data_tasks(data):
        drawn = data_figure(data, task)
        path = save(drawn, out_dir, f"data_{task}", formats)[0]
        drawn.figure.clear()
        lines += [f"### {task}: test RMSE against D", "", f"![{path.stem}]({path.name})", ""]
    return lines
