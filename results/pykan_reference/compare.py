"""kanbench's staged KAN against pykan 0.2.8 on the same protocol and the same data.

For each seed, both train the same KAN shape through the same grids (200 LBFGS steps per
grid by default, float64, one thread), on identical samples: either kanbench's dataset
(`--data kanbench`, kanbench.data.make_dataset) or pykan's own `create_dataset` (`--data
pykan`, seeded as pykan seeds it). pykan runs as it comes (KAN(width, grid, k=3, seed),
fit(..., opt="LBFGS", steps), refine(G') between grids); kanbench runs kanbench-train's
configuration with any overrides given. Needs the `reference` extra (pykan 0.2.8).

    python results/pykan_reference/compare.py --task exp_sin_y2 --shape 2,1,1 --seeds 0 1 2 \
        --data pykan --out results/pykan_reference/exp_sin_y2_pykan_data.csv

Prints one line per (seed, G) and writes a CSV with both runs' train and test RMSE.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanbench.config import register_library_tasks, run_config
from kanbench.data import TorchDataset, make_dataset, to_torch
from kanbench.monitor import Progress
from kanbench.tasks import get_task, task_from_config
from kanbench.train import train_staged

PYKAN_KEYS = ("train_input", "train_label", "test_input", "test_label")


def _pykan_data(task, seed: int) -> TorchDataset:
    from kan.utils import create_dataset

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(task(x.detach().numpy().astype(np.float64)))

    ranges = [list(r) for r in task.ranges]
    data = create_dataset(f, n_var=task.input_dim, ranges=ranges, seed=seed)
    return TorchDataset(
        *(
            data[k].to(torch.float64)
            for k in ("train_input", "train_label", "test_input", "test_label")
        )
    )


def _task_config(task) -> dict:
    """The task as a config mapping: a library task by name, else its definition."""
    if task.group != "user":
        return {"name": task.name}
    variables = {
        name: list(bounds) for name, bounds in zip(task.variables, task.ranges, strict=True)
    }
    return {"name": task.name, "formula": task.formula, "variables": variables}


def _rmse(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x) - y).pow(2).mean().sqrt())


def run_pykan(shape, grids, steps, seed, data: TorchDataset) -> list[dict]:
    from kan import KAN

    dataset = dict(zip(PYKAN_KEYS, data, strict=True))
    rows = []
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        os.makedirs("model")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = KAN(width=list(shape), grid=grids[0], k=3, seed=seed, auto_save=False)
        for stage, grid in enumerate(grids):
            start = time.perf_counter()
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                if stage:
                    model = model.refine(grid)
                model.fit(dataset, opt="LBFGS", steps=steps, log=steps + 1)
            rows.append(
                {
                    "impl": "pykan",
                    "seed": seed,
                    "grid_size": grid,
                    "train_rmse": _rmse(model, data.x_train, data.y_train),
                    "test_rmse": _rmse(model, data.x_test, data.y_test),
                    "wall_s": time.perf_counter() - start,
                }
            )
    return rows


def run_kanbench(task, shape, grids, steps, seed, data, overrides) -> list[dict]:
    register_library_tasks()
    args = [
        "task=exp_sin_y2",
        f"model.shape=[{','.join(map(str, shape))}]",
        f"model.grid_schedule=[{','.join(map(str, grids))}]",
        f"model.steps_per_grid={steps}",
        f"seed={seed}",
        "progress=false",
        *overrides,
    ]
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = OmegaConf.to_container(compose("train", overrides=args), resolve=True)
    cfg["task"] = _task_config(task)
    config = run_config(cfg)
    rows = []
    for record, _ in train_staged(config, data, Progress(False)):
        rows.append(
            {
                "impl": "kanbench",
                "seed": seed,
                "grid_size": record["grid_size"],
                "train_rmse": record["train_rmse"],
                "test_rmse": record["test_rmse"],
                "lsq_train_rmse": record.get("lsq_train_rmse"),
                "wall_s": record["wall_s"],
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="exp_sin_y2")
    parser.add_argument("--shape", default="2,1,1")
    parser.add_argument("--grids", default="3,5,10,20,50")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", choices=("kanbench", "pykan"), default="kanbench")
    parser.add_argument("--impl", choices=("both", "kanbench", "pykan"), default="both")
    parser.add_argument("--out", default=None, help="CSV file to write")
    parser.add_argument("overrides", nargs="*", help="kanbench-train overrides (key=value)")
    args = parser.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    path = Path(args.task)
    task = task_from_config(yaml.safe_load(path.read_text())) if path.suffix == ".yaml" else None
    task = task or get_task(args.task)
    shape = [int(w) for w in args.shape.split(",")]
    grids = [int(g) for g in args.grids.split(",")]
    rows = []
    for seed in args.seeds:
        if args.data == "pykan":
            data = _pykan_data(task, seed)
        else:
            data = to_torch(make_dataset(task, 1000, 1000, 0.0, seed), torch.float64)
        runs = []
        if args.impl in ("both", "kanbench"):
            runs.append(run_kanbench(task, shape, grids, args.steps, seed, data, args.overrides))
        if args.impl in ("both", "pykan"):
            runs.append(run_pykan(shape, grids, args.steps, seed, data))
        for run in runs:
            for row in run:
                row.update(task=task.name, shape=args.shape, data=args.data)
                print(
                    f"{row['impl']:>8} seed {seed} G={row['grid_size']:<5} "
                    f"train {row['train_rmse']:.2e}  test {row['test_rmse']:.2e}  "
                    f"{row['wall_s']:.1f} s",
                    flush=True,
                )
            rows += run
    if args.out:
        pd.DataFrame(rows).to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
