"""Scaling-law analysis of stored runs: records -> tidy frame -> series -> fits -> tables.

The job of this module, in order:

1. Load every run file (``<folder>/**/records/<run_id>.json``, written by kanbench.store)
   into one tidy pandas frame, one row per stage (`load_study`, `load_records`).
2. Turn the stages of each task into series of (N, test RMSE) points (`scaling_points`):
   a KAN run gives one point per grid stage, and each KAN shape is a series; MLP runs give
   a series per depth and the MLP *frontier*, the best run in each log-spaced bin of N
   (Yu et al. 2024). N follows a named convention: "trainable" (``n_params``) or "paper"
   (``n_params_paper``, edges x G for a KAN; the same as "trainable" for an MLP).
3. Fit each series inside its fit window (`fit_series`, `analyse`):

   - the power law   l = A N^-alpha,      by least squares on log l = log A - alpha log N;
   - plateau-aware   l = A N^-alpha + E,  by least squares on the log residuals
     r_i = log(A N_i^-alpha + E) - log l_i, with A > 0, alpha in [0, 20], E >= 0.

   The fit window drops the overfitting / plateau region. Rules (WINDOWS):
   "descent" (default): the points with N <= N*, N* the first N whose log test RMSE (the
   median over the points at each N) lies within DESCENT_SHARE (10%) of the series' range
   of log RMSE above its lowest, so that both an overfitting tail and a plateau are left
   out while a series that is still falling keeps its points; "min-test": N* the N of the
   lowest test RMSE itself; "none": every point; "range": the points
   with n_min <= N <= n_max. Fewer than MIN_POINTS distinct N in the window: no fit, with
   the reason in the table.

   The 95% interval of alpha: with at least `min_seeds` seeds in the series, a bootstrap
   over seeds: whole seeds (every run of a seed) are drawn with replacement, the series is
   rebuilt (the frontier re-selected), the window re-applied and the law refitted; the
   interval is the 2.5 and 97.5 percentiles of the refitted alphas. Otherwise from the
   residuals: alpha +- t_{0.975, n-p} * se, with se the standard error of the log-log slope
   (p = 2) or, for the plateau-aware fit, from the Jacobian, cov = s^2 (J^T J)^-1 (p = 3).
   Each fit row says which method gave its interval.
4. Tables (`fits_table`, `summary_table`, `markdown_table`): per task, alpha of each
   family with its interval and method, the theory lines (alpha = k + 1 for a KAN of
   spline order k; alpha = 4/d for an MLP, d the task's intrinsic dimension), each
   family's best test RMSE, and the smallest N at which a family reaches each RMSE
   threshold.
5. Bench records (``<folder>/**/bench/<bench_id>.json``, written by kanbench-bench): one
   row per case and family with every ratio to the case's MLP (`load_bench`), and the
   study's goals measured (`bench_goals`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

log = logging.getLogger(__name__)

SUPPORTED_SCHEMAS = (1,)
CONVENTIONS = ("trainable", "paper")
CONVENTION_COLUMNS = {"trainable": "n_params", "paper": "n_params_paper"}
WINDOWS = ("min-test", "descent", "none", "range")
# "descent": a point within this share of a series' range of log test RMSE above its lowest
# has reached the floor
DESCENT_SHARE = 0.1
UNKNOWN_SCHEMA_ACTIONS = ("raise", "skip")
# the families the summary reports, in its order; kan and mlp always, the others when run
FAMILY_NAMES = {
    "kan": "KAN",
    "rbfkan": "RBF KAN",
    "chebykan": "Chebyshev KAN",
    "grouped": "grouped KAN",
    "mlp": "MLP",
}
ALWAYS_REPORTED = ("kan", "mlp")
MIN_POINTS = 3  # distinct N a fit needs inside its window
DEFAULT_THRESHOLDS = (1e-2, 1e-3, 1e-4)
DEFAULT_BINS_PER_DECADE = 5
DEFAULT_BOOTSTRAP = 1000
DEFAULT_MIN_SEEDS = 3
NOT_REACHED = "not reached"
_ALPHA_BOUNDS = (0.0, 20.0)  # alpha of the plateau-aware fit

# stage fields kept as columns, in this order (others follow); records may lack some
_STAGE_COLUMNS = (
    "task",
    "family",
    "stage",
    "shape",
    "grid_size",
    "spline_order",
    "variant",
    "depth",
    "width",
    "n_params",
    "n_params_paper",
    "target_params",
    "train_rmse",
    "test_rmse",
    "test_median_rmse",
    "steps",
    "iterations",
    "evaluations",
    "wall_s",
    "s_per_step",
    "peak_rss_mb",
    "seed",
    "dtype",
    "device",
    "threads",
    "status",
    "message",
    "started_at",
    "finished_at",
)
_REQUIRED_STAGE_KEYS = ("task", "family", "stage", "n_params", "test_rmse")
_INT_COLUMNS = (
    "stage",
    "grid_size",
    "spline_order",
    "depth",
    "width",
    "n_params",
    "n_params_paper",
    "target_params",
    "steps",
    "iterations",
    "evaluations",
    "seed",
    "threads",
)
_FLOAT_COLUMNS = (
    "train_rmse",
    "test_rmse",
    "test_median_rmse",
    "wall_s",
    "s_per_step",
    "peak_rss_mb",
)


# --------------------------------------------------------------------------- loading


class UnreadableRunError(Exception):
    """A run file that cannot be used (bad JSON, missing keys); it is skipped."""


@dataclass(frozen=True)
class Study:
    """The stored runs of one or more folders.

    Attributes:
        stages: one row per stage (the stage record's fields, flattened), plus run_id,
            run_status (the run-level status), config (the resolved config as a JSON
            string) and file (the run file read).
        history: one row per logged training step of every run: run_id, task, family,
            shape, seed, stage, grid_size, step (within its stage), cum_step (counted
            across the run's stages from 1), train_rmse, test_rmse (NaN when not logged).
        folders: the folders searched.
        files: the run files read, after duplicates were removed.
        skipped: the files skipped (unreadable, or of an unknown schema when skipped).
    """

    stages: pd.DataFrame
    history: pd.DataFrame
    folders: tuple[Path, ...]
    files: tuple[Path, ...]
    skipped: tuple[Path, ...] = ()

    @property
    def n_runs(self) -> int:
        """The number of distinct runs."""
        return int(self.stages["run_id"].nunique())


def find_run_files(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Every run file ``records/*.json`` under each folder (searched recursively), sorted.

    Raises:
        ValueError: when `folders` is empty, a folder does not exist or is not a folder,
            or a folder holds no run file.
    """
    folders = _as_folders(folders)
    found: list[Path] = []
    for folder in folders:
        if not folder.exists():
            raise ValueError(f"folder {str(folder)!r} does not exist")
        if not folder.is_dir():
            raise ValueError(f"folder {str(folder)!r} is not a folder")
        files = sorted(
            p for p in folder.rglob("*.json") if p.parent.name == "records" and p.is_file()
        )
        if folder.name == "records":  # the records folder itself was given
            files = sorted(set(files) | {p for p in folder.glob("*.json") if p.is_file()})
        if not files:
            raise ValueError(
                f"folder {str(folder)!r} holds no run records (no records/*.json under it)"
            )
        found.extend(files)
    return found


def _as_folders(folders) -> tuple[Path, ...]:
    if isinstance(folders, str | os.PathLike):
        folders = [folders]
    folders = tuple(Path(f) for f in folders)
    if not folders:
        raise ValueError("folders must name at least one folder, got none")
    return folders


def read_run_file(path: Path, unknown_schema: str = "raise") -> dict | None:
    """The run stored at path, checked; None to skip an unknown schema (unknown_schema='skip').

    Raises:
        UnreadableRunError: the file is not JSON or lacks a run's keys.
        ValueError: the schema version is not one of SUPPORTED_SCHEMAS and
            unknown_schema is 'raise'.
    """
    try:
        run = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise UnreadableRunError(f"{type(error).__name__}: {error}") from None
    if not isinstance(run, dict):
        raise UnreadableRunError(f"a JSON {type(run).__name__}, not a run object")
    missing = [key for key in ("schema", "run_id", "stages") if key not in run]
    if missing:
        raise UnreadableRunError(f"missing keys {missing}")
    if run["schema"] not in SUPPORTED_SCHEMAS:
        message = (
            f"run file {str(path)!r} has schema version {run['schema']!r}; this kanbench "
            f"reads versions {list(SUPPORTED_SCHEMAS)}"
        )
        if unknown_schema == "raise":
            raise ValueError(message)
        log.warning("%s: skipped", message)
        return None
    if not isinstance(run["stages"], list):
        raise UnreadableRunError("'stages' is not a list")
    for stage in run["stages"]:
        if not isinstance(stage, dict):
            raise UnreadableRunError("a stage record is not an object")
        lacking = [key for key in _REQUIRED_STAGE_KEYS if key not in stage]
        if lacking:
            raise UnreadableRunError(f"a stage record lacks {lacking}")
    return run


def load_study(
    folders: str | os.PathLike | Iterable[str | os.PathLike], unknown_schema: str = "raise"
) -> Study:
    """Read every run file under the folders into a Study (stages and step histories).

    Unreadable files are skipped with a warning that names them. A run found more than
    once (the same run id, e.g. a copied folder) is kept once: a finished copy before an
    unfinished one, then the copy with more stages.

    Args:
        folders: one folder or several; each is searched recursively for records/*.json.
        unknown_schema: 'raise' (default): a file of a schema version this code does not
            know raises ValueError naming the file and the version; 'skip': warn and skip.

    Raises:
        ValueError: a bad `unknown_schema`, a missing or empty folder, an unknown schema
            version (with 'raise'), or no stage record at all in the readable files.
    """
    if unknown_schema not in UNKNOWN_SCHEMA_ACTIONS:
        raise ValueError(
            f"unknown_schema must be one of {UNKNOWN_SCHEMA_ACTIONS}, got {unknown_schema!r}"
        )
    folders = _as_folders(folders)
    paths = find_run_files(folders)
    runs: list[tuple[Path, dict]] = []
    skipped: list[Path] = []
    for path in paths:
        try:
            run = read_run_file(path, unknown_schema)
        except UnreadableRunError as error:
            log.warning("skipped unreadable run file %s (%s)", path, error)
            skipped.append(path)
            continue
        if run is None:
            skipped.append(path)
        else:
            runs.append((path, run))
    runs = _unique_runs(runs)
    stages = _stage_frame(runs)
    if stages.empty:
        where = ", ".join(str(f) for f in folders)
        raise ValueError(f"no stage records in the readable run files under {where}")
    history = _history_frame(runs)
    return Study(stages, history, folders, tuple(p for p, _ in runs), tuple(skipped))


def load_records(
    folders: str | os.PathLike | Iterable[str | os.PathLike], unknown_schema: str = "raise"
) -> pd.DataFrame:
    """The stage frame of `load_study` alone: one row per stage of every stored run."""
    return load_study(folders, unknown_schema).stages


def _unique_runs(runs: list[tuple[Path, dict]]) -> list[tuple[Path, dict]]:
    final = ("complete", "diverged", "failed")

    def rank(item):
        _, run = item
        return (run.get("status") not in final, -len(run["stages"]))

    kept: dict[str, tuple[Path, dict]] = {}
    for item in sorted(runs, key=rank):
        run_id = str(item[1]["run_id"])
        if run_id in kept:
            log.info(
                "run %s is stored twice: %s used, %s ignored", run_id, kept[run_id][0], item[0]
            )
        else:
            kept[run_id] = item
    return sorted(kept.values(), key=lambda item: str(item[0]))


def _cell(value):
    """A list or mapping as compact JSON text, so every cell of the frame is a scalar."""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"))
    return value


def _stage_frame(runs: list[tuple[Path, dict]]) -> pd.DataFrame:
    rows = []
    for path, run in runs:
        config = json.dumps(run.get("config"), sort_keys=True, default=str)
        for stage in run["stages"]:
            row = {key: _cell(value) for key, value in stage.items()}
            row.update(
                run_id=str(run["run_id"]),
                run_status=run.get("status"),
                config=config,
                file=str(path),
            )
            rows.append(row)
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    for column in _STAGE_COLUMNS:
        if column not in frame:
            frame[column] = None
    for column in _INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").round().astype("Int64")
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame = frame.drop_duplicates(subset=["run_id", "stage"], keep="first")
    first = ["run_id", "run_status", *_STAGE_COLUMNS]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    return frame.sort_values(["task", "family", "run_id", "stage"]).reset_index(drop=True)


def _history_frame(runs: list[tuple[Path, dict]]) -> pd.DataFrame:
    columns = [
        "run_id",
        "task",
        "family",
        "shape",
        "seed",
        "stage",
        "grid_size",
        "step",
        "cum_step",
        "train_rmse",
        "test_rmse",
    ]
    frames = []
    for _, run in runs:
        points = [p for p in run.get("history") or [] if isinstance(p, list) and len(p) == 4]
        if not points or not run["stages"]:
            continue
        history = pd.DataFrame(points, columns=["stage", "step", "train_rmse", "test_rmse"])
        history = history.sort_values(["stage", "step"], kind="stable")
        # a stage's steps are counted from 0; offset each stage by the steps before it
        lengths = history.groupby("stage")["step"].max() + 1
        offsets = lengths.cumsum() - lengths
        history["cum_step"] = history["stage"].map(offsets) + history["step"] + 1
        by_stage = {s["stage"]: s for s in run["stages"]}
        first = run["stages"][0]
        history["run_id"] = str(run["run_id"])
        history["task"] = first["task"]
        history["family"] = first["family"]
        history["shape"] = _cell(first.get("shape"))
        history["seed"] = first.get("seed")
        history["grid_size"] = history["stage"].map(
            lambda s, by_stage=by_stage: by_stage.get(s, {}).get("grid_size")
        )
        frames.append(history)
    if not frames:
        return pd.DataFrame(columns=columns)
    history = pd.concat(frames, ignore_index=True)
    for column in ("train_rmse", "test_rmse"):
        history[column] = pd.to_numeric(history[column], errors="coerce").astype(float)
    for column in ("seed", "stage", "grid_size", "step", "cum_step"):
        history[column] = pd.to_numeric(history[column], errors="coerce").astype("Int64")
    return history[columns]


# --------------------------------------------------------------------------- series


def param_count(stages: pd.DataFrame, convention: str = "trainable") -> pd.Series:
    """N of each stage under a convention: 'trainable' (n_params) or 'paper' (n_params_paper).

    A record without n_params_paper (an MLP's equals its trainable count) falls back to
    n_params.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    n = stages[CONVENTION_COLUMNS[convention]]
    return n.fillna(stages["n_params"]).astype(float)


def usable(stages: pd.DataFrame) -> pd.Series:
    """Stages that can be points of a scaling curve: status complete, test RMSE finite > 0."""
    rmse = stages["test_rmse"].astype(float)
    return (stages["status"] == "complete") & np.isfinite(rmse) & (rmse > 0)


def log_bins(n: np.ndarray, bins_per_decade: int = DEFAULT_BINS_PER_DECADE) -> np.ndarray:
    """The log-spaced bin of each N: floor(bins_per_decade * log10 N) (edges 10^(j/b))."""
    # a small tolerance keeps an N that sits on an edge (10, 100, ...) in its own bin
    return np.floor(bins_per_decade * np.log10(np.asarray(n, dtype=float)) + 1e-9).astype(int)


def frontier_indices(
    n: np.ndarray, rmse: np.ndarray, bins_per_decade: int = DEFAULT_BINS_PER_DECADE
) -> np.ndarray:
    """Indices of the Pareto-frontier points: the lowest RMSE in each log-spaced N bin.

    Ties go to the smaller N, then to the earlier index. The result is sorted by N.
    """
    n = np.asarray(n, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    if n.size == 0:
        return np.zeros(0, dtype=int)
    bins = log_bins(n, bins_per_decade)
    order = np.lexsort((np.arange(n.size), n, rmse, bins))  # by bin, then rmse, n, index
    first = np.ones(order.size, dtype=bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    chosen = order[first]
    return chosen[np.argsort(n[chosen], kind="stable")]


def frontier(points: pd.DataFrame, bins_per_decade: int = DEFAULT_BINS_PER_DECADE) -> pd.DataFrame:
    """The rows of points (columns N and test_rmse) on the frontier, one per N bin."""
    idx = frontier_indices(points["N"].to_numpy(), points["test_rmse"].to_numpy(), bins_per_decade)
    return points.iloc[idx]


@dataclass(frozen=True)
class SeriesSpec:
    """A series of one task: its name, its family, the rows of the stage frame it is built
    from (`members`) and how: 'all' (every member is a point) or 'frontier'."""

    task: str
    family: str
    name: str
    kind: str  # 'all' | 'frontier'
    primary: bool
    members: pd.DataFrame = field(repr=False)


def series_specs(stages: pd.DataFrame, convention: str = "trainable") -> list[SeriesSpec]:
    """The series of every task: each staged family (KAN and its variants) per (shape, k,
    variant), the MLP per depth, and the frontiers.

    The primary series of a family, the one the summary reports, is its single series or,
    with several, its frontier; for MLPs always the MLP frontier. Only usable stages
    (complete, finite test RMSE) take part; N is by `convention`.
    """
    frame = stages[usable(stages)].copy()
    frame["N"] = param_count(frame, convention)
    if "variant" not in frame:
        frame["variant"] = None
    specs: list[SeriesSpec] = []
    for task in sorted(frame["task"].unique()):
        of_task = frame[frame["task"] == task]
        for family, label in FAMILY_NAMES.items():
            if family != "mlp":
                specs += _staged_series(task, family, label, of_task[of_task["family"] == family])
        mlp = of_task[of_task["family"] == "mlp"]
        if not mlp.empty:
            for depth in sorted(mlp["depth"].dropna().unique()):
                members = mlp[mlp["depth"] == depth]
                specs.append(SeriesSpec(task, "mlp", f"MLP depth {depth}", "all", False, members))
            specs.append(SeriesSpec(task, "mlp", "MLP frontier", "frontier", True, mlp))
    return specs


def _staged_series(task: str, family: str, label: str, rows: pd.DataFrame) -> list[SeriesSpec]:
    """A staged family's series of one task: one per (shape, k, variant), and with several
    of them their frontier."""
    if rows.empty:
        return []
    parts = rows[["shape", "spline_order", "variant"]].map(str)
    keys = parts.agg(" ".join, axis=1)
    orders = rows["spline_order"].dropna().unique()
    groups = sorted(keys.unique())
    specs = []
    for key in groups:
        members = rows[keys == key]
        first = members.iloc[0]
        name = f"{label} {_shape_text(first['shape'])}"
        if len(orders) > 1:
            name += f" k={first['spline_order']}"
        if isinstance(first["variant"], str) and first["variant"]:
            name += f" ({first['variant']})"
        specs.append(SeriesSpec(task, family, name, "all", len(groups) == 1, members))
    if len(groups) > 1:
        specs.append(SeriesSpec(task, family, f"{label} frontier", "frontier", True, rows))
    return specs


def _shape_text(shape) -> str:
    if isinstance(shape, str):
        try:
            shape = json.loads(shape)
        except ValueError:
            return shape
    if isinstance(shape, list | tuple):
        return "[" + ",".join(str(w) for w in shape) + "]"
    return str(shape)


def _select(n: np.ndarray, rmse: np.ndarray, kind: str, bins_per_decade: int) -> np.ndarray:
    if kind == "frontier":
        return frontier_indices(n, rmse, bins_per_decade)
    return np.argsort(n, kind="stable")


# --------------------------------------------------------------------------- window


@dataclass(frozen=True)
class Window:
    """A fit-window rule: 'min-test', 'descent', 'none' or 'range' (with n_min, n_max)."""

    rule: str = "descent"
    n_min: float | None = None
    n_max: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.rule!r}")
        for name in ("n_min", "n_max"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if self.rule == "range" and self.n_min is None and self.n_max is None:
            raise ValueError("window 'range' needs n_min and/or n_max")
        if self.rule != "range" and (self.n_min is not None or self.n_max is not None):
            raise ValueError(f"n_min / n_max go with window 'range', not with window {self.rule!r}")
        if self.n_min is not None and self.n_max is not None and self.n_min > self.n_max:
            raise ValueError(f"n_min ({self.n_min}) must not exceed n_max ({self.n_max})")

    def describe(self) -> str:
        """The rule in words, for tables and the report."""
        if self.rule == "min-test":
            return (
                "min-test: each series up to and including the N of its lowest test RMSE "
                "(median over seeds at each N)"
            )
        if self.rule == "descent":
            return (
                f"descent: each series up to and including the first N whose log test RMSE "
                f"(median over seeds at each N) lies within {DESCENT_SHARE:.0%} of the "
                f"series' range of log RMSE above its lowest, so that neither a plateau nor "
                f"an overfitting tail is fitted"
            )
        if self.rule == "none":
            return "none: every point of each series"
        low = "-inf" if self.n_min is None else f"{self.n_min:g}"
        high = "inf" if self.n_max is None else f"{self.n_max:g}"
        return f"range: {low} <= N <= {high}"

    def mask(self, n: np.ndarray, rmse: np.ndarray) -> np.ndarray:
        """Which of the points (N, RMSE) lie inside the window."""
        n = np.asarray(n, dtype=float)
        rmse = np.asarray(rmse, dtype=float)
        if n.size == 0 or self.rule == "none":
            return np.ones(n.size, dtype=bool)
        if self.rule == "range":
            low = -np.inf if self.n_min is None else self.n_min
            high = np.inf if self.n_max is None else self.n_max
            return (n >= low) & (n <= high)
        distinct = np.unique(n)
        medians = np.array([np.median(rmse[n == value]) for value in distinct])
        if self.rule == "descent":
            floor = medians.min() * (medians.max() / medians.min()) ** DESCENT_SHARE
            reached = np.flatnonzero(medians <= floor)[0]
            return n <= distinct[reached]
        return n <= distinct[int(np.argmin(medians))]


# --------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class PowerLawFit:
    """l = A N^-alpha fitted on log l = log A - alpha log N; se and dof of the slope."""

    alpha: float
    A: float
    se: float
    dof: int

    def t_interval(self, level: float = 0.95) -> tuple[float, float]:
        """alpha +- t_{(1+level)/2, dof} se (NaN when dof < 1)."""
        return _t_interval(self.alpha, self.se, self.dof, level)

    def __call__(self, n):
        return self.A * np.asarray(n, dtype=float) ** -self.alpha


@dataclass(frozen=True)
class PlateauFit:
    """l = A N^-alpha + E fitted on log residuals; se of alpha from the Jacobian."""

    alpha: float
    A: float
    E: float
    se: float
    dof: int
    cost: float

    def t_interval(self, level: float = 0.95) -> tuple[float, float]:
        """alpha +- t_{(1+level)/2, dof} se (NaN when dof < 1)."""
        return _t_interval(self.alpha, self.se, self.dof, level)

    def __call__(self, n):
        return self.A * np.asarray(n, dtype=float) ** -self.alpha + self.E


def _t_interval(value: float, se: float, dof: int, level: float) -> tuple[float, float]:
    if dof < 1 or not math.isfinite(se):
        return (math.nan, math.nan)
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    return (value - half, value + half)


def _check_points(n, rmse) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(n, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    if n.shape != rmse.shape or n.ndim != 1:
        raise ValueError(f"n and rmse must be 1-D of one length, got {n.shape} and {rmse.shape}")
    if np.unique(n).size < 2:
        raise ValueError(f"a fit needs at least 2 distinct N, got {np.unique(n).size}")
    if not (np.all(n > 0) and np.all(rmse > 0)):
        raise ValueError("n and rmse must be positive (their logs are fitted)")
    return n, rmse


def fit_power_law(n: Sequence[float], rmse: Sequence[float]) -> PowerLawFit:
    """Least squares fit of log l = log A - alpha log N (ordinary least squares in log-log).

    Raises:
        ValueError: n and rmse of different lengths, not positive, or < 2 distinct N.
    """
    n, rmse = _check_points(n, rmse)
    x, y = np.log(n), np.log(rmse)
    if n.size > 2:
        result = stats.linregress(x, y)
        slope, intercept, se = result.slope, result.intercept, result.stderr
    else:
        slope, intercept = np.polyfit(x, y, 1)
        se = math.nan
    return PowerLawFit(
        alpha=-float(slope), A=float(np.exp(intercept)), se=float(se), dof=n.size - 2
    )


def fit_plateau(
    n: Sequence[float], rmse: Sequence[float], start: tuple[float, float, float] | None = None
) -> PlateauFit:
    """Least squares fit of l = A N^-alpha + E on the log residuals.

    Minimises sum_i (log(A N_i^-alpha + E) - log l_i)^2 over log A, alpha in [0, 20] and
    E >= 0 (E in units of min l, so every parameter is of order one) with
    scipy.optimize.least_squares, from several starts (the power-law fit with E = 0 and
    with E near the lowest point, or `start` = (A, alpha, E) alone). The standard error of
    alpha is sqrt(s^2 [(J^T J)^-1]_alpha), s^2 = sum r_i^2 / (n - 3).

    Raises:
        ValueError: as fit_power_law.
    """
    n, rmse = _check_points(n, rmse)
    x, y = np.log(n), np.log(rmse)
    scale = float(rmse.min())

    def model(theta):
        power = np.exp(theta[0] - theta[1] * x)
        return power, power + theta[2] * scale

    def residuals(theta):
        return np.log(model(theta)[1]) - y

    def jacobian(theta):
        power, total = model(theta)
        return np.column_stack((power / total, -x * power / total, scale / total))

    if start is None:
        base = fit_power_law(n, rmse)
        alpha0 = float(np.clip(base.alpha, 0.05, 19.0))
        starts = [
            (math.log(base.A), alpha0, 0.0),
            (math.log(base.A), alpha0, 0.5),
            (math.log(base.A) + 1.0, min(2 * alpha0, 19.0), 0.9),
        ]
    else:
        starts = [(math.log(start[0]), float(np.clip(start[1], 0.0, 19.0)), start[2] / scale)]
    lower = (-np.inf, _ALPHA_BOUNDS[0], 0.0)
    upper = (np.inf, _ALPHA_BOUNDS[1], np.inf)
    best = None
    for theta0 in starts:
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                result = optimize.least_squares(
                    residuals, theta0, jac=jacobian, bounds=(lower, upper), method="trf"
                )
        except (ValueError, FloatingPointError):
            continue
        if not np.isfinite(result.cost):
            continue
        if best is None or result.cost < best.cost:
            best = result
    if best is None:
        raise ValueError("the plateau-aware fit failed from every start")
    dof = n.size - 3
    se = math.nan
    if dof >= 1:
        s2 = 2.0 * best.cost / dof
        try:
            covariance = s2 * np.linalg.pinv(best.jac.T @ best.jac)
            se = float(math.sqrt(max(covariance[1, 1], 0.0)))
        except np.linalg.LinAlgError:
            pass
    log_a, alpha, e = best.x
    return PlateauFit(
        alpha=float(alpha),
        A=float(math.exp(log_a)),
        E=float(e * scale),
        se=se,
        dof=dof,
        cost=float(best.cost),
    )


@dataclass
class SeriesFit:
    """The fits of one series and how their intervals were made (one row of fits_table)."""

    task: str
    family: str
    series: str
    primary: bool
    n_runs: int
    n_seeds: int
    n_points: int
    n_window: int
    n_lo: float
    n_hi: float
    alpha: float = math.nan
    alpha_lo: float = math.nan
    alpha_hi: float = math.nan
    A: float = math.nan
    interval: str = ""
    plateau_alpha: float = math.nan
    plateau_alpha_lo: float = math.nan
    plateau_alpha_hi: float = math.nan
    plateau_A: float = math.nan
    plateau_E: float = math.nan
    plateau_interval: str = ""
    note: str = ""

    @property
    def fitted(self) -> bool:
        return math.isfinite(self.alpha)


def _series_arrays(spec: SeriesSpec):
    members = spec.members
    return (
        members["N"].to_numpy(dtype=float),
        members["test_rmse"].to_numpy(dtype=float),
        members["seed"].fillna(-1).to_numpy(dtype=int),
    )


def build_series(
    spec: SeriesSpec, window: Window, bins_per_decade: int = DEFAULT_BINS_PER_DECADE
) -> pd.DataFrame:
    """The points of a series (its members, or their frontier), sorted by N, with in_window."""
    n, rmse, _ = _series_arrays(spec)
    chosen = _select(n, rmse, spec.kind, bins_per_decade)
    points = spec.members.iloc[chosen].copy()
    points.insert(0, "series", spec.name)
    points.insert(1, "primary", spec.primary)
    points["in_window"] = window.mask(points["N"].to_numpy(), points["test_rmse"].to_numpy())
    return points


def fit_series(
    spec: SeriesSpec,
    window: Window | None = None,
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE,
    n_boot: int = DEFAULT_BOOTSTRAP,
    min_seeds: int = DEFAULT_MIN_SEEDS,
    rng: int | np.random.Generator = 0,
    level: float = 0.95,
) -> SeriesFit:
    """Fit both laws to a series inside its window, with alpha's interval at `level`.

    With at least `min_seeds` distinct seeds (and n_boot > 0) the interval is a bootstrap
    over seeds (module docstring); else the t-interval from the residuals. Fewer than
    MIN_POINTS distinct N in the window: no fit (alpha NaN, the reason in `note`). The
    plateau-aware fit needs MIN_POINTS + 1 distinct N (three parameters and one degree of
    freedom).
    """
    window = window or Window()
    n, rmse, seeds = _series_arrays(spec)
    chosen = _select(n, rmse, spec.kind, bins_per_decade)
    n_sel, rmse_sel = n[chosen], rmse[chosen]
    inside = window.mask(n_sel, rmse_sel)
    n_win, rmse_win = n_sel[inside], rmse_sel[inside]
    distinct_seeds = np.unique(seeds)
    fit = SeriesFit(
        task=spec.task,
        family=spec.family,
        series=spec.name,
        primary=spec.primary,
        n_runs=int(spec.members["run_id"].nunique()),
        n_seeds=int(distinct_seeds.size),
        n_points=int(n_sel.size),
        n_window=int(n_win.size),
        n_lo=float(n_win.min()) if n_win.size else math.nan,
        n_hi=float(n_win.max()) if n_win.size else math.nan,
    )
    n_distinct = np.unique(n_win).size
    if n_distinct < MIN_POINTS:
        fit.note = f"no fit: {n_distinct} distinct N in the window (a fit needs {MIN_POINTS})"
        return fit
    power = fit_power_law(n_win, rmse_win)
    fit.alpha, fit.A = power.alpha, power.A
    plateau = None
    if n_distinct >= MIN_POINTS + 1:
        try:
            plateau = fit_plateau(n_win, rmse_win)
        except ValueError as error:
            fit.note = f"no plateau-aware fit: {error}"
    else:
        fit.note = f"no plateau-aware fit: {n_distinct} distinct N (it needs {MIN_POINTS + 1})"
    if plateau is not None:
        fit.plateau_alpha, fit.plateau_A, fit.plateau_E = plateau.alpha, plateau.A, plateau.E
        if plateau.alpha >= _ALPHA_BOUNDS[1] - 1e-6:
            fit.note = f"plateau-aware alpha at its bound {_ALPHA_BOUNDS[1]:g}"

    if n_boot > 0 and distinct_seeds.size >= min_seeds:
        lo_hi = _bootstrap(
            n, rmse, seeds, spec.kind, window, bins_per_decade, plateau, n_boot, rng, level
        )
        (fit.alpha_lo, fit.alpha_hi), (fit.plateau_alpha_lo, fit.plateau_alpha_hi), text = lo_hi
        fit.interval = text
        fit.plateau_interval = text if plateau is not None else ""
    else:
        fit.alpha_lo, fit.alpha_hi = power.t_interval(level)
        fit.interval = f"t-interval of the log-log slope (dof {power.dof})"
        if plateau is not None:
            fit.plateau_alpha_lo, fit.plateau_alpha_hi = plateau.t_interval(level)
            fit.plateau_interval = (
                f"t-interval from the Jacobian (dof {plateau.dof})"
                if plateau.dof >= 1
                else "none (no degree of freedom left)"
            )
    return fit


def _bootstrap(n, rmse, seeds, kind, window, bins_per_decade, plateau, n_boot, rng, level):
    """Percentile interval of alpha (both laws) over resamples of whole seeds."""
    rng = np.random.default_rng(rng)
    unique = np.unique(seeds)
    by_seed = {s: np.flatnonzero(seeds == s) for s in unique}
    cache: dict[tuple, tuple[float, float]] = {}
    alphas, plateau_alphas = [], []
    for _ in range(n_boot):
        draw = tuple(sorted(rng.choice(unique, size=unique.size, replace=True).tolist()))
        if draw not in cache:
            idx = np.concatenate([by_seed[s] for s in draw])
            cache[draw] = _refit(n[idx], rmse[idx], kind, window, bins_per_decade, plateau)
        a, b = cache[draw]
        alphas.append(a)
        plateau_alphas.append(b)
    tail = 50 * (1 - level)
    intervals = []
    for values in (np.array(alphas), np.array(plateau_alphas)):
        values = values[np.isfinite(values)]
        if values.size < n_boot / 2:
            intervals.append((math.nan, math.nan))
        else:
            intervals.append(tuple(float(v) for v in np.percentile(values, [tail, 100 - tail])))
    text = (
        f"bootstrap over {unique.size} seeds ({n_boot} resamples, "
        f"{len(cache)} distinct; percentile)"
    )
    return intervals[0], intervals[1], text


def _refit(n, rmse, kind, window, bins_per_decade, plateau):
    chosen = _select(n, rmse, kind, bins_per_decade)
    n, rmse = n[chosen], rmse[chosen]
    inside = window.mask(n, rmse)
    n, rmse = n[inside], rmse[inside]
    distinct = np.unique(n).size
    if distinct < MIN_POINTS:
        return math.nan, math.nan
    alpha = fit_power_law(n, rmse).alpha
    plateau_alpha = math.nan
    if plateau is not None and distinct >= MIN_POINTS + 1:
        try:
            plateau_alpha = fit_plateau(n, rmse, (plateau.A, plateau.alpha, plateau.E)).alpha
        except ValueError:
            pass
    return alpha, plateau_alpha


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class Settings:
    """How an analysis was made (the report states all of it)."""

    convention: str = "trainable"
    window: Window = field(default_factory=Window)
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE
    n_boot: int = DEFAULT_BOOTSTRAP
    min_seeds: int = DEFAULT_MIN_SEEDS
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    level: float = 0.95
    rng_seed: int = 0

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {self.convention!r}")
        if not isinstance(self.window, Window):
            raise ValueError(f"window must be a Window, got {type(self.window).__name__}")
        if not (isinstance(self.bins_per_decade, int) and self.bins_per_decade >= 1):
            raise ValueError(
                f"bins_per_decade must be an integer >= 1, got {self.bins_per_decade!r}"
            )
        if not (isinstance(self.n_boot, int) and self.n_boot >= 0):
            raise ValueError(f"n_boot must be an integer >= 0, got {self.n_boot!r}")
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
        points: every point of every series (task, family, series, primary, N, test_rmse,
            run_id, seed, ..., in_window); the plots draw these.
        fits: fits_table: one row per (task, series).
        summary: summary_table: one row per task.
        theory: per task, d (intrinsic dimension), k (KAN spline orders) and the theory
            alphas (k + 1 and 4 / d).
        settings: the convention, window rule, bins, bootstrap and thresholds used.
    """

    stages: pd.DataFrame
    points: pd.DataFrame
    fits: pd.DataFrame
    summary: pd.DataFrame
    theory: pd.DataFrame
    settings: Settings

    @property
    def tasks(self) -> list[str]:
        return sorted(self.fits["task"].unique()) if not self.fits.empty else []


def analyse(stages: pd.DataFrame, settings: Settings | None = None) -> Analysis:
    """Series, fits and tables of a stage frame (from load_records) under `settings`."""
    settings = settings or Settings()
    specs = series_specs(stages, settings.convention)
    rng = np.random.default_rng(settings.rng_seed)
    fits, points = [], []
    for spec in specs:
        fits.append(
            fit_series(
                spec,
                settings.window,
                settings.bins_per_decade,
                settings.n_boot,
                settings.min_seeds,
                rng,
                settings.level,
            )
        )
        points.append(build_series(spec, settings.window, settings.bins_per_decade))
    fits_frame = fits_table(fits)
    points_frame = pd.concat(points, ignore_index=True) if points else pd.DataFrame()
    theory = theory_table(stages)
    summary = summary_table(stages, fits_frame, theory, settings.thresholds, settings.convention)
    return Analysis(stages, points_frame, fits_frame, summary, theory, settings)


def fits_table(fits: Sequence[SeriesFit]) -> pd.DataFrame:
    """One row per fitted series (all SeriesFit fields)."""
    columns = list(SeriesFit.__dataclass_fields__)
    return pd.DataFrame([[getattr(f, c) for c in columns] for f in fits], columns=columns)


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
    """Per task: d, the KAN spline orders k, alpha_theory_kan = k + 1, alpha_theory_mlp = 4/d."""
    rows = []
    for task in sorted(stages["task"].unique()):
        of_task = stages[stages["task"] == task]
        d = task_dimension(task, of_task["config"].unique())
        orders = sorted(
            int(k)
            for k in of_task.loc[of_task["family"] == "kan", "spline_order"].dropna().unique()
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
    """The families a summary has columns for: KAN and MLP always, others when run."""
    present = set(stages["family"].unique())
    return {f: name for f, name in FAMILY_NAMES.items() if f in ALWAYS_REPORTED or f in present}


def summary_table(
    stages: pd.DataFrame,
    fits: pd.DataFrame,
    theory: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    convention: str = "trainable",
) -> pd.DataFrame:
    """One row per task: alpha per family (primary series) with interval and method, the
    theory lines, best test RMSE and its N, and the N needed to reach each threshold
    (NOT_REACHED when no run of the family reaches it)."""
    rows = []
    ok = stages[usable(stages)]
    for task in sorted(stages["task"].unique()):
        row: dict = {"task": task}
        row.update(theory[theory["task"] == task].iloc[0].drop("task").to_dict())
        for family, label in reported_families(stages).items():
            key = family
            primary = fits[(fits["task"] == task) & (fits["family"] == family) & fits["primary"]]
            of_family = ok[(ok["task"] == task) & (ok["family"] == family)]
            if primary.empty:
                note = f"no {label} runs"
                fit = None
            else:
                fit = primary.iloc[0]
                note = fit["note"]
            row[f"series_{key}"] = fit["series"] if fit is not None else ""
            for column in ("alpha", "alpha_lo", "alpha_hi"):
                row[f"{column}_{key}"] = fit[column] if fit is not None else math.nan
            row[f"interval_{key}"] = fit["interval"] if fit is not None else ""
            for column in ("alpha", "alpha_lo", "alpha_hi", "E"):
                source = f"plateau_{column}"
                row[f"plateau_{column}_{key}"] = fit[source] if fit is not None else math.nan
            row[f"note_{key}"] = note
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


# --------------------------------------------------------------------------- formatting


def format_interval(value: float, low: float, high: float, digits: int = 2) -> str:
    """'3.12 [2.80, 3.45]', or the value alone when there is no interval, '' when NaN."""
    if not _finite(value):
        return ""
    text = f"{value:.{digits}f}"
    if _finite(low) and _finite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _number(value, kind: str = "g") -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if kind == "e":
        return f"{float(value):.2e}"
    if kind == "int":
        return f"{int(value)}"
    return f"{float(value):.3g}"


def summary_markdown_frame(summary: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """The summary table with its numbers formatted for reading (one cell per quantity)."""
    families = [(f, name) for f, name in FAMILY_NAMES.items() if f"alpha_{f}" in summary]
    rows = []
    for _, r in summary.iterrows():
        row = {"task": r["task"], "d": _number(r["d"], "int")}
        for key, label in families:
            alpha = format_interval(r[f"alpha_{key}"], r[f"alpha_lo_{key}"], r[f"alpha_hi_{key}"])
            row[f"{label} series"] = r[f"series_{key}"] or "-"
            row[f"α {label}"] = alpha or r[f"note_{key}"] or "no fit"
            row[f"α {label} interval"] = r[f"interval_{key}"]
            plateau = format_interval(
                r[f"plateau_alpha_{key}"],
                r[f"plateau_alpha_lo_{key}"],
                r[f"plateau_alpha_hi_{key}"],
            )
            row[f"α {label} with E"] = (
                f"{plateau}, E={r[f'plateau_E_{key}']:.1e}" if plateau else "no fit"
            )
        row["theory KAN k+1"] = _number(r["alpha_theory_kan"])
        row["theory MLP 4/d"] = _number(r["alpha_theory_mlp"])
        for key, label in families:
            best = r[f"best_rmse_{key}"]
            row[f"best RMSE {label} (N)"] = (
                f"{best:.2e} ({int(r[f'best_n_{key}'])})" if _finite(best) else "no runs"
            )
        for threshold in thresholds:
            for key, label in families:
                row[f"N to {threshold:g} {label}"] = _number(r[f"n_to_{threshold:g}_{key}"], "int")
        rows.append(row)
    return pd.DataFrame(rows)


def fits_markdown_frame(fits: pd.DataFrame) -> pd.DataFrame:
    """The fits table formatted for reading."""
    rows = []
    for _, f in fits.iterrows():
        rows.append(
            {
                "task": f["task"],
                "series": f["series"] + (" *" if f["primary"] else ""),
                "runs": f["n_runs"],
                "seeds": f["n_seeds"],
                "points (in window)": f"{f['n_points']} ({f['n_window']})",
                "window N": (f"{f['n_lo']:.0f}-{f['n_hi']:.0f}" if _finite(f["n_lo"]) else "empty"),
                "α": format_interval(f["alpha"], f["alpha_lo"], f["alpha_hi"]) or "no fit",
                "A": _number(f["A"]),
                "interval": f["interval"],
                "α with E": format_interval(
                    f["plateau_alpha"], f["plateau_alpha_lo"], f["plateau_alpha_hi"]
                )
                or "no fit",
                "E": _number(f["plateau_E"], "e"),
                "interval (with E)": f["plateau_interval"],
                "note": f["note"],
            }
        )
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a frame (cells as text; '|' escaped)."""

    def cell(value) -> str:
        if isinstance(value, float):
            text = "" if math.isnan(value) else f"{value:.4g}"
        elif value is None or value is pd.NA:
            text = ""
        else:
            text = str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for values in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- files

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
    "train_rmse",
    "test_rmse",
    "test_median_rmse",
    "in_window",
)


def write_tables(analysis: Analysis, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write summary.{csv,md}, fits.{csv,md} and points.csv into out_dir; returns the paths.

    The CSV files hold the numbers (NaN as empty cells), the Markdown files the same
    tables formatted for reading; points.csv holds every point the plots draw.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out_dir / name
        for name in ("summary.csv", "summary.md", "fits.csv", "fits.md", "points.csv")
    }
    analysis.summary.to_csv(paths["summary.csv"], index=False)
    paths["summary.md"].write_text(
        markdown_table(summary_markdown_frame(analysis.summary, analysis.settings.thresholds))
    )
    analysis.fits.to_csv(paths["fits.csv"], index=False)
    paths["fits.md"].write_text(markdown_table(fits_markdown_frame(analysis.fits)))
    points = analysis.points
    columns = [c for c in POINT_COLUMNS if c in points.columns]
    points[columns].to_csv(paths["points.csv"], index=False)
    return paths


# --------------------------------------------------------------------------- bench records

BENCH_TIMES = ("fwd_ms", "fwd_bwd_ms", "adam_ms", "lbfgs_ms")
BENCH_VALUES = (*BENCH_TIMES, "peak_mb", "samples_per_s")
_BENCH_CASE = ("ladder", "shape", "grid_size", "spline_order", "batch", "dtype", "device")
BENCH_GOALS = {
    "fwd_bwd_ratio_hidden64": 1.5,
    "grid1000_over_grid5": 1.5,
    "memory_ratio_batch65536": 2.0,
}


def find_bench_files(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Every bench record ``bench/*.json`` under each folder (searched recursively), sorted."""
    found: list[Path] = []
    for folder in _as_folders(folders):
        if not folder.is_dir():
            raise ValueError(f"folder {str(folder)!r} does not exist or is not a folder")
        found += sorted(p for p in folder.rglob("*.json") if p.parent.name == "bench")
    return found


def load_bench(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per (bench case, family) of the bench records under the folders.

    Columns: the case (ladder, shape, grid_size, spline_order, batch, dtype, device,
    threads, rounds, min_time, bench_id), the family's row (family, status, note, form,
    n_params, flops_dense / flops_sparse / flops_pykan, each metric of BENCH_VALUES and
    its *_spread), provenance (git_commit, torch_version, device_name), width (the
    KAN's largest hidden width) and, for every value of BENCH_VALUES, <value>_ratio: the
    family's value over that of the case's MLP; fwd_bwd_over_kan: the family's
    forward+backward time over that of the case's KAN (automatic form). Rows come in
    ladder order, then by N, G and batch. Unreadable files are skipped with a warning; a
    file of an unknown schema raises ValueError, as does finding no record.
    """
    rows = []
    for path in find_bench_files(folders):
        try:
            run = json.loads(path.read_text())
            case, families = run["case"], run["rows"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("skipped unreadable bench file %s (%s)", path, error)
            continue
        if run.get("schema") not in SUPPORTED_SCHEMAS:
            raise ValueError(
                f"bench file {str(path)!r} has schema version {run.get('schema')!r}; this "
                f"kanbench reads versions {list(SUPPORTED_SCHEMAS)}"
            )
        provenance = run.get("provenance") or {}
        widths = [int(w) for w in str(case["shape"]).split(",")]
        for family in families:
            rows.append(
                {
                    **{k: v for k, v in case.items() if k not in ("widths", "families")},
                    "width": max(widths[1:-1], default=0),
                    "bench_id": run.get("bench_id"),
                    **family,
                    **{k: provenance.get(k) for k in ("git_commit", "torch_version")},
                    "device_name": provenance.get("device_name"),
                    "file": str(path),
                }
            )
    if not rows:
        raise ValueError("no bench records (bench/*.json) under the folders given")
    frame = pd.DataFrame.from_records(rows).drop_duplicates(["bench_id", "family"])
    for column in BENCH_VALUES:
        if column not in frame:
            frame[column] = math.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    baseline = frame[frame["family"] == "mlp"].set_index("bench_id")
    for column in BENCH_VALUES:
        reference = frame["bench_id"].map(baseline[column]).where(lambda v: v > 0)
        frame[f"{column}_ratio"] = frame[column] / reference  # NaN where the MLP's is 0
    frame["mlp_n_params"] = frame["bench_id"].map(baseline["n_params"])
    kan = frame[frame["family"] == "kan"].set_index("bench_id")["fwd_bwd_ms"]
    frame["fwd_bwd_over_kan"] = frame["fwd_bwd_ms"] / frame["bench_id"].map(kan)
    order = {name: i for i, name in enumerate(("n", "grid", "batch", "custom"))}
    frame["_order"] = frame["ladder"].map(order).fillna(len(order))
    families = ("kan", "kan_dense", "kan_sparse", "rbfkan", "chebykan", "grouped", "mlp")
    families += ("pykan", "pykan_speed")
    frame["_family"] = frame["family"].map({f: i for i, f in enumerate(families)})
    keys = ["_order", "mlp_n_params", "grid_size", "batch", "bench_id", "_family"]
    frame = frame.sort_values(keys, kind="stable")
    return frame.drop(columns=["_order", "_family"]).reset_index(drop=True)


def bench_goals(frame: pd.DataFrame) -> pd.DataFrame:
    """The study's goals, measured: one row per goal with its value, target and verdict.

    - fwd_bwd_ratio_hidden64: the largest forward+backward KAN / MLP over the N ladder's
      KANs whose hidden widths reach 64 (target <= 1.5);
    - grid1000_over_grid5: forward+backward time of the KAN (automatic form) at G = 1000
      over G = 5 in the G ladder (target <= 1.5); sparse_grid1000_over_grid5 the same for
      the KAN forced into the sparse form (no target: how far its cost is from growing);
    - memory_ratio_batch65536: peak memory KAN / MLP at batch 65536 (target <= 2);
    - pykan_over_kanbench_min / _max (and pykan_speed_...): pykan's forward+backward time
      over kanbench's KAN, the smallest and largest over the cases that have both.
    A goal whose cases were not measured has value NaN and verdict 'not measured'.
    """
    ok = frame[frame["status"] == "ok"]
    kan = ok[ok["family"] == "kan"]

    def grid_ratio(family: str) -> float:
        rows = ok[(ok["family"] == family) & (ok["ladder"] == "grid")]
        times = rows.groupby("grid_size")["fwd_bwd_ms"].median()
        return times.get(1000, math.nan) / times.get(5, math.nan)

    hidden = kan[(kan["ladder"] == "n") & (kan["width"] >= 64)]
    goals = [
        ("fwd_bwd_ratio_hidden64", hidden["fwd_bwd_ms_ratio"].max()),
        ("grid1000_over_grid5", grid_ratio("kan")),
        ("sparse_grid1000_over_grid5", grid_ratio("kan_sparse")),
        ("memory_ratio_batch65536", kan[kan["batch"] == 65536]["peak_mb_ratio"].max()),
    ]
    for family in ("pykan", "pykan_speed"):
        both = ok[ok["family"] == family].merge(kan, on="bench_id", suffixes=("", "_kan"))
        ratio = both["fwd_bwd_ms"] / both["fwd_bwd_ms_kan"]
        goals += [(f"{family}_over_kanbench_min", ratio.min())]
        goals += [(f"{family}_over_kanbench_max", ratio.max())]
    rows = []
    for name, value in goals:
        target = BENCH_GOALS.get(name)
        if not np.isfinite(value):
            verdict = "not measured"
        elif target is None:
            verdict = "measured"
        else:
            verdict = "met" if value <= target else "not met"
        rows.append(
            {
                "goal": name,
                "value": value,
                "target": f"<= {target}" if target else "",
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "CONVENTIONS",
    "NOT_REACHED",
    "SUPPORTED_SCHEMAS",
    "WINDOWS",
    "Analysis",
    "POINT_COLUMNS",
    "PlateauFit",
    "PowerLawFit",
    "SeriesFit",
    "SeriesSpec",
    "Settings",
    "Study",
    "Window",
    "BENCH_GOALS",
    "BENCH_TIMES",
    "BENCH_VALUES",
    "analyse",
    "bench_goals",
    "build_series",
    "find_bench_files",
    "find_run_files",
    "fit_plateau",
    "fit_power_law",
    "fit_series",
    "fits_markdown_frame",
    "fits_table",
    "format_interval",
    "frontier",
    "frontier_indices",
    "load_bench",
    "load_records",
    "load_study",
    "log_bins",
    "markdown_table",
    "n_to_reach",
    "param_count",
    "read_run_file",
    "series_specs",
    "summary_markdown_frame",
    "summary_table",
    "theory_table",
    "task_dimension",
    "usable",
    "write_tables",
]
