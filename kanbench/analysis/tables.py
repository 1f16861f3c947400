"""The tables of an analysis and `analyse`, which makes them all from a stage frame.

Per task: alpha of each family in its variable with its interval and method (fits_table,
summary_table), the theory lines (alpha = k + 1 in edges x G for a KAN of spline order k;
alpha = 4/d in N for an MLP, d the task's intrinsic dimension; theory_table), each
family's best test RMSE, and the smallest N at which a family reaches each RMSE
threshold. Optimality (optimality_table, flagged_stages): per staged series of one shape,
how its stages' train RMSE compares with their least-squares optimum, and the flagged
stages.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kanbench.analysis.fitting import DEFAULT_MIN_SEEDS, SeriesFit, fit_series
from kanbench.analysis.series import (
    DEFAULT_BINS_PER_DECADE,
    GRID_VARIABLE,
    N_VARIABLE,
    SeriesSpec,
    build_series,
    family_labels,
    prepared_members,
    series_specs,
)
from kanbench.analysis.stages import CONVENTIONS, GAP_LIMIT, is_staged, param_count, usable
from kanbench.analysis.text import window_text
from kanbench.fits import Window

log = logging.getLogger(__name__)

# the families the theory lines are about: the B-spline KAN (alpha = k + 1 in edges x G, by
# its spline order k; KAN paper Theorem 2.1) and the MLP (alpha = 4/d in N); the summary
# has their columns even when they were not run, the other families' when they were
THEORY_KAN = "kan"
THEORY_MLP = "mlp"
ALWAYS_REPORTED = (THEORY_KAN, THEORY_MLP)
DEFAULT_THRESHOLDS = (1e-2, 1e-3, 1e-4)
NOT_REACHED = "not reached"


@dataclass(frozen=True)
class Settings:
    """How an analysis was made (the report states all of it)."""

    convention: str = "trainable"
    window: Window = field(default_factory=Window)
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE
    min_seeds: int = DEFAULT_MIN_SEEDS
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {self.convention!r}")
        if not isinstance(self.window, Window):
            raise ValueError(f"window must be a Window, got {type(self.window).__name__}")
        if not (isinstance(self.bins_per_decade, int) and self.bins_per_decade >= 1):
            raise ValueError(
                f"bins_per_decade must be an integer >= 1, got {self.bins_per_decade!r}"
            )
        if not (isinstance(self.min_seeds, int) and self.min_seeds >= 2):
            raise ValueError(f"min_seeds must be an integer >= 2, got {self.min_seeds!r}")
        if not all(isinstance(t, int | float) and t > 0 for t in self.thresholds):
            raise ValueError(f"thresholds must be positive numbers, got {self.thresholds!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must lie in (0, 1), got {self.level!r}")


@dataclass(frozen=True)
class Analysis:
    """Everything the tables and plots show, computed from a stage frame alone.

    Attributes:
        stages: the stage frame analysed.
        points: every point of every series (task, family, series, primary, N, edges_g,
            test_rmse, run_id, seed, ..., gap, stall, in_window, in_plateau_window); the
            plots draw these.
        fits: fits_table: one row per (task, series).
        summary: summary_table: one row per task.
        theory: per task, d (intrinsic dimension), k (KAN spline orders) and the theory
            alphas (k + 1 in edges x G and 4 / d in N).
        optimality: optimality_table: one row per staged series of one shape.
        flagged: flagged_stages: one row per flagged stage.
        settings: the convention, window rule, bins, min_seeds and thresholds used.
    """

    stages: pd.DataFrame
    points: pd.DataFrame
    fits: pd.DataFrame
    summary: pd.DataFrame
    theory: pd.DataFrame
    optimality: pd.DataFrame
    flagged: pd.DataFrame
    settings: Settings

    @property
    def tasks(self) -> list[str]:
        return sorted(self.fits["task"].unique()) if not self.fits.empty else []


def analyse(stages: pd.DataFrame, settings: Settings | None = None) -> Analysis:
    """Series, fits and tables of a stage frame (from load_records) under `settings`."""
    settings = settings or Settings()
    specs = series_specs(stages, settings.convention)
    fits, points = [], []
    for spec in specs:
        fits.append(
            fit_series(
                spec, settings.window, settings.bins_per_decade, settings.min_seeds, settings.level
            )
        )
        points.append(build_series(spec, settings.window, settings.bins_per_decade))
    fits_frame = fits_table(fits)
    points_frame = pd.concat(points, ignore_index=True) if points else pd.DataFrame()
    theory = theory_table(stages)
    summary = summary_table(stages, fits_frame, theory, settings.thresholds, settings.convention)
    return Analysis(
        stages,
        points_frame,
        fits_frame,
        summary,
        theory,
        optimality_table(specs),
        flagged_stages(specs),
        settings,
    )


def fits_table(fits: Sequence[SeriesFit]) -> pd.DataFrame:
    """One row per fitted series (all SeriesFit fields)."""
    columns = list(SeriesFit.__dataclass_fields__)
    return pd.DataFrame([[getattr(f, c) for c in columns] for f in fits], columns=columns)


def _one_shape_series(specs: Sequence[SeriesSpec]) -> list[SeriesSpec]:
    """The staged series of one shape each (no frontier): every staged stage once."""
    return [s for s in specs if is_staged(s.family) and s.kind == "all"]


FLAGGED_COLUMNS = ("task", "series", "seed", "G", "N", "train", "optimum", "gap", "flag")


def optimality_table(specs: Sequence[SeriesSpec]) -> pd.DataFrame:
    """Per staged series (one shape): its stages, those with an optimum (lsq_train_rmse),
    those within GAP_LIMIT of it, the largest gap and its G, and the flagged stages."""
    rows = []
    for spec in _one_shape_series(specs):
        members = prepared_members(spec.members)
        gap = members["gap"].astype(float)
        known = gap[np.isfinite(gap)]
        largest = known.idxmax() if not known.empty else None
        rows.append(
            {
                "task": spec.task,
                "series": spec.name,
                "stages": len(members),
                "with_optimum": int(known.size),
                "within_limit": int((known <= GAP_LIMIT).sum()),
                "largest_gap": float(known.max()) if largest is not None else math.nan,
                "largest_gap_G": members.loc[largest, "grid_size"] if largest is not None else None,
                "flagged": int((members["stall"].astype(str) != "").sum()),
            }
        )
    columns = ["task", "series", "stages", "with_optimum", "within_limit", "largest_gap"]
    return pd.DataFrame(rows, columns=[*columns, "largest_gap_G", "flagged"])


def flagged_stages(specs: Sequence[SeriesSpec]) -> pd.DataFrame:
    """Every flagged stage of the staged series (optimality_columns): task, series, seed,
    G, N (trainable), train RMSE, optimum (lsq_train_rmse), gap and flag."""
    rows = []
    for spec in _one_shape_series(specs):
        members = prepared_members(spec.members)
        for _, stage in members[members["stall"].astype(str) != ""].iterrows():
            rows.append(
                {
                    "task": spec.task,
                    "series": spec.name,
                    "seed": stage["seed"],
                    "G": stage["grid_size"],
                    "N": stage["n_params"],
                    "train": float(stage["train_rmse"]),
                    "optimum": float(stage["lsq_train_rmse"]),
                    "gap": float(stage["gap"]),
                    "flag": stage["stall"],
                }
            )
    return pd.DataFrame(rows, columns=list(FLAGGED_COLUMNS))


def task_dimension(task: str, configs: Iterable[str] = ()) -> int | None:
    """The intrinsic dimension d of a task: the library's, else from a run's task config."""
    from kanbench.tasks import get_task, task_from_config

    try:
        return get_task(task).intrinsic_dim
    except ValueError:
        pass
    for config in configs:
        try:
            return task_from_config(json.loads(config)["task"]).intrinsic_dim
        except (ValueError, KeyError, TypeError):
            continue
    log.warning("task %r: intrinsic dimension unknown (not a library task)", task)
    return None


def theory_table(stages: pd.DataFrame) -> pd.DataFrame:
    """Per task: d, the spline orders k of THEORY_KAN, alpha_theory_kan = k + 1 (a rate in
    edges x G) and alpha_theory_mlp = 4/d (a rate in N)."""
    rows = []
    for task in sorted(stages["task"].unique()):
        of_task = stages[stages["task"] == task]
        d = task_dimension(task, of_task["config"].unique())
        orders = sorted(
            int(k)
            for k in of_task.loc[of_task["family"] == THEORY_KAN, "spline_order"].dropna().unique()
        )
        rows.append(
            {
                "task": task,
                "d": d,
                "k": ",".join(str(k) for k in orders),
                "alpha_theory_kan": float(orders[0] + 1) if len(orders) == 1 else math.nan,
                "alpha_theory_mlp": 4.0 / d if d else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["task", "d", "k", "alpha_theory_kan", "alpha_theory_mlp"])


def n_to_reach(stages: pd.DataFrame, threshold: float, convention: str = "trainable") -> float:
    """The smallest N (by convention) of any usable stage with test RMSE <= threshold; NaN
    if none."""
    frame = stages[usable(stages)]
    reached = param_count(frame, convention)[frame["test_rmse"] <= threshold]
    return float(reached.min()) if not reached.empty else math.nan


def reported_families(stages: pd.DataFrame) -> dict[str, str]:
    """The families a summary has columns for, name -> label in the registry's order
    (family_labels): those of ALWAYS_REPORTED always, the others when run."""
    present = set(stages["family"].unique())
    return {f: name for f, name in family_labels().items() if f in ALWAYS_REPORTED or f in present}


def summary_table(
    stages: pd.DataFrame,
    fits: pd.DataFrame,
    theory: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    convention: str = "trainable",
) -> pd.DataFrame:
    """One row per task: per family, the primary series' alpha in its own variable
    (variable_<family>: edges·G for staged families, N for the others) with interval and method,
    the plateau-aware alpha in the same variable, the window, the note and the count of
    stalled stages; the theory lines; best test RMSE and its N; and the N needed to reach
    each threshold (NOT_REACHED when no run of the family reaches it)."""
    rows = []
    ok = stages[usable(stages)]
    for task in sorted(stages["task"].unique()):
        row: dict = {"task": task}
        row.update(theory[theory["task"] == task].iloc[0].drop("task").to_dict())
        for family, label in reported_families(stages).items():
            key = family
            primary = fits[(fits["task"] == task) & (fits["family"] == family) & fits["primary"]]
            of_family = ok[(ok["task"] == task) & (ok["family"] == family)]
            fit = None if primary.empty else primary.iloc[0]
            default = GRID_VARIABLE if is_staged(family) else N_VARIABLE
            variable = fit["variable"] if fit is not None else default
            suffix = "_grid" if variable == GRID_VARIABLE else ""
            row[f"series_{key}"] = fit["series"] if fit is not None else ""
            row[f"variable_{key}"] = variable
            for end in ("", "_lo", "_hi"):
                for law in ("", "plateau_"):
                    value = fit[f"{law}alpha{suffix}{end}"] if fit is not None else math.nan
                    row[f"{law}alpha{end}_{key}"] = value
            row[f"plateau_E_{key}"] = fit[f"plateau_E{suffix}"] if fit is not None else math.nan
            row[f"interval_{key}"] = fit["interval"] if fit is not None else ""
            row[f"window_{key}"] = window_text(fit) if fit is not None else ""
            row[f"stalled_{key}"] = int(fit["n_stalled"]) if fit is not None else 0
            row[f"note_{key}"] = fit["note"] if fit is not None else f"no {label} runs"
            if of_family.empty:
                row[f"best_rmse_{key}"], row[f"best_n_{key}"] = math.nan, math.nan
            else:
                best = of_family.loc[of_family["test_rmse"].idxmin()]
                row[f"best_rmse_{key}"] = float(best["test_rmse"])
                row[f"best_n_{key}"] = float(param_count(best.to_frame().T, convention).iloc[0])
            for threshold in thresholds:
                n = (
                    n_to_reach(of_family, threshold, convention)
                    if not of_family.empty
                    else math.nan
                )
                row[f"n_to_{threshold:g}_{key}"] = NOT_REACHED if math.isnan(n) else int(n)
        rows.append(row)
    return pd.DataFrame(rows)
