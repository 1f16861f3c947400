"""Columns computed per stage: N by a counting convention, the grid variable edges x G,
usability as a curve point, and the optimality columns (gap to the least-squares optimum
and the stalled-stage flag).

Whether a stage is of a staged family (trained through a size schedule, its size knob in
grid_size) is the family registry's word (kanbench.families, Family.staged); a family
name the registry does not know (a record of another version) counts as not staged.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from kanbench.families import FAMILIES, staged_families

CONVENTIONS = ("trainable", "paper")
CONVENTION_COLUMNS = {"trainable": "n_params", "paper": "n_params_paper"}
GAP_LIMIT = 3.0  # a stage whose train RMSE exceeds this multiple of its optimum is flagged
STALL_RATIO = 0.9  # a stage without an optimum whose train RMSE fell by less is flagged
OUTLIER_FACTOR = 10.0  # a stage this far above its seeds' median train RMSE is flagged ...
OUTLIER_SEEDS = 3  # ... when at least this many seeds ran it
INTERPOLATION_SHARE = 0.5  # flags need N <= this share of n_train (see optimality_columns)


def is_staged(name: str) -> bool:
    """Whether a family is staged (the registry's Family.staged); False for a name the
    registry does not know."""
    return name in FAMILIES and FAMILIES[name].staged


def staged_mask(families: pd.Series) -> np.ndarray:
    """is_staged of each family name of a column (e.g. a stage frame's "family")."""
    return families.isin(staged_families()).to_numpy(dtype=bool)


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
    G its grid_size: the family's size knob), the variable of the KAN theory rate k + 1;
    NaN for a stage of a family that is not staged (an MLP's) or one without a shape or a
    grid size."""
    edges = stages["shape"].map(_edges).astype(float)
    grid = pd.to_numeric(stages["grid_size"], errors="coerce").astype(float)
    return (edges * grid).where(staged_mask(stages["family"]))


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
    stage of a staged family (is_staged):

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
    staged = staged_mask(frame["family"])
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
