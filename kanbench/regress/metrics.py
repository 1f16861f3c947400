"""The metrics kanbench-regress compares, collected from stored runs and bench cases.

Each metric is keyed by (kind, task, family, series, seed, point):

- test_rmse: the test RMSE of every stage of every run; the series is the run's KAN shape,
  else "depth d", and the point "stage s, G=g" (or "stage s, N=n" without a grid). Runs
  that would share a key are told apart by the config values in which they differ.
- alpha: the exponent of l = A x^-alpha fitted to each run's usable stages, in the run's own
  variable: edges x G for a staged run (the variable of the theory's k + 1), the trainable
  count N for an MLP (kanbench.analysis.fit_series with its default window); left out when
  the run has too few points to fit or one power law does not describe its window.
- speed_ratio: each family's forward+backward time over the case's parameter-matched MLP's,
  both timed side by side in one process (kanbench.bench.time_case), per probe case.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kanbench import analysis

log = logging.getLogger(__name__)

KINDS = ("test_rmse", "alpha", "speed_ratio")


@dataclass(frozen=True)
class Metric:
    """One number of a study and where it comes from."""

    kind: str  # one of KINDS
    task: str
    family: str
    series: str
    seed: int | None
    point: str
    value: float
    note: str = ""

    @property
    def key(self) -> tuple:
        return (self.kind, self.task, self.family, self.series, self.seed, self.point)

    @property
    def label(self) -> str:
        """The key in words: 'exp_sin_y2 kan [2,1,1] seed 0 stage 2, G=10'."""
        seed = "" if self.seed is None else f" seed {self.seed}"
        return f"{self.task} {self.family} {self.series}{seed} {self.point}".strip()


def _config_items(config: dict, prefix: str = "") -> dict[str, str]:
    """A nested config flattened to {'model.shape': '[2, 1, 1]', ...}."""
    items = {}
    for key, value in config.items():
        if isinstance(value, dict):
            items.update(_config_items(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = json.dumps(value)
    return items


def _series_labels(stages: pd.DataFrame) -> dict[str, str]:
    """run_id -> series label: the KAN shape or 'depth d', plus what tells colliding runs apart."""
    first = stages.groupby("run_id", sort=True).first()
    labels = {}
    for run_id, row in first.iterrows():
        shape = row.get("shape")
        if isinstance(shape, str) and shape not in ("", "null"):
            labels[run_id] = shape  # compact JSON in the frame: "[2,1,1]"
        elif pd.notna(row.get("depth")):
            labels[run_id] = f"depth {row['depth']}"
        else:
            labels[run_id] = "-"
    groups: dict[tuple, list[str]] = {}
    for run_id, row in first.iterrows():
        groups.setdefault((row["task"], row["family"], labels[run_id], row["seed"]), []).append(
            run_id
        )
    for run_ids in groups.values():
        if len(run_ids) < 2:
            continue
        configs = {r: _config_items(json.loads(first.loc[r, "config"] or "{}")) for r in run_ids}
        keys = sorted(set().union(*configs.values()))
        differing = [k for k in keys if len({configs[r].get(k) for r in run_ids}) > 1]
        for run_id in run_ids:
            extra = ", ".join(f"{k}={configs[run_id].get(k)}" for k in differing)
            labels[run_id] = f"{labels[run_id]} ({extra})"
    return labels


def _seed(value) -> int | None:
    return None if pd.isna(value) else int(value)


def stage_metrics(stages: pd.DataFrame) -> list[Metric]:
    """test_rmse of every stage and alpha of every run of a stage frame (module docstring)."""
    labels = _series_labels(stages)
    metrics = []
    for _, row in stages.iterrows():
        size = f"G={row['grid_size']}" if pd.notna(row["grid_size"]) else f"N={row['n_params']}"
        complete = row["status"] == "complete"
        metrics.append(
            Metric(
                "test_rmse",
                row["task"],
                row["family"],
                labels[row["run_id"]],
                _seed(row["seed"]),
                f"stage {row['stage']}, {size}",
                float(row["test_rmse"]) if complete else math.nan,
                f"N={row['n_params']}" if complete else f"stage {row['status']}",
            )
        )
    usable = stages[analysis.usable(stages)].copy()
    usable["N"] = analysis.param_count(usable)
    for run_id, members in usable.groupby("run_id", sort=True):
        first = members.iloc[0]
        spec = analysis.SeriesSpec(
            first["task"], first["family"], labels[run_id], "all", True, members
        )
        fit = analysis.fit_series(spec)
        if not fit.fitted:
            log.info("%s %s: no alpha (%s)", first["task"], labels[run_id], fit.note)
            continue
        alpha, _, _ = fit.primary_alpha()
        metrics.append(
            Metric(
                "alpha",
                first["task"],
                first["family"],
                labels[run_id],
                _seed(first["seed"]),
                f"power law in {fit.variable}",
                float(alpha),
                f"N={fit.n_lo:g}..{fit.n_hi:g}, {fit.n_window} points",
            )
        )
    return metrics


def speed_metrics(cases: pd.DataFrame) -> list[Metric]:
    """speed_ratio of every measured non-MLP family of a bench frame (analysis.load_bench)."""
    metrics = []
    measured = cases[(cases["family"] != "mlp") & (cases["status"] == "ok")]
    for _, row in measured.iterrows():
        ratio = float(row["fwd_bwd_ms_ratio"])
        metrics.append(
            Metric(
                "speed_ratio",
                "-",
                f"{row['family']}/mlp",
                f"[{row['shape']}]",
                None,
                f"G={row['grid_size']} batch={row['batch']} {row['dtype']} fwd+bwd",
                ratio,
                f"{row['fwd_bwd_ms']:.3g} ms over {row['fwd_bwd_ms'] / ratio:.3g} ms",
            )
        )
    return metrics


def stored_kinds(folder: str | os.PathLike) -> tuple[bool, bool]:
    """Whether folder holds run records (records/), bench cases (bench/); ValueError when
    it holds neither."""
    folder = Path(folder)
    has_runs = any(folder.rglob("records/*.json"))
    has_bench = any(folder.rglob("bench/*.json"))
    if not (has_runs or has_bench):
        raise ValueError(f"folder {str(folder)!r} holds no run records and no bench cases")
    return has_runs, has_bench


def collect_metrics(folder: str | os.PathLike) -> list[Metric]:
    """Every metric of the run records (records/) and bench cases (bench/) under folder."""
    has_runs, has_bench = stored_kinds(folder)
    metrics = stage_metrics(analysis.load_records(folder)) if has_runs else []
    if has_bench:
        metrics += speed_metrics(analysis.load_bench(folder))
    # by kind, then task, family, series and seed; stages stay in their order
    return sorted(metrics, key=lambda m: (KINDS.index(m.kind), *map(str, m.key[1:5])))
