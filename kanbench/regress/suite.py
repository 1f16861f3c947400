"""A regression suite (conf/regress/<name>.yaml) and its run: the study's jobs and the speed
probe's cases expanded and checked (plan), then trained and timed (execute).

A suite names:

- `experiment`: a multirun study of conf/experiment/ (its jobs are expanded and checked by
  kanbench.sweep.expand_sweep and trained by kanbench.run.run, `workers` at a time, each
  in its own process), with `overrides` (kanbench-train overrides) added to every job;
  null for none;
- `speed`: a kanbench-bench preset given inline (kanbench.bench.preset_cases), measured
  after the study in a fresh process (one process for every family); null for none;
- `baseline`: the folder of the committed baseline (baseline.json);
- `tolerances`: how far each kind of metric may move (kanbench.regress.compare).
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from kanbench import bench, checks
from kanbench.regress.compare import Tolerances

log = logging.getLogger(__name__)

SUITE_KEYS = ("experiment", "overrides", "workers", "baseline", "speed", "tolerances")


@dataclass(frozen=True)
class Suite:
    """A regression suite, as its config says (module docstring)."""

    name: str
    experiment: str | None
    overrides: tuple[str, ...]
    workers: int
    baseline: str
    speed: dict | None
    tolerances: Tolerances


def suite_names() -> list[str]:
    """The suites of conf/regress/."""
    folder = Path(str(resources.files("kanbench.conf").joinpath("regress")))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_suite(name: str) -> Suite:
    """The suite conf/regress/<name>.yaml, checked (suite_from_config)."""
    if name not in suite_names():
        raise ValueError(f"unknown regress {name!r}; valid: {', '.join(suite_names())}")
    path = resources.files("kanbench.conf").joinpath("regress", f"{name}.yaml")
    spec = OmegaConf.to_container(OmegaConf.load(str(path)), resolve=True)
    return suite_from_config(spec, name)


def suite_from_config(spec: Any, name: str, where: str = "regress") -> Suite:
    """The suite of a mapping (the regress node of a composed config; where names it in
    errors); ValueError naming the first bad key."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping of {list(SUITE_KEYS)}, got {spec!r}")
    checks.no_unknown_keys(where, spec, set(SUITE_KEYS))
    experiment, speed = spec.get("experiment"), spec.get("speed")
    if experiment is None and speed is None:
        raise ValueError(f"{where} needs an experiment, a speed probe, or both")
    if experiment is not None and not isinstance(experiment, str):
        raise ValueError(f"{where}.experiment must be a name, got {experiment!r}")
    if speed is not None and not isinstance(speed, Mapping):
        raise ValueError(f"{where}.speed must be a bench preset mapping, got {speed!r}")
    overrides = spec.get("overrides") or []
    if (
        isinstance(overrides, str)
        or not isinstance(overrides, Sequence)
        or not all(isinstance(o, str) for o in overrides)
    ):
        raise ValueError(f"{where}.overrides must be a list of strings, got {overrides!r}")
    workers = spec.get("workers", 1)
    checks.integer(f"{where}.workers", workers, minimum=1)
    tolerances = spec.get("tolerances") or {}
    allowed = {f.name for f in fields(Tolerances)}
    if not isinstance(tolerances, Mapping) or set(tolerances) - allowed:
        raise ValueError(f"{where}.tolerances must be a mapping of {sorted(allowed)}")
    return Suite(
        name=name,
        experiment=experiment,
        overrides=tuple(overrides),
        workers=workers,
        baseline=str(spec.get("baseline", "results/baseline")),
        speed=dict(speed) if speed is not None else None,
        tolerances=Tolerances(**tolerances),
    )


@dataclass(frozen=True)
class Plan:
    """What a regression run will do: the study's jobs and the probe's cases, all checked."""

    suite: Suite
    folder: Path
    jobs: list[tuple[list[str], dict]]
    cases: list[bench.Case]


def plan(suite: Suite, folder: str | os.PathLike, overrides: Sequence[str] = ()) -> Plan:
    """Expand and check every job and probe case; ValueError (one line) before any work."""
    from kanbench.cli import check_group_choices
    from kanbench.config import register_library_tasks
    from kanbench.sweep import expand_sweep

    folder = Path(folder)
    jobs = []
    if suite.experiment is not None:
        register_library_tasks()
        argv = [f"experiment={suite.experiment}", *suite.overrides, *overrides]
        problem = check_group_choices(argv)
        if problem:
            raise ValueError(problem)
        # out_dir is set after expansion: a path is not a Hydra override value (a comma in
        # it would make a sweep), and it is not part of a run's identity
        jobs = [(job, {**cfg, "out_dir": str(folder)}) for job, cfg in expand_sweep(argv)]
    elif overrides:
        raise ValueError(f"overrides {list(overrides)} need a suite with an experiment")
    cases = bench.preset_cases(suite.speed, "regress.speed") if suite.speed else []
    return Plan(suite, folder, jobs, cases)


def _run_job(cfg: dict) -> str:
    from kanbench.run import run

    return run(cfg).status


def execute(plan: Plan) -> None:
    """Train the plan's jobs (`workers` at a time), then time its probe cases in a fresh
    process, all into the plan's folder."""
    started = time.perf_counter()
    total, workers = len(plan.jobs), min(plan.suite.workers, max(len(plan.jobs), 1))

    def done(index: int, job: list[str], status: str) -> None:
        what = " ".join(a for a in job if not a.startswith("experiment="))
        elapsed = time.perf_counter() - started
        log.info("job %d/%d [%s]: %s, %.1f s elapsed", index, total, what, status, elapsed)

    if workers == 1:
        for index, (job, cfg) in enumerate(plan.jobs, 1):
            done(index, job, _safe(_run_job, cfg))
    elif plan.jobs:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_run_job, cfg): job for job, cfg in plan.jobs}
            for index, future in enumerate(concurrent.futures.as_completed(futures), 1):
                done(index, futures[future], _safe(future.result))
    if plan.jobs:
        log.info("study: %d jobs in %.1f s", total, time.perf_counter() - started)
    if plan.cases:
        # in a fresh process: timings in a process that trained before moved by up to 1.4x
        probe_started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            pool.submit(bench.run_study, plan.cases, plan.folder, False).result()
        log.info(
            "speed probe: %d cases in %.1f s", len(plan.cases), time.perf_counter() - probe_started
        )


def _safe(call, *args) -> str:
    """A job's status; a crashed job is logged and its metrics end up missing."""
    try:
        return call(*args)
    except Exception as error:  # the comparison reports the job's metrics as missing
        log.error("job failed: %s: %s", type(error).__name__, error)
        return "failed"
