"""Synthetic run files in kanbench-train's record format, with a known scaling law.

write_run() writes <folder>/records/<run_id>.json as kanbench.run does: schema, run_id,
status, config, provenance, stages (one record per size, every field a real record has)
and history ([stage, step, train RMSE, test RMSE or None] per step). Without `lsq` the
stages are records from before lsq_train_rmse / lsq_scope (the fields are absent).
power_law_members() builds the members of a series in memory, for studies of many series.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

PROVENANCE = {
    "kanbench_version": "0.1.0",
    "git_commit": "0" * 40,
    "torch_version": "2.13.0+cpu",
    "python_version": "3.11.7",
    "machine": "x86_64",
    "processor": None,
    "hostname": "test",
}


def edges(shape):
    """sum_l w_l w_{l+1}: the edges of a KAN of this shape."""
    return sum(a * b for a, b in zip(shape[:-1], shape[1:], strict=True))


def kan_size(shape, grid, convention="trainable", k=3):
    """Edges x (G + k + 2) trainable numbers (edges x G in the paper's convention)."""
    return edges(shape) * (grid if convention == "paper" else grid + k + 2)


def mlp_size(d_in, depth, width):
    """Weights and biases of an MLP with depth linear layers of hidden width `width`."""
    sizes = [d_in] + [width] * (depth - 1) + [1]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def law(n, alpha, a=1.0, e=0.0):
    """l = a N^-alpha + e."""
    return a * np.asarray(n, dtype=float) ** -alpha + e


def write_run(
    folder: Path,
    family: str,
    rmse,
    *,
    task: str = "exp_sin_y2",
    seed: int = 0,
    grids=(3, 5, 10, 20, 50, 100, 200, 500),
    shape=(2, 1, 1),
    depth: int = 3,
    widths=None,
    steps: int = 4,
    schema: int = 1,
    status: str = "complete",
    stage_status=None,
    run_id: str | None = None,
    train=None,
    lsq=None,
    lsq_scope: str | None = None,
    n_train: int = 1000,
) -> Path:
    """Write one run whose stage i has test RMSE rmse(N_i) (a callable of the N array) or
    rmse[i] (a sequence); returns the file's path.

    A staged family (any but 'mlp'; kan_size counts its N): one stage per grid in grids
    (N = the trainable count of shape at G). MLP: one stage per width in widths (default:
    the width whose count is nearest each KAN size). train: the train RMSE per stage
    (default 0.8 x test); lsq: lsq_train_rmse per stage (None entries: not computed),
    written with lsq_scope (default 'model' for a one-layer shape, else 'last layer').
    """
    staged = family != "mlp"
    if staged:
        sizes = [kan_size(shape, g) for g in grids]
    else:
        widths = widths or [max(1, round(np.sqrt(kan_size(shape, g)))) for g in grids]
        sizes = [mlp_size(shape[0], depth, w) for w in widths]
    n = np.array(sizes, dtype=float)
    test = np.asarray(rmse(n) if callable(rmse) else rmse, dtype=float)
    train = 0.8 * test if train is None else np.asarray(train, dtype=float)
    if lsq is not None and lsq_scope is None:
        lsq_scope = "model" if len(shape) == 2 else "last layer"
    if run_id is None:
        run_id = f"{family}-{task}-s{seed}" if staged else f"mlp-{task}-d{depth}-s{seed}"
    stages, history = [], []
    for i, (size, value) in enumerate(zip(sizes, test, strict=True)):
        record = {
            "task": task,
            "family": family,
            "stage": i,
            "shape": list(shape) if staged else None,
            "grid_size": grids[i] if staged else None,
            "spline_order": 3 if staged else None,
            "depth": len(shape) - 1 if staged else depth,
            "width": None if staged else widths[i],
            "n_params_paper": kan_size(shape, grids[i], convention="paper") if staged else size,
            "n_params": size,
            "train_rmse": float(train[i]),
            "test_rmse": float(value),
            "test_median_rmse": float(value) * 0.5,
            "steps": steps,
            "iterations": 10 * steps,
            "evaluations": 12 * steps,
            "wall_s": 0.01 * size,
            "s_per_step": 0.01 * size / steps,
            "peak_rss_mb": 300.0,
            "seed": seed,
            "dtype": "float64",
            "device": "cpu",
            "threads": 1,
            "status": stage_status[i] if stage_status else "complete",
            "message": None,
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:00:01+00:00",
            "run_id": run_id,
            "schema": schema,
            **PROVENANCE,
        }
        if family == "mlp":
            record["target_params"] = size
        if lsq is not None:
            record["lsq_train_rmse"] = None if lsq[i] is None else float(lsq[i])
            record["lsq_scope"] = lsq_scope
        stages.append(record)
        for step in range(steps):
            decay = 2.0 ** (steps - 1 - step)
            history.append([i, step, float(train[i]) * decay, float(value) * decay])
    model = (
        {
            "family": family,
            "shape": list(shape),
            "spline_order": 3,
            "grid_schedule": list(grids),
            "steps_per_grid": steps,
            "restarts": 1,
        }
        if staged
        else {"family": "mlp", "depth": depth, "steps": steps, "restarts": 1}
    )
    run = {
        "schema": schema,
        "run_id": run_id,
        "status": status,
        "config": {
            "task": {"name": task},
            "model": model,
            "optim": {"name": "lbfgs"},
            "seed": seed,
            "dtype": "float64",
            "data": {"n_train": n_train, "n_test": 1000, "noise": 0.0},
        },
        "provenance": PROVENANCE,
        "stages": stages,
        "history": history,
    }
    path = Path(folder) / "records" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=1))
    return path


def power_law_members(n, alpha, seeds, sigma, rng, a=2.0, family="mlp"):
    """The stage rows of `seeds` runs (one per seed) of an MLP-like family whose test RMSE
    at each N is a N^-alpha times log-normal noise exp(sigma z) per point; train RMSE
    0.8 x test. Columns as a loaded stage frame's, with N."""
    n = np.asarray(n, dtype=float)
    rows = []
    for seed in range(seeds):
        test = law(n, alpha, a) * np.exp(sigma * rng.standard_normal(n.size))
        for stage, (size, value) in enumerate(zip(n, test, strict=True)):
            rows.append(
                {
                    "task": "t",
                    "family": family,
                    "run_id": f"{family}-s{seed}",
                    "seed": seed,
                    "stage": stage,
                    "shape": None,
                    "grid_size": None,
                    "N": size,
                    "n_params": size,
                    "train_rmse": 0.8 * value,
                    "test_rmse": value,
                    "status": "complete",
                }
            )
    return pd.DataFrame(rows)
