"""One run, from a composed config to stored records (the work behind kanbench-train).

run() checks the whole config before anything is written, takes the run's lock (a second
process for the same run raises store.RunLocked, naming the holder), skips a run whose
records are already final (resume; see other_code for those of another commit), trains
the model family stage by stage, and rewrites the run's file after every stage, so an
interrupted run leaves a readable file marked "running" that the next identical call
redoes from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kanbench import store
from kanbench.config import RunConfig, run_config
from kanbench.data import make_dataset, to_torch
from kanbench.families import family
from kanbench.monitor import Progress, make_logger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a run left in the store."""

    path: Path
    status: str
    records: list[dict]
    skipped: bool


def run(cfg: Mapping[str, Any]) -> RunResult:
    """Train and record the run that cfg (a resolved config mapping) describes."""
    config = run_config(cfg)
    path = store.record_path(config.out_dir, config.run_id)
    with store.run_lock(path):
        existing = store.read_run(path)
        if store.is_finished(existing) and not _redo_other_code(config, existing):
            log.info("run %s is already %s (%s): skipped", config.run_id, existing["status"], path)
            return RunResult(path, existing["status"], existing["stages"], skipped=True)
        if existing is not None:
            log.info("run %s was interrupted: redoing it from the start", config.run_id)
        return _train_and_store(config, path)


def _redo_other_code(config: RunConfig, existing: dict) -> bool:
    """Whether a finished run made by another commit of kanbench is to be trained again
    (config other_code: "redo"); either way a line says which commit made it."""
    made_by = (existing.get("provenance") or {}).get("git_commit")
    current = store.git_commit()
    if not made_by or not current or made_by == current:
        return False
    redo = config.other_code == "redo"
    log.warning(
        "run %s was made by commit %s, this is %s: %s",
        config.run_id,
        made_by,
        current,
        "training it again (other_code=redo)" if redo else "kept (other_code=redo retrains it)",
    )
    return redo


def _train_and_store(config: RunConfig, path: Path) -> RunResult:
    torch.set_num_threads(config.threads)
    dataset = make_dataset(
        config.task, config.data.n_train, config.data.n_test, config.data.noise, config.seed
    )
    data = to_torch(dataset, config.torch_dtype, config.device)
    provenance = store.provenance()
    run_file = {
        "schema": store.SCHEMA_VERSION,
        "run_id": config.run_id,
        "status": "running",
        "config": config.resolved,
        "provenance": provenance,
        "stages": [],
        "history": [],
    }
    store.write_run(path, run_file)
    logger = make_logger(config.logger, config.resolved, config.run_id, config.out_dir)
    train = family(config.model.family).train()
    progress = Progress(config.progress)
    try:
        for record, history in train(config, data, progress, logger.log_step):
            record.update(run_id=config.run_id, schema=store.SCHEMA_VERSION, **provenance)
            run_file["stages"].append(record)
            run_file["history"].extend([record["stage"], *point] for point in history)
            logger.log_stage(record, history)
            store.write_run(path, run_file)
    except Exception as error:  # a crash is recorded, then reported to the caller
        run_file.update(status="failed", message=f"{type(error).__name__}: {error}")
        try:
            store.write_run(path, run_file)
        except OSError:  # the store itself fails (a full disk): its last file stays whole
            pass
        raise
    finally:
        logger.finish()
    statuses = [r["status"] for r in run_file["stages"]]
    run_file["status"] = next((s for s in statuses if s != "complete"), "complete")
    store.write_run(path, run_file)
    log.info(
        "run %s %s: %s\n%s",
        config.run_id,
        run_file["status"],
        path,
        summary_table(run_file["stages"]),
    )
    return RunResult(path, run_file["status"], run_file["stages"], skipped=False)


def summary_table(records: list[dict]) -> str:
    """One line per stage: size, N, train RMSE and the least-squares optimum of its last
    layer (kanbench.optimum), test RMSE and its median, time, status."""
    lines = [
        f"{'stage':>5} {'size':>10} {'N':>9} {'train RMSE':>11} {'optimum':>11} "
        f"{'test RMSE':>11} {'median':>11} {'wall s':>8}  status"
    ]
    for r in records:
        entry = family(r["family"])
        size = entry.size_label(r["grid_size"]) if entry.staged else f"{r['depth']}x{r['width']}"
        optimum = r.get("lsq_train_rmse")
        optimum = f"{optimum:>11.3e}" if optimum is not None else f"{'-':>11}"
        lines.append(
            f"{r['stage']:>5} {size:>10} {r['n_params']:>9} {r['train_rmse']:>11.3e} "
            f"{optimum} {r['test_rmse']:>11.3e} {r['test_median_rmse']:>11.3e} "
            f"{r['wall_s']:>8.2f}  {r['status']}"
        )
    return "\n".join(lines)
