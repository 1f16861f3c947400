"""Writing an analysis' tables: the numbers as CSV, the same tables formatted as Markdown,
and every point the plots draw."""

from __future__ import annotations

import os
from pathlib import Path

from kanbench.analysis.markdown import (
    fits_markdown_frame,
    optimality_markdown_frame,
    summary_markdown_frame,
)
from kanbench.analysis.tables import Analysis
from kanbench.analysis.text import markdown_table

POINT_COLUMNS = (
    "task",
    "family",
    "series",
    "primary",
    "run_id",
    "seed",
    "stage",
    "grid_size",
    "depth",
    "width",
    "N",
    "n_params",
    "n_params_paper",
    "edges_g",
    "train_rmse",
    "test_rmse",
    "test_median_rmse",
    "lsq_train_rmse",
    "lsq_scope",
    "gap",
    "stall",
    "in_window",
    "in_plateau_window",
)


def write_tables(analysis: Analysis, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write summary.{csv,md}, fits.{csv,md}, optimality.{csv,md}, flagged.csv and
    points.csv into out_dir; returns the paths.

    The CSV files hold the numbers (NaN as empty cells), the Markdown files the same
    tables formatted for reading; points.csv holds every point the plots draw.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("summary", "fits", "optimality")
    paths = {f"{name}.{ext}": out_dir / f"{name}.{ext}" for name in names for ext in ("csv", "md")}
    paths.update({name: out_dir / name for name in ("flagged.csv", "points.csv")})
    analysis.summary.to_csv(paths["summary.csv"], index=False)
    paths["summary.md"].write_text(
        markdown_table(summary_markdown_frame(analysis.summary, analysis.settings.thresholds))
    )
    analysis.fits.to_csv(paths["fits.csv"], index=False)
    paths["fits.md"].write_text(markdown_table(fits_markdown_frame(analysis.fits)))
    analysis.optimality.to_csv(paths["optimality.csv"], index=False)
    paths["optimality.md"].write_text(
        markdown_table(optimality_markdown_frame(analysis.optimality))
    )
    analysis.flagged.to_csv(paths["flagged.csv"], index=False)
    points = analysis.points
    columns = [c for c in POINT_COLUMNS if c in points.columns]
    points[columns].to_csv(paths["points.csv"], index=False)
    return paths
