"""The cost columns of a stage frame (kanbench.cost): training FLOPs and seconds per stage
and cumulative over each run, derived for records made before the fields existed.

A record made by this kanbench holds its cost (COST_COLUMNS). For an older one the loader
derives them from what it holds, by the same formulas (kanbench.cost, kanbench.flops):
flops_forward_per_sample from the registry's Family.flops at the stage's shape and size
(an MLP's inputs from its task), samples_per_evaluation from the run's config
(data.n_train), train_evaluations from `evaluations`, cum_wall_s from wall_s, and the
cumulative columns over the run's stages (a staged family) or per stage (the others).
`evaluations` holds only the chosen start's loss evaluations, and older records do not
say how many the other restart probes took, so those are estimated as (restarts - 1) x
restart_probe_steps x the stage's evaluations per step. The column cost_derived marks
the rows derived so; a cost that cannot be derived (no evaluations, an unknown family,
a task whose inputs are unknown) is NaN.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from kanbench.cost import FLOPS_CONVENTION, left_behind_evaluations
from kanbench.families import FAMILIES
from kanbench.flops import train_flops

COST_COLUMNS = (
    "flops_forward_per_sample",
    "samples_per_evaluation",
    "train_evaluations",
    "train_flops",
    "cum_train_flops",
    "cum_wall_s",
)


def _json(text):
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return None
    return text


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _task_inputs(task: str, config: dict) -> int | None:
    """The number of inputs of a task: the library's, else from the run's task config."""
    from kanbench.tasks import get_task, task_from_config

    try:
        return get_task(task).input_dim
    except ValueError:
        pass
    try:
        return task_from_config(config["task"]).input_dim
    except (ValueError, KeyError, TypeError):
        return None


def _forward(row: pd.Series, config: dict) -> float:
    """flops_forward_per_sample of an older stage record (NaN when it cannot be told)."""
    entry = FAMILIES.get(row["family"])
    if entry is None or entry.flops is None:
        return math.nan
    model = dict(config.get("model") or {})
    try:
        if entry.staged:
            shape, size = _json(row["shape"]), int(row["grid_size"])
        else:
            if pd.notna(row.get("depth")):
                model["depth"] = int(row["depth"])
            inputs = _task_inputs(row["task"], config)
            shape, size = (inputs, 1), int(row["width"])
            if inputs is None:
                return math.nan
        return float(entry.flops(entry.config(**model), shape, size))
    except (TypeError, ValueError, KeyError, IndexError):
        return math.nan


def _evaluations(row: pd.Series) -> float:
    """The stage's loss evaluations with its left-behind restart probes (module docstring)."""
    evaluations = _number(row.get("evaluations"))
    probes = _json(row.get("restart_probe_evaluations"))
    if isinstance(probes, list):
        chosen = row.get("chosen_restart")
        chosen = int(chosen) if pd.notna(chosen) else None
        return evaluations + left_behind_evaluations(
            {"restart_probe_evaluations": probes, "chosen_restart": chosen}
        )
    restarts, probe_steps = _number(row.get("restarts")), _number(row.get("restart_probe_steps"))
    steps = _number(row.get("steps"))
    if restarts > 1 and probe_steps > 0 and steps > 0:
        return evaluations + (restarts - 1) * probe_steps * evaluations / steps
    return evaluations


def cost_columns(stages: pd.DataFrame) -> pd.DataFrame:
    """A copy of the stage frame with every cost column (COST_COLUMNS, flops_convention)
    and cost_derived: recorded where the record holds them, derived where it predates
    them (module docstring), NaN where neither."""
    frame = stages.copy()
    recorded = (
        frame["cum_wall_s"].notna().to_numpy() if "cum_wall_s" in frame else np.zeros(len(frame))
    ).astype(bool)
    for column in COST_COLUMNS:
        if column not in frame:
            frame[column] = math.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if "flops_convention" not in frame:
        frame["flops_convention"] = None
    old = ~recorded
    configs: dict = {}
    for index in frame.index[old]:
        row = frame.loc[index]
        text = row.get("config")
        if text not in configs:
            configs[text] = _json(text) or {}
        config = configs[text]
        forward = _forward(row, config)
        samples = _number((config.get("data") or {}).get("n_train"))
        evaluations = _evaluations(row)
        frame.loc[index, "flops_forward_per_sample"] = forward
        frame.loc[index, "samples_per_evaluation"] = samples
        frame.loc[index, "train_evaluations"] = evaluations
        frame.loc[index, "train_flops"] = (
            train_flops(forward, samples, evaluations)
            if all(map(math.isfinite, (forward, samples, evaluations)))
            else math.nan
        )
        frame.loc[index, "flops_convention"] = FLOPS_CONVENTION
    _cumulate(frame, old)
    derived = old & (
        np.isfinite(frame["train_flops"].to_numpy()) | np.isfinite(frame["cum_wall_s"].to_numpy())
    )
    frame["cost_derived"] = derived
    return frame


def _cumulate(frame: pd.DataFrame, rows: np.ndarray) -> None:
    """Fill cum_train_flops and cum_wall_s of the given rows: the sum over the run's stages
    up to this one (a staged family) or the stage's own (the others)."""
    if not rows.any():
        return
    wall = pd.to_numeric(frame["wall_s"], errors="coerce").astype(float)
    own = {"cum_train_flops": frame["train_flops"], "cum_wall_s": wall}
    runs = frame["run_id"] if "run_id" in frame else pd.Series("", index=frame.index)
    stage = pd.to_numeric(frame["stage"], errors="coerce").astype(float)
    order = np.lexsort((stage.to_numpy(), runs.astype(str).to_numpy()))
    ordered = frame.index[order]
    staged = frame["family"].map(lambda f: f in FAMILIES and FAMILIES[f].staged)
    for column, values in own.items():
        totals = values.loc[ordered].groupby(runs.loc[ordered], sort=False).cumsum()
        cumulative = totals.where(staged.loc[ordered], values.loc[ordered])
        fill = frame.index[rows]
        frame.loc[fill, column] = cumulative.loc[fill].to_numpy()
