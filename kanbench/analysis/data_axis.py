"""The data axis: test RMSE against the number of training points D at a fixed model.

A data-scaling study (conf/experiment/data_scaling.yaml) trains the same model of each
family on D = data.n_train points for several D. A run's point is its last stage, the
model the study fixes (a staged family grows to it through its schedule); a run whose last
stage did not complete gives no point. A series is one task, family and model config,
everything but D and the seed equal; with at least three distinct D it is fitted with
l = A D^-beta and l = A D^-beta + E, with the windows, intervals and notes of the fits in
N (kanbench.analysis.fitting.fit_series, its N read as D).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kanbench.analysis.fitting import fit_series
from kanbench.analysis.series import SeriesSpec, family_labels
from kanbench.analysis.tables import Settings
from kanbench.families import FAMILIES
from kanbench.fits import MIN_POINTS, Window

# config keys that say where or how a run reports, or which D and seed it is: not the model
_NOT_MODEL = ("out_dir", "progress", "logger", "log_every", "other_code", "hydra", "seed")


@dataclass
class DataAnalysis:
    """points: one row per run (its fixed model at D); fits: one row per series."""

    points: pd.DataFrame
    fits: pd.DataFrame


def _model_key(config_text: str) -> str:
    """The run's config without D, the seed and the reporting keys, as sorted JSON."""
    config = json.loads(config_text) if isinstance(config_text, str) else {}
    config = {k: v for k, v in (config or {}).items() if k not in _NOT_MODEL}
    data = dict(config.get("data") or {})
    data.pop("n_train", None)
    config["data"] = data
    return json.dumps(config, sort_keys=True, default=str)


def _model_text(row: pd.Series) -> str:
    """'KAN [2,1,1] G=50', 'MLP 3x64': the fixed model of a point."""
    label = family_labels().get(row["family"], row["family"])
    entry = FAMILIES.get(row["family"])
    if entry is not None and entry.staged:
        shape = json.loads(row["shape"]) if isinstance(row["shape"], str) else row["shape"]
        widths = ",".join(str(w) for w in shape)
        return f"{label} [{widths}] {entry.size_label(int(row['grid_size']))}"
    return f"{label} {int(row['depth'])}x{int(row['width'])}"


def data_points(stages: pd.DataFrame) -> pd.DataFrame:
    """One row per run that completed: its last stage, with D (its n_train), the series it
    belongs to (task, family and model config without D and seed) and that series' name."""
    columns = ["task", "family", "series", "seed", "D", "N", "train_rmse", "test_rmse"]
    if stages.empty or "n_train" not in stages:
        return pd.DataFrame(columns=[*columns, "run_id"])
    last = stages.sort_values("stage").groupby("run_id").tail(1)
    last = last[last["status"] == "complete"].copy()
    last["D"] = last["n_train"].astype(float)
    last["N"] = last["n_params"].astype(float)
    last["model_key"] = last["config"].map(_model_key)
    last["series"] = [_model_text(row) for _, row in last.iterrows()]
    # two configs that read the same (an option the name leaves out) stay apart
    for (_task, _name), group in last.groupby(["task", "series"]):
        keys = sorted(group["model_key"].unique())
        if len(keys) > 1:
            for number, key in enumerate(keys, 1):
                chosen = group.index[group["model_key"] == key]
                last.loc[chosen, "series"] = f"{_name} (config {number})"
    return last[[*columns, "run_id", "stall", "gap", "model_key"]].sort_values(
        ["task", "series", "D"]
    )


def _members(points: pd.DataFrame) -> pd.DataFrame:
    """A series' points as fit_series reads them: D in the place of N, no grid variable."""
    return points.assign(N_params=points["N"], N=points["D"], edges_g=math.nan)


def data_analysis(stages: pd.DataFrame, settings: Settings | None = None) -> DataAnalysis:
    """Points and fits of every series with at least MIN_POINTS distinct D (module
    docstring). The fits use the settings' window, except 'range' (its bounds are in N),
    for which they use 'descent'."""
    settings = settings or Settings()
    window = settings.window if settings.window.rule != "range" else Window()
    points = data_points(stages)
    rows = []
    for (task, series), group in points.groupby(["task", "series"], sort=True):
        if group["D"].nunique() < MIN_POINTS:
            continue
        family = group["family"].iloc[0]
        spec = SeriesSpec(task, family, series, "all", True, _members(group))
        fit = fit_series(spec, window, settings.bins_per_decade, settings.min_seeds, settings.level)
        rows.append(
            {
                "task": task,
                "family": family,
                "series": series,
                "N": float(group["N"].median()),
                "n_runs": fit.n_runs,
                "n_seeds": fit.n_seeds,
                "D_lo": fit.n_lo,
                "D_hi": fit.n_hi,
                "beta": fit.alpha,
                "beta_lo": fit.alpha_lo,
                "beta_hi": fit.alpha_hi,
                "A": fit.A,
                "plateau_beta": fit.plateau_alpha,
                "plateau_beta_lo": fit.plateau_alpha_lo,
                "plateau_beta_hi": fit.plateau_alpha_hi,
                "plateau_E": fit.plateau_E,
                "interval": fit.interval,
                "n_stalled": fit.n_stalled,
                "best_test_rmse": float(group["test_rmse"].min()),
                "note": _data_words(fit.note),
            }
        )
    return DataAnalysis(points, pd.DataFrame(rows))


def _data_words(note: str) -> str:
    """A fit note of kanbench.analysis.fitting with its N read as D."""
    for old, new in (("distinct N", "distinct D"), ("α in N", "β in D"), ("over N ", "over D ")):
        note = note.replace(old, new)
    return note


def data_markdown_frame(fits: pd.DataFrame) -> pd.DataFrame:
    """The data fits for reading: β with its interval and window, the plateau law, notes."""

    def interval(row, prefix: str) -> str:
        value = row[f"{prefix}beta"]
        if not np.isfinite(value):
            return "no fit"
        return f"{value:.2f} [{row[f'{prefix}beta_lo']:.2f}, {row[f'{prefix}beta_hi']:.2f}]"

    return pd.DataFrame(
        {
            "task": fits["task"],
            "series": fits["series"],
            "N": fits["N"].map(lambda v: f"{v:.0f}"),
            "β in D": [interval(row, "") for _, row in fits.iterrows()],
            "window": [
                f"D {row['D_lo']:.0f}-{row['D_hi']:.0f}" if np.isfinite(row["D_lo"]) else "-"
                for _, row in fits.iterrows()
            ],
            "β with E": [
                interval(row, "plateau_") + f", E={row['plateau_E']:.1e}"
                if np.isfinite(row["plateau_beta"])
                else "no fit"
                for _, row in fits.iterrows()
            ],
            "best test RMSE": fits["best_test_rmse"].map(lambda v: f"{v:.2e}"),
            "note": fits["note"],
        }
    )
