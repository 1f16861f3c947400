"""Stored runs into pandas frames: one row per stage, one row per logged training step.

`load_study` reads every run file (``<folder>/**/records/<run_id>.json``, written by
kanbench.store) under one or more folders into a Study: the stage frame (each stage
record's fields flattened, with the optimality columns of kanbench.analysis.stages and
the cost columns of kanbench.analysis.costs) and the step histories. Records from before
lsq_train_rmse / lsq_scope load with NaN / None there; records from before the cost
fields get them derived from their evaluations (cost_derived marks those rows). A run
stored twice is kept once; unreadable files are skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kanbench.analysis.costs import cost_columns
from kanbench.analysis.stages import optimality_columns

log = logging.getLogger(__name__)

SUPPORTED_SCHEMAS = (1,)
UNKNOWN_SCHEMA_ACTIONS = ("raise", "skip")

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
    folders = as_folders(folders)
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


def as_folders(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[Path, ...]:
    """One folder or several as a tuple of Paths; ValueError when there is none."""
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
    folders = as_folders(folders)
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
    return cost_columns(optimality_columns(frame))


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
