"""Scaling-law analysis of stored runs: records -> tidy frame -> series -> fits -> tables.

The job of this module, in order:

1. Load every run file (``<folder>/**/records/<run_id>.json``, written by kanbench.store)
   into one tidy pandas frame, one row per stage (`load_study`, `load_records`). Records
   from before lsq_train_rmse / lsq_scope load with NaN / None there.
2. Turn the stages of each task into series of (N, test RMSE) points (`series_specs`):
   a staged run (KAN, or any family but 'mlp') gives one point per grid stage, and each
   shape of a staged family is a series; MLP runs give a series per depth. A family run
   at several shapes or depths also gets a *frontier*: in each log-spaced bin of N (Yu et
   al. 2024) the run of lowest TRAIN RMSE (test RMSE only for a record without one), drawn
   and fitted by its test RMSE, so the test set selects nothing. N follows a convention:
   "trainable" (``n_params``) or "paper" (``n_params_paper``). Staged points also carry
   the grid variable edges x G (`grid_variable`; edges = sum_l w_l w_{l+1} of the shape).
3. Fit each series (`fit_series`, with the laws, windows and checks of kanbench.fits):
   l = A x^-alpha and l = A x^-alpha + E. The KAN theory rate k + 1 is a rate in G, so a
   staged series is fitted in edges x G (alpha_grid, its primary alpha) and in N (alpha)
   over the same points; an MLP series in N alone. Windows are chosen once per series from
   the pooled points, in its primary variable. Interval of alpha at 95%: with S >=
   min_seeds (2) seeds that have a fit inside the window (each seed's own points, its own
   frontier for a frontier series), alpha = the mean of the per-seed alphas and
   mean +- t_{0.975, S-1} sd / sqrt(S); else the pooled fit's residual t-interval,
   alpha +- t_{0.975, n-p} se, whose text says it ignores seed-to-seed spread. A window
   that one power law does not describe (kanbench.fits.one_law) gets alpha NaN and a note
   with the slopes of its first and last thirds.
4. Optimality (`optimality_columns`, `optimality_table`, `flagged_stages`): per stage,
   gap = train_rmse / lsq_train_rmse (the least-squares optimum of the last layer) and a
   stalled-stage flag; a series whose windows hold flagged stages says so in its note.
5. Tables (`fits_table`, `summary_table`, `markdown_table`): per task, alpha of each
   family in its variable with its interval and method, the theory lines (alpha = k + 1
   in edges x G for a KAN of spline order k; alpha = 4/d in N for an MLP, d the task's
   intrinsic dimension), each family's best test RMSE, and the smallest N at which a
   family reaches each RMSE threshold.
6. Bench records (``<folder>/**/bench/<bench_id>.json``, written by kanbench-bench): one
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

from kanbench.fits import (
    ALPHA_BOUNDS,
    DESCENT_SHARE,
    MIN_POINTS,
    ONE_LAW_RATIO,
    START_RATIO,
    WINDOWS,
    OneLaw,
    PlateauFit,
    PowerLawFit,
    Window,
    fit_plateau,
    fit_power_law,
    one_law,
    power_law_scale,
    seed_interval,
)

log = logging.getLogger(__name__)

SUPPORTED_SCHEMAS = (1,)
CONVENTIONS = ("trainable", "paper")
CONVENTION_COLUMNS = {"trainable": "n_params", "paper": "n_params_paper"}
GRID_VARIABLE = "edges·G"  # the variable of a staged family's primary alpha
N_VARIABLE = "N"
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
DEFAULT_THRESHOLDS = (1e-2, 1e-3, 1e-4)
DEFAULT_BINS_PER_DECADE = 5
DEFAULT_MIN_SEEDS = 2  # seeds with a fit that an interval over seeds needs
NOT_REACHED = "not reached"
GAP_LIMIT = 3.0  # a stage whose train RMSE exceeds this multiple of its optimum is flagged
STALL_RATIO = 0.9  # a stage without an optimum whose train RMSE fell by less is flagged
OUTLIER_FACTOR = 10.0  # a stage this far above its seeds' median train RMSE is flagged ...
OUTLIER_SEEDS = 3  # ... when at least this many seeds ran it
INTERPOLATION_SHARE = 0.5  # flags need N <= this share of n_train (see optimality_columns)
STALLED_MARK = "⚠"  # marks an alpha whose window holds flagged stages

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
    "lsq_train_rmse",
    "lsq_scope",
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
    "lsq_train_rmse",
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
    """The stage frame of `load_study` alone: one row per stage of every stored run (with
    the optimality columns n_train, gap and stall)."""
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
    frame = frame.sort_values(["task", "family", "run_id", "stage"]).reset_index(drop=True)
    return optimality_columns(frame)


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


def _edges(shape) -> float:
    """sum_l w_l w_{l+1} over a shape (a list or its JSON text); NaN when there is none."""
    if isinstance(shape, str):
        try:
            shape = json.loads(shape)
        except ValueError:
            return math.nan
    if not isinstance(shape, list | tuple) or len(shape) < 2:
        return math.nan
    try:
        return float(sum(int(a) * int(b) for a, b in zip(shape[:-1], shape[1:], strict=False)))
    except (TypeError, ValueError):
        return math.nan


def grid_variable(stages: pd.DataFrame) -> pd.Series:
    """The grid variable edges x G of each stage (edges = sum_l w_l w_{l+1} over its shape,
    G its grid_size), the variable of the KAN theory rate k + 1; NaN for an MLP stage or
    one without a shape or a grid size."""
    edges = stages["shape"].map(_edges).astype(float)
    grid = pd.to_numeric(stages["grid_size"], errors="coerce").astype(float)
    return (edges * grid).where(stages["family"] != "mlp")


def usable(stages: pd.DataFrame) -> pd.Series:
    """Stages that can be points of a scaling curve: status complete, test RMSE finite > 0."""
    rmse = stages["test_rmse"].astype(float)
    return (stages["status"] == "complete") & np.isfinite(rmse) & (rmse > 0)


def _n_train(config) -> float:
    try:
        return float(json.loads(config)["data"]["n_train"])
    except (TypeError, ValueError, KeyError):
        return math.nan


def optimality_columns(stages: pd.DataFrame) -> pd.DataFrame:
    """A copy of the stage frame with n_train (from each run's config), gap (train_rmse /
    lsq_train_rmse, NaN without a positive optimum) and stall, the stalled-stage flag of a
    staged stage (every family but 'mlp'):

    - 'above its optimum': gap > GAP_LIMIT (3), when N <= n_train / 2 (near interpolation
      the optimum goes to 0 and the gap means nothing: a last layer of a [2, 5, 1] KAN at
      G = 200 has more coefficients than 1000 points, and an optimum of 1e-14);
    - 'not falling': no optimum recorded, N <= n_train / 2, G grew since the run's previous
      stage and train RMSE >= STALL_RATIO (0.9) x that stage's;
    - 'far above the other seeds': with at least OUTLIER_SEEDS (3) seeds of the same task,
      family, shape and G, train RMSE > OUTLIER_FACTOR (10) x their median, while
      N <= n_train / 2: a start stuck in a poor basin, whose last layer can still be at
      its own optimum (a [4, 2, 1, 1] KAN at train RMSE 0.16 where its other seeds reach
      4e-3);
    - '' otherwise. N is the trainable count; an unknown n_train counts as N > n_train / 2.
    """
    frame = stages.copy()
    if "lsq_train_rmse" not in frame:
        frame["lsq_train_rmse"] = math.nan
    if "lsq_scope" not in frame:
        frame["lsq_scope"] = None
    optimum = pd.to_numeric(frame["lsq_train_rmse"], errors="coerce").to_numpy(dtype=float)
    frame["lsq_train_rmse"] = optimum
    if "config" in frame:
        configs = frame["config"].to_numpy()
        known = {c: _n_train(c) for c in set(configs)}
        n_train = np.array([known[c] for c in configs], dtype=float)
    else:
        n_train = np.full(len(frame), math.nan)
    frame["n_train"] = n_train
    train = pd.to_numeric(frame["train_rmse"], errors="coerce").to_numpy(dtype=float)
    reference = np.isfinite(optimum) & (optimum > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["gap"] = np.where(reference, train / optimum, math.nan)
    staged = (frame["family"] != "mlp").to_numpy()
    small = frame["n_params"].to_numpy(dtype=float) <= n_train * INTERPOLATION_SHARE
    above = staged & (frame["gap"].to_numpy() > GAP_LIMIT) & small
    not_falling = np.zeros(len(frame), dtype=bool)
    if "run_id" in frame and "stage" in frame and len(frame) > 1:
        runs = frame["run_id"].astype(str).to_numpy()
        order = np.lexsort((frame["stage"].to_numpy(dtype=float), runs))
        grid = pd.to_numeric(frame["grid_size"], errors="coerce").to_numpy(dtype=float)
        now, before = order[1:], order[:-1]  # each stage and the one before it in its run
        same = runs[now] == runs[before]
        not_falling[now] = (
            same & (grid[now] > grid[before]) & (train[now] >= STALL_RATIO * train[before])
        )
    not_falling &= staged & ~reference & small
    outlier = staged & small & _far_above_other_seeds(frame, train)
    frame["stall"] = np.select(
        [above, not_falling, outlier],
        ["above its optimum", "not falling", "far above the other seeds"],
        "",
    )
    return frame


def _far_above_other_seeds(frame: pd.DataFrame, train: np.ndarray) -> np.ndarray:
    """Stages whose train RMSE is above OUTLIER_FACTOR x the median over the seeds of the
    same task, family, shape, variant and G (at least OUTLIER_SEEDS of them)."""
    columns = [c for c in ("task", "family", "shape", "variant", "grid_size") if c in frame]
    keys = pd.Series(
        ["|".join(map(str, row)) for row in frame[columns].itertuples(index=False)],
        index=frame.index,
    )
    seeds = frame["seed"] if "seed" in frame else pd.Series(0, index=frame.index)
    counts = seeds.groupby(keys).transform("nunique").to_numpy()
    median = pd.Series(train, index=frame.index).groupby(keys).transform("median").to_numpy()
    with np.errstate(invalid="ignore"):
        return (counts >= OUTLIER_SEEDS) & (train > OUTLIER_FACTOR * median)


def log_bins(n: np.ndarray, bins_per_decade: int = DEFAULT_BINS_PER_DECADE) -> np.ndarray:
    """The log-spaced bin of each N: floor(bins_per_decade * log10 N) (edges 10^(j/b))."""
    # a small tolerance keeps an N that sits on an edge (10, 100, ...) in its own bin
    return np.floor(bins_per_decade * np.log10(np.asarray(n, dtype=float)) + 1e-9).astype(int)


def frontier_indices(
    n: np.ndarray, rmse: np.ndarray, bins_per_decade: int = DEFAULT_BINS_PER_DECADE
) -> np.ndarray:
    """Indices of the frontier points: the lowest `rmse` in each log-spaced N bin.

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


def selection_rmse(points: pd.DataFrame) -> np.ndarray:
    """What a frontier picks by: each point's train RMSE, or its test RMSE when it has no
    finite positive train RMSE (so the test set picks nothing it need not)."""
    test = points["test_rmse"].to_numpy(dtype=float)
    if "train_rmse" not in points:
        return test
    train = pd.to_numeric(points["train_rmse"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(train) & (train > 0), train, test)


def frontier(points: pd.DataFrame, bins_per_decade: int = DEFAULT_BINS_PER_DECADE) -> pd.DataFrame:
    """The rows of points (columns N, test_rmse and train_rmse) on the frontier: in each
    log-spaced N bin the row of lowest train RMSE (selection_rmse)."""
    idx = frontier_indices(points["N"].to_numpy(), selection_rmse(points), bins_per_decade)
    return points.iloc[idx]


@dataclass(frozen=True)
class SeriesSpec:
    """A series of one task: its name, its family, the rows of the stage frame it is built
    from (`members`, with N) and how: 'all' (every member is a point) or 'frontier'."""

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
    (complete, finite test RMSE) take part; N is by `convention`, edges_g the grid
    variable, and the optimality columns come along.
    """
    frame = optimality_columns(stages)
    frame = frame[usable(frame)].copy()
    frame["N"] = param_count(frame, convention)
    frame["edges_g"] = grid_variable(frame)
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


def _prepared(members: pd.DataFrame) -> pd.DataFrame:
    """Members with the columns the fits read (edges_g, the optimality columns), added
    when a caller built them without (N must be there)."""
    if "stall" not in members:
        members = optimality_columns(members)
    if "edges_g" not in members:
        members = members.assign(edges_g=grid_variable(members))
    return members


def _points(members: pd.DataFrame, kind: str, bins_per_decade: int) -> pd.DataFrame:
    """The points of a series from its members: all of them, or their frontier; by N."""
    if kind == "frontier":
        return frontier(members, bins_per_decade)
    return members.iloc[np.argsort(members["N"].to_numpy(dtype=float), kind="stable")]


def fit_variable(spec: SeriesSpec) -> str:
    """The variable a series' primary alpha is in: GRID_VARIABLE (edges x G) for a staged
    family whose every member has one, else N_VARIABLE."""
    return _variable(spec.family, _prepared(spec.members))


def _variable(family: str, members: pd.DataFrame) -> str:
    if family == "mlp":
        return N_VARIABLE
    grid = members["edges_g"].to_numpy(dtype=float)
    return GRID_VARIABLE if grid.size and np.all(np.isfinite(grid) & (grid > 0)) else N_VARIABLE


_COLUMN = {N_VARIABLE: "N", GRID_VARIABLE: "edges_g"}


def build_series(
    spec: SeriesSpec, window: Window | None = None, bins_per_decade: int = DEFAULT_BINS_PER_DECADE
) -> pd.DataFrame:
    """The points of a series (its members, or their frontier), sorted by N, with
    in_window (the power law's) and in_plateau_window (the plateau-aware law's)."""
    window = window or Window()
    members = _prepared(spec.members)
    points = _points(members, spec.kind, bins_per_decade).copy()
    x = points[_COLUMN[_variable(spec.family, members)]].to_numpy(dtype=float)
    n = points["N"].to_numpy(dtype=float)
    choice = window.choose(x, points["test_rmse"].to_numpy(dtype=float), n)
    points.insert(0, "series", spec.name)
    points.insert(1, "primary", spec.primary)
    points["in_window"] = choice.power_mask(x, n)
    points["in_plateau_window"] = choice.plateau_mask(x, n)
    return points


# --------------------------------------------------------------------------- fits


@dataclass
class SeriesFit:
    """The fits of one series and how their intervals were made (one row of fits_table).

    `variable` is the variable of the primary alpha: GRID_VARIABLE for a staged family
    (alpha_grid, in edges x G, is the one compared with theory), N_VARIABLE for an MLP.
    alpha / alpha_lo / alpha_hi / A are in N (by the convention), *_grid in edges x G
    (NaN for an MLP), both over the same points. n_lo / n_hi and edges_g_lo / edges_g_hi:
    the power-law window in each variable; plateau_*: the plateau-aware law and its
    window. seeds_fit: the seeds with a fit in the window. one_law: whether one power law
    describes the window (if not, alpha is NaN and the note says why). n_stalled: flagged
    stages (optimality_columns) in either window.
    """

    task: str
    family: str
    series: str
    primary: bool
    variable: str
    n_runs: int
    n_seeds: int
    n_points: int
    n_window: int = 0
    n_lo: float = math.nan
    n_hi: float = math.nan
    edges_g_lo: float = math.nan
    edges_g_hi: float = math.nan
    alpha: float = math.nan
    alpha_lo: float = math.nan
    alpha_hi: float = math.nan
    A: float = math.nan
    alpha_grid: float = math.nan
    alpha_grid_lo: float = math.nan
    alpha_grid_hi: float = math.nan
    A_grid: float = math.nan
    seeds_fit: int = 0
    interval: str = ""
    one_law: bool = True
    plateau_n_window: int = 0
    plateau_n_lo: float = math.nan
    plateau_n_hi: float = math.nan
    plateau_edges_g_lo: float = math.nan
    plateau_edges_g_hi: float = math.nan
    plateau_alpha: float = math.nan
    plateau_alpha_lo: float = math.nan
    plateau_alpha_hi: float = math.nan
    plateau_A: float = math.nan
    plateau_E: float = math.nan
    plateau_alpha_grid: float = math.nan
    plateau_alpha_grid_lo: float = math.nan
    plateau_alpha_grid_hi: float = math.nan
    plateau_A_grid: float = math.nan
    plateau_E_grid: float = math.nan
    plateau_seeds_fit: int = 0
    plateau_interval: str = ""
    n_stalled: int = 0
    note: str = ""

    @property
    def fitted(self) -> bool:
        """Whether the power law was fitted (alpha is a number)."""
        return math.isfinite(self.alpha)

    def primary_alpha(self, plateau: bool = False) -> tuple[float, float, float]:
        """(alpha, low, high) of the law in the series' own variable."""
        prefix = "plateau_alpha" if plateau else "alpha"
        suffix = "_grid" if self.variable == GRID_VARIABLE else ""
        return tuple(getattr(self, f"{prefix}{suffix}{end}") for end in ("", "_lo", "_hi"))


@dataclass(frozen=True)
class _Estimate:
    alpha: float
    low: float
    high: float
    scale: float  # A
    floor: float  # E (NaN for the power law)
    seeds: int
    text: str
    at_bound: bool = False


def _spread_text(seeds: int, n_seeds: int, min_seeds: int) -> str:
    if n_seeds <= 1:
        return "one seed, so it ignores seed-to-seed spread"
    return (
        f"{seeds} of {n_seeds} seeds with a fit (fewer than min_seeds {min_seeds}), so it "
        f"ignores seed-to-seed spread"
    )


def _seed_text(seeds: int, n_seeds: int, what: str, level: float) -> str:
    text = (
        f"t-interval over {seeds} per-seed {what}: mean ± t({0.5 + level / 2:g}, {seeds - 1})"
        f"·sd/√{seeds}"
    )
    return text + (f" ({seeds} of {n_seeds} seeds fitted)" if seeds < n_seeds else "")


def _power_estimate(pooled, per_seed, n_seeds, min_seeds, level) -> _Estimate:
    """alpha of l = A x^-alpha over the window: the mean over seeds with its t-interval,
    or the pooled fit's residual t-interval."""
    alphas = [fit_power_law(x, y).alpha for x, y in per_seed if np.unique(x).size >= MIN_POINTS]
    x, y = pooled
    if len(alphas) >= min_seeds:
        alpha, low, high = seed_interval(alphas, level)
        text = _seed_text(len(alphas), n_seeds, "slopes", level)
    else:
        fit = fit_power_law(x, y)
        alpha, (low, high) = fit.alpha, fit.t_interval(level)
        text = f"t-interval of the log-log slope (dof {fit.dof}); " + _spread_text(
            len(alphas), n_seeds, min_seeds
        )
    return _Estimate(alpha, low, high, power_law_scale(x, y, alpha), math.nan, len(alphas), text)


def _plateau_estimate(pooled, per_seed, n_seeds, min_seeds, level) -> _Estimate:
    """alpha of l = A x^-alpha + E over its window, as _power_estimate; A and E: the
    pooled fit at that alpha."""
    x, y = pooled
    fit = fit_plateau(x, y)
    start = (fit.A, fit.alpha, fit.E)
    fits = []
    for xs, ys in per_seed:
        if np.unique(xs).size >= MIN_POINTS + 1:
            try:
                fits.append(fit_plateau(xs, ys, start))
            except ValueError:
                continue
    at_bound = fit.at_bound or any(f.at_bound for f in fits)
    if len(fits) >= min_seeds:
        alpha, low, high = seed_interval([f.alpha for f in fits], level)
        text = _seed_text(len(fits), n_seeds, "fits", level)
        fixed = fit_plateau(x, y, start, alpha=alpha)
        scale, floor = fixed.A, fixed.E
    else:
        alpha, (low, high), scale, floor = fit.alpha, fit.t_interval(level), fit.A, fit.E
        if fit.dof >= 1:
            text = f"t-interval from the Jacobian (dof {fit.dof}); " + _spread_text(
                len(fits), n_seeds, min_seeds
            )
        else:
            text = "none (no degree of freedom left)"
    return _Estimate(alpha, low, high, scale, floor, len(fits), text, at_bound)


def _range(values: np.ndarray) -> str:
    return f"{values.min():.4g}-{values.max():.4g}" if values.size else "empty"


def fit_series(
    spec: SeriesSpec,
    window: Window | None = None,
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE,
    min_seeds: int = DEFAULT_MIN_SEEDS,
    level: float = 0.95,
    plateau: bool = True,
) -> SeriesFit:
    """Fit both laws to a series inside its windows, with alpha's interval at `level`.

    The windows are chosen once, from the pooled points of every seed, in the series' own
    variable (fit_variable); every seed's own points (its own frontier for a frontier
    series) inside them are fitted alone. With at least `min_seeds` seeds fitted, alpha is
    the mean of their alphas with the t-interval over seeds; else the pooled fit's residual
    t-interval, which ignores seed-to-seed spread (its text says so). Staged families are
    fitted in edges x G and in N over the same points. Fewer than MIN_POINTS distinct sizes
    in the window, or a window that one power law does not describe (kanbench.fits.one_law):
    alpha NaN and the reason in `note`. The plateau-aware law needs MIN_POINTS + 1 distinct
    sizes in its window; plateau=False skips it.
    """
    window = window or Window()
    members = _prepared(spec.members)
    variable = _variable(spec.family, members)
    columns = [("", "N")] + ([("_grid", "edges_g")] if variable == GRID_VARIABLE else [])
    primary_suffix = columns[-1][0]
    points = _points(members, spec.kind, bins_per_decade)
    x = points[_COLUMN[variable]].to_numpy(dtype=float)
    n = points["N"].to_numpy(dtype=float)
    rmse = points["test_rmse"].to_numpy(dtype=float)
    choice = window.choose(x, rmse, n)
    power, flat = choice.power_mask(x, n), choice.plateau_mask(x, n)
    seeds = (
        members["seed"].astype("Float64").fillna(-1)
        if "seed" in members
        else pd.Series(-1, index=members.index)
    )
    seed_points = [
        _points(group, spec.kind, bins_per_decade) for _, group in members.groupby(seeds)
    ]
    fit = SeriesFit(
        task=spec.task,
        family=spec.family,
        series=spec.name,
        primary=spec.primary,
        variable=variable,
        n_runs=int(members["run_id"].nunique()),
        n_seeds=len(seed_points),
        n_points=len(points),
        n_window=int(power.sum()),
        plateau_n_window=int(flat.sum()),
    )
    for prefix, mask in (("", power), ("plateau_", flat)):
        for suffix, column in (("n", "N"), ("edges_g", "edges_g")):
            values = points.loc[mask, column].to_numpy(dtype=float)
            if values.size and np.all(np.isfinite(values)):
                setattr(fit, f"{prefix}{suffix}_lo", float(values.min()))
                setattr(fit, f"{prefix}{suffix}_hi", float(values.max()))
    notes: list[str] = []

    def windowed(frame: pd.DataFrame, column: str, plateau_window: bool):
        xs = frame[_COLUMN[variable]].to_numpy(dtype=float)
        ns = frame["N"].to_numpy(dtype=float)
        mask = choice.plateau_mask(xs, ns) if plateau_window else choice.power_mask(xs, ns)
        return (
            frame[column].to_numpy(dtype=float)[mask],
            frame["test_rmse"].to_numpy(dtype=float)[mask],
        )

    distinct = np.unique(x[power]).size
    if distinct < MIN_POINTS:
        notes.append(f"no fit: {distinct} distinct N in the window (a fit needs {MIN_POINTS})")
    else:
        law = one_law(x[power], rmse[power], level)
        fit.one_law = law.holds
        if not law.holds:
            notes.append(_one_law_note(law, variable, x, n))
        else:
            for suffix, column in columns:
                estimate = _power_estimate(
                    windowed(points, column, False),
                    [windowed(s, column, False) for s in seed_points],
                    fit.n_seeds,
                    min_seeds,
                    level,
                )
                _store(fit, "", suffix, estimate)
                fit.seeds_fit, fit.interval = estimate.seeds, estimate.text
    if plateau:
        distinct = np.unique(x[flat]).size
        if distinct < MIN_POINTS + 1:
            notes.append(
                f"no plateau-aware fit: {distinct} distinct N in its window "
                f"(it needs {MIN_POINTS + 1})"
            )
        else:
            try:
                for suffix, column in columns:
                    estimate = _plateau_estimate(
                        windowed(points, column, True),
                        [windowed(s, column, True) for s in seed_points],
                        fit.n_seeds,
                        min_seeds,
                        level,
                    )
                    _store(fit, "plateau_", suffix, estimate)
                    fit.plateau_seeds_fit, fit.plateau_interval = estimate.seeds, estimate.text
                    if estimate.at_bound and suffix == primary_suffix:
                        notes.append(f"plateau-aware alpha at its bound {ALPHA_BOUNDS[1]:g}")
            except ValueError as error:
                notes.append(f"no plateau-aware fit: {error}")
    stalled = points.loc[power | flat, "stall"].astype(str) != ""
    fit.n_stalled = int(stalled.sum())
    if fit.n_stalled:
        stages = "stage" if fit.n_stalled == 1 else "stages"
        notes.append(
            f"{fit.n_stalled} stalled {stages} in the window: the slope measures the optimiser"
        )
    fit.note = "; ".join(notes)
    return fit


def _store(fit: SeriesFit, prefix: str, suffix: str, estimate: _Estimate) -> None:
    """Set a law's alpha, interval, A (and E) on fit: prefix '' or 'plateau_', suffix ''
    (in N) or '_grid' (in edges x G)."""
    setattr(fit, f"{prefix}alpha{suffix}", estimate.alpha)
    setattr(fit, f"{prefix}alpha{suffix}_lo", estimate.low)
    setattr(fit, f"{prefix}alpha{suffix}_hi", estimate.high)
    setattr(fit, f"{prefix}A{suffix}", estimate.scale)
    if prefix:
        setattr(fit, f"{prefix}E{suffix}", estimate.floor)


def _one_law_note(law: OneLaw, variable: str, x: np.ndarray, n: np.ndarray) -> str:
    """Why one power law does not describe a window: its parts' slopes and ranges."""

    def where(span) -> str:
        inside = span.contains(x)
        text = f"N {_range(n[inside])}"
        if variable == GRID_VARIABLE:
            text += f" (edges·G {_range(x[inside])})"
        return text

    return (
        f"no single power law in the window: α in {variable} is {law.first:.2f} over "
        f"{where(law.first_span)} but {law.second:.2f} over {where(law.second_span)}"
    )


# --------------------------------------------------------------------------- analysis


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
    return [s for s in specs if s.family != "mlp" and s.kind == "all"]


FLAGGED_COLUMNS = ("task", "series", "seed", "G", "N", "train", "optimum", "gap", "flag")


def optimality_table(specs: Sequence[SeriesSpec]) -> pd.DataFrame:
    """Per staged series (one shape): its stages, those with an optimum (lsq_train_rmse),
    those within GAP_LIMIT of it, the largest gap and its G, and the flagged stages."""
    rows = []
    for spec in _one_shape_series(specs):
        members = _prepared(spec.members)
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
        members = _prepared(spec.members)
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
    """Per task: d, the KAN spline orders k, alpha_theory_kan = k + 1 (a rate in edges x G)
    and alpha_theory_mlp = 4/d (a rate in N)."""
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
    """One row per task: per family, the primary series' alpha in its own variable
    (variable_<family>: edges·G for staged families, N for MLPs) with interval and method,
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
            default = N_VARIABLE if family == "mlp" else GRID_VARIABLE
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
            row[f"window_{key}"] = _window_text(fit) if fit is not None else ""
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


def _span_text(low, high) -> str:
    return f"{float(low):.4g}-{float(high):.4g}" if _finite(low) and _finite(high) else "empty"


def _window_text(fit, plateau: bool = False) -> str:
    """'N 24-315 (edges·G 9-300)': a window's range in N, and in edges x G when fitted in it."""
    prefix = "plateau_" if plateau else ""
    text = f"N {_span_text(fit[f'{prefix}n_lo'], fit[f'{prefix}n_hi'])}"
    if fit["variable"] == GRID_VARIABLE:
        grid = _span_text(fit[f"{prefix}edges_g_lo"], fit[f"{prefix}edges_g_hi"])
        text += f" ({GRID_VARIABLE} {grid})"
    return text


def _stalled_mark(text: str, stalled) -> str:
    """An alpha's text with STALLED_MARK when stalled stages lie in its window."""
    return f"{text} {STALLED_MARK}" if text and _finite(stalled) and int(stalled) > 0 else text


def summary_markdown_frame(summary: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """The summary table with its numbers formatted for reading (one cell per quantity):
    a KAN-like family's alpha in edges·G beside the theory k + 1, the MLP's in N beside
    4/d."""
    families = [(f, name) for f, name in FAMILY_NAMES.items() if f"alpha_{f}" in summary]
    rows = []
    for _, r in summary.iterrows():
        row = {"task": r["task"], "d": _number(r["d"], "int")}
        for key, label in families:
            header = N_VARIABLE if key == "mlp" else GRID_VARIABLE
            other = "" if r[f"variable_{key}"] == header else f" (in {r[f'variable_{key}']})"
            alpha = format_interval(r[f"alpha_{key}"], r[f"alpha_lo_{key}"], r[f"alpha_hi_{key}"])
            alpha = _stalled_mark(alpha + other if alpha else "", r[f"stalled_{key}"])
            row[f"{label} series"] = r[f"series_{key}"] or "-"
            row[f"α {label} in {header}"] = alpha or r[f"note_{key}"] or "no fit"
            if key == "kan":
                row[f"theory KAN k+1 in {GRID_VARIABLE}"] = _number(r["alpha_theory_kan"])
            if key == "mlp":
                row[f"theory MLP 4/d in {N_VARIABLE}"] = _number(r["alpha_theory_mlp"])
            row[f"α {label} window"] = r[f"window_{key}"]
            row[f"α {label} interval"] = r[f"interval_{key}"]
            plateau = format_interval(
                r[f"plateau_alpha_{key}"],
                r[f"plateau_alpha_lo_{key}"],
                r[f"plateau_alpha_hi_{key}"],
            )
            row[f"α {label} with E in {header}"] = (
                f"{plateau}{other}, E={r[f'plateau_E_{key}']:.1e}" if plateau else "no fit"
            )
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
    """The fits table formatted for reading: alpha in edges·G (staged families) and in N,
    each window's range in both variables, the interval methods and the notes."""
    rows = []
    for _, f in fits.iterrows():
        grid = f["variable"] == GRID_VARIABLE

        def alpha(prefix: str, suffix: str, f=f) -> str:
            text = format_interval(
                f[f"{prefix}alpha{suffix}"],
                f[f"{prefix}alpha{suffix}_lo"],
                f[f"{prefix}alpha{suffix}_hi"],
            )
            return _stalled_mark(text, f["n_stalled"]) or "no fit"

        rows.append(
            {
                "task": f["task"],
                "series": f["series"] + (" *" if f["primary"] else ""),
                "runs": f["n_runs"],
                "seeds (fitted)": f"{f['n_seeds']} ({f['seeds_fit']})",
                "points (in window)": f"{f['n_points']} ({f['n_window']})",
                "window": _window_text(f),
                f"α in {GRID_VARIABLE}": alpha("", "_grid") if grid else "-",
                f"α in {N_VARIABLE}": alpha("", ""),
                "interval": f["interval"],
                "plateau window": _window_text(f, plateau=True),
                f"α with E in {GRID_VARIABLE}": alpha("plateau_", "_grid") if grid else "-",
                f"α with E in {N_VARIABLE}": alpha("plateau_", ""),
                "E": _number(f["plateau_E"], "e"),
                "interval (with E)": f["plateau_interval"],
                "note": f["note"],
            }
        )
    return pd.DataFrame(rows)


def optimality_markdown_frame(optimality: pd.DataFrame) -> pd.DataFrame:
    """The optimality table formatted for reading."""
    rows = []
    for _, r in optimality.iterrows():
        largest = (
            f"{r['largest_gap']:.3g} (G={_number(r['largest_gap_G'], 'int')})"
            if _finite(r["largest_gap"])
            else "-"
        )
        rows.append(
            {
                "task": r["task"],
                "series": r["series"],
                "stages": r["stages"],
                f"within {GAP_LIMIT:g}x of the optimum (of those with one)": (
                    f"{r['within_limit']} of {r['with_optimum']}"
                ),
                "largest gap (G)": largest,
                "flagged": r["flagged"],
            }
        )
    return pd.DataFrame(rows)


def flagged_markdown_frame(flagged: pd.DataFrame) -> pd.DataFrame:
    """The flagged stages formatted for reading."""
    return pd.DataFrame(
        {
            "task": flagged["task"],
            "series": flagged["series"],
            "seed": flagged["seed"].map(lambda v: _number(v, "int")),
            "G": flagged["G"].map(lambda v: _number(v, "int")),
            "N": flagged["N"].map(lambda v: _number(v, "int")),
            "train": flagged["train"].map(lambda v: _number(v, "e")),
            "optimum": flagged["optimum"].map(lambda v: _number(v, "e")),
            "gap": flagged["gap"].map(_number),
            "flag": flagged["flag"],
        },
        columns=list(FLAGGED_COLUMNS),
    )


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


# --------------------------------------------------------------------------- bench records

BENCH_TIMES = ("fwd_ms", "fwd_bwd_ms", "adam_ms", "lbfgs_ms")
BENCH_VALUES = (*BENCH_TIMES, "peak_mb", "samples_per_s")
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
    "ALPHA_BOUNDS",
    "BENCH_GOALS",
    "BENCH_TIMES",
    "BENCH_VALUES",
    "CONVENTIONS",
    "DESCENT_SHARE",
    "FLAGGED_COLUMNS",
    "GAP_LIMIT",
    "OUTLIER_FACTOR",
    "OUTLIER_SEEDS",
    "GRID_VARIABLE",
    "MIN_POINTS",
    "NOT_REACHED",
    "N_VARIABLE",
    "ONE_LAW_RATIO",
    "POINT_COLUMNS",
    "STALL_RATIO",
    "STALLED_MARK",
    "START_RATIO",
    "SUPPORTED_SCHEMAS",
    "WINDOWS",
    "Analysis",
    "OneLaw",
    "PlateauFit",
    "PowerLawFit",
    "SeriesFit",
    "SeriesSpec",
    "Settings",
    "Study",
    "Window",
    "analyse",
    "bench_goals",
    "build_series",
    "find_bench_files",
    "find_run_files",
    "fit_plateau",
    "fit_power_law",
    "fit_series",
    "fit_variable",
    "fits_markdown_frame",
    "fits_table",
    "flagged_markdown_frame",
    "flagged_stages",
    "format_interval",
    "frontier",
    "frontier_indices",
    "grid_variable",
    "load_bench",
    "load_records",
    "load_study",
    "log_bins",
    "markdown_table",
    "n_to_reach",
    "one_law",
    "optimality_columns",
    "optimality_markdown_frame",
    "optimality_table",
    "param_count",
    "power_law_scale",
    "read_run_file",
    "seed_interval",
    "selection_rmse",
    "series_specs",
    "summary_markdown_frame",
    "summary_table",
    "theory_table",
    "task_dimension",
    "usable",
    "write_tables",
]
