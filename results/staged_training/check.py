"""Does staged KAN training reach what its models can reach? Two references per stage.

For each task and seed, kanbench-train's staged KAN (grid extension between stages) is
held against, at every stage:

- the least-squares optimum of its last layer on the training points (recorded by the
  trainer as lsq_train_rmse; for a single-layer KAN [d, 1] the optimum of the whole
  model's spline space);
- a KAN of the same shape trained from scratch at that G alone, with the same seed, steps,
  restarts and grid updates (the first stage of a one-grid schedule).

Writes <out>/stages.csv (one row per task, seed, G, run kind), <out>/summary.csv and
<out>/summary.md (per task and G: the median over seeds of staged / optimum and staged /
scratch train RMSE, and the worst seed's staged / optimum).

    python results/staged_training/check.py --tasks toy special additive --seeds 0 1 2 \
        --out results/staged_training [--workers 2] [-- kanbench-train overrides]
    python results/staged_training/check.py --from <out>   # summaries of a stages.csv again

'additive' names the smooth additive tasks of this study's own, tasks/*.yaml beside this
script, fitted by [d, 1] KANs; a path to any such task file works too.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanbench.config import register_library_tasks, run_config
from kanbench.data import make_dataset, to_torch
from kanbench.monitor import Progress
from kanbench.tasks import list_tasks
from kanbench.train import train_staged

GRIDS = (3, 5, 10, 20, 50, 100, 200)
# smooth additive tasks of this study's own (not in the library), one YAML file each: a
# [d, 1] KAN represents each exactly, so its staged train RMSE is held to the optimum of the
# whole model
TASK_FILES = sorted((Path(__file__).parent / "tasks").glob("*.yaml"))
COLUMNS = ["grid_size", "n_params", "train_rmse", "test_rmse", "lsq_train_rmse", "lsq_scope"]


def task_mapping(task: str) -> dict | None:
    """The task config of a YAML file (a path, or the stem of one in TASK_FILES), or None
    for a library task name."""
    path = Path(task)
    if path.suffix != ".yaml":
        path = next((p for p in TASK_FILES if p.stem == task), None)
    return yaml.safe_load(path.read_text()) if path is not None and path.exists() else None


def _config(task: str, seed: int, grids, overrides):
    register_library_tasks()
    mapping = task_mapping(task)
    args = [
        f"task={'exp_sin_y2' if mapping else task}",
        f"seed={seed}",
        f"model.grid_schedule=[{','.join(map(str, grids))}]",
        "progress=false",
        *overrides,
    ]
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = OmegaConf.to_container(compose("train", overrides=args), resolve=True)
    if mapping:
        cfg["task"] = mapping
    return run_config(cfg)


def check(job) -> list[dict]:
    """Staged and from-scratch runs of one (task, seed)."""
    task, seed, grids, overrides = job
    torch.set_num_threads(1)
    config = _config(task, seed, grids, overrides)
    data = to_torch(make_dataset(config.task, 1000, 1000, 0.0, seed), config.torch_dtype)
    rows = []
    start = time.perf_counter()
    for record, _ in train_staged(config, data, Progress(False)):
        rows.append({"kind": "staged", **{c: record.get(c) for c in COLUMNS}})
    for grid in grids:
        single = _config(task, seed, [grid], overrides)
        for record, _ in train_staged(single, data, Progress(False)):
            rows.append({"kind": "scratch", **{c: record.get(c) for c in COLUMNS}})
    shape = "[" + ",".join(map(str, config.model.shape)) + "]"
    for row in rows:
        row.update(task=config.task.name, shape=shape, seed=seed)
    print(f"{task} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task and G, medians over seeds of staged / optimum and staged / scratch."""
    staged = frame[frame["kind"] == "staged"].set_index(["task", "seed", "grid_size"])
    scratch = frame[frame["kind"] == "scratch"].set_index(["task", "seed", "grid_size"])
    joined = staged.join(scratch[["train_rmse"]].add_suffix("_scratch"))
    joined["over_optimum"] = joined["train_rmse"] / joined["lsq_train_rmse"]
    joined["over_scratch"] = joined["train_rmse"] / joined["train_rmse_scratch"]
    grouped = joined.reset_index().groupby(["task", "shape", "grid_size", "n_params", "lsq_scope"])
    return grouped.agg(
        seeds=("seed", "nunique"),
        staged_train=("train_rmse", "median"),
        optimum=("lsq_train_rmse", "median"),
        scratch_train=("train_rmse_scratch", "median"),
        over_optimum=("over_optimum", "median"),
        worst_over_optimum=("over_optimum", "max"),
        over_scratch=("over_scratch", "median"),
    ).reset_index()


def markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table, 3 significant digits."""
    header = "| " + " | ".join(table.columns) + " |"
    lines = [header, "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summaries(frame: pd.DataFrame, out: Path) -> pd.DataFrame:
    table = summary(frame)
    table.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(markdown(table))
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["toy"], help="task names, groups, or 'additive'"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grids", default=",".join(map(str, GRIDS)))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out")
    parser.add_argument("--from", dest="source", help="a folder with a stages.csv: summarise it")
    parser.add_argument("overrides", nargs="*", help="kanbench-train overrides (key=value)")
    args = parser.parse_args(argv)
    if args.source:
        source = Path(args.source)
        print(write_summaries(pd.read_csv(source / "stages.csv"), source).to_string())
        return 0
    if not args.out:
        parser.error("--out is required (or --from)")
    groups = {"toy", "special", "feynman"}
    names = []
    for entry in args.tasks:
        if entry == "additive":
            names += [p.stem for p in TASK_FILES]
        else:
            names += [t.name for t in list_tasks(entry)] if entry in groups else [entry]
    grids = [int(g) for g in args.grids.split(",")]
    jobs = [(name, seed, grids, args.overrides) for name in names for seed in args.seeds]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [row for result in pool.map(check, jobs) for row in result]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "stages.csv", index=False)
    table = write_summaries(frame, out)
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"wall time {time.perf_counter() - start:.0f} s on {args.workers} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
