"""Multirun sweeps: every job checked before any work, and a progress line per finished job.

expand_sweep expands a `kanbench-train -m ...` command into its jobs the way Hydra's basic
sweeper does (the experiment's hydra.sweeper.params, then the command line's sweeps) and
validates each job's config (check_sweep counts them; kanbench-regress runs them), so that
a bad value anywhere in a sweep stops it before the first job starts. It also refuses a
sweep in which two jobs would be the same run (and so write the same record file).
compose_jobs does the same expansion for any of kanbench's Hydra apps (kanbench-bench,
kanbench-regress), each job composed in full, for the app's own checks. Each takes the
command's --config-dir (config_dir), whose folder Hydra searches after kanbench's own
configs and before its ConfigStore (a user's DIR/task/<name>.yaml, for instance).

SweepProgress is a Hydra callback: the sweep's process writes the number of jobs and the
start time to <sweep dir>/sweep_progress.json; each job, wherever it runs (in-process, a
joblib worker, a SLURM node that sees the sweep dir), appends one line to
<sweep dir>/sweep.log when it ends — done/total, elapsed, estimated remaining — under a
file lock, and logs the same line.
"""

from __future__ import annotations

import copy
import difflib
import fcntl
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

log = logging.getLogger(__name__)

PROGRESS_FILE = "sweep_progress.json"
LOG_FILE = "sweep.log"
CONFIG_MODULE = "kanbench.conf"
CONFIG_GROUPS = ("task", "model", "optim", "logger", "experiment")


@contextmanager
def config_module(config_dir: str | None = None) -> Iterator[None]:
    """Hydra's compose API on kanbench's configs and, as Hydra's `--config-dir` adds it,
    the folder config_dir, also inside a running Hydra app (whose own initialisation is set
    aside meanwhile, then restored)."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra

    outer = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        search_path = create_config_search_path(f"pkg://{CONFIG_MODULE}")
        if config_dir is not None:  # where Hydra's run_hydra puts it
            search_path.prepend(
                provider="command-line",
                path=f"file://{Path(config_dir).absolute()}",
                anchor=SearchPathQuery(provider="schema"),
            )
        version.setbase("1.3")
        Hydra.create_main_hydra2("app", search_path)
        yield
    finally:
        GlobalHydra.instance().clear()
        if outer is not None:
            GlobalHydra.instance().initialize(outer)


def group_options(group: str, config_dir: str | None = None) -> list[str]:
    """The options of a config group: kanbench's files, config_dir's (a --config-dir), and
    the ConfigStore's (library tasks, task files); hydra/launcher's from Hydra itself (the
    installed plugins' presets too)."""
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    if group == "hydra/launcher":
        with config_module(config_dir):
            return GlobalHydra.instance().config_loader().get_group_options(group)
    folders = [Path(str(resources.files(CONFIG_MODULE).joinpath(group)))]
    if config_dir is not None:
        folders.append(Path(config_dir) / group)
    files = {
        str(p.relative_to(folder).with_suffix(""))
        for folder in folders
        for p in folder.rglob("*.yaml")
    }
    stored = [name.removesuffix(".yaml") for name in ConfigStore.instance().repo.get(group, {})]
    return sorted(files | set(stored))


def sweeper_params(config: DictConfig) -> dict[str, str]:
    """hydra.sweeper.params of a composed config, as {key: "a,b,c"} ({} when unset)."""
    params = OmegaConf.select(config, "hydra.sweeper.params")
    if params is None:
        return {}
    return {key: str(value) for key, value in OmegaConf.to_container(params).items()}


def job_overrides(sweeper_params: dict[str, str], arguments: Sequence[str]) -> list[list[str]]:
    """Every job's overrides: the cartesian product of the sweeps, as Hydra's basic sweeper.

    sweeper_params is hydra.sweeper.params ({key: "a,b,c"}); command-line arguments come
    after it, so a key given on both takes the command line's value.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = [f"{key}={value}" for key, value in sweeper_params.items()]
    overrides = OverridesParser.create().parse_overrides([*params, *arguments])
    batches = BasicSweeper.split_arguments(overrides, max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


def check_sweep(arguments: Sequence[str], config_dir: str | None = None) -> int:
    """Compose and validate every job of a multirun; returns the number of jobs.

    Raises ValueError (one line) as expand_sweep does.
    """
    return len(expand_sweep(arguments, config_dir))


def expand_sweep(
    arguments: Sequence[str], config_dir: str | None = None
) -> list[tuple[list[str], dict]]:
    """Every job of a multirun as (its overrides, its resolved config), each validated.

    Raises ValueError (one line) for the first job whose config is invalid, and for two
    jobs with the same run id. Each distinct choice of config groups is composed once and
    the jobs' other overrides are applied to a copy, so a sweep of a thousand jobs is
    checked in seconds. A resolved config is what kanbench.run.run takes.
    """
    from hydra import compose
    from hydra.errors import HydraException

    from kanbench.config import run_config

    job_args = [a for a in arguments if not a.startswith(("hydra.", "hydra/", "-"))]
    seen: dict[str, list[str]] = {}
    expanded: list[tuple[list[str], dict]] = []
    with config_module(config_dir):
        try:
            fixed = [a for a in job_args if not _is_sweep(a)]
            base = compose("train", overrides=fixed, return_hydra_config=True)
            jobs = job_overrides(sweeper_params(base), job_args)
            composed: dict[tuple[str, ...], DictConfig] = {}
            for job in jobs:
                job_config = _job_config(job, composed, compose, config_dir)
                cfg = OmegaConf.to_container(job_config, resolve=True)
                try:
                    config = run_config(cfg)
                except ValueError as error:  # which job, where there are several
                    where = f"job [{' '.join(job)}]: " if len(jobs) > 1 else ""
                    raise ValueError(f"{where}{error}") from None
                if config.run_id in seen:
                    raise ValueError(
                        f"jobs [{' '.join(seen[config.run_id])}] and [{' '.join(job)}] are "
                        f"the same run ({config.run_id}); sweep only keys that change the run"
                    )
                seen[config.run_id] = job
                expanded.append((job, cfg))
        except HydraException as error:
            raise ValueError(_one_line(error, job_args, compose)) from None
    return expanded


def compose_jobs(
    config_name: str, arguments: Sequence[str], groups: Sequence[str], config_dir: str | None = None
) -> list[tuple[list[str], dict]]:
    """Every job of a command of the Hydra app whose primary config is conf/<config_name>
    .yaml, as (its overrides, its resolved config without the hydra node): the sweeps
    expanded as Hydra's basic sweeper does. groups: the app's config groups (for the hint
    of a key that does not exist). ValueError (one line) when a job does not compose."""
    from hydra import compose
    from hydra.errors import HydraException

    job_args = [a for a in arguments if not a.startswith(("hydra.", "hydra/", "-"))]
    with config_module(config_dir):
        try:
            fixed = [a for a in job_args if not _is_sweep(a)]
            base = compose(config_name, overrides=fixed, return_hydra_config=True)
            return [
                (job, OmegaConf.to_container(compose(config_name, overrides=job), resolve=True))
                for job in job_overrides(sweeper_params(base), job_args)
            ]
        except (HydraException, OmegaConfBaseException) as error:
            message = _one_line(error, job_args, compose, config_name, groups)
            raise ValueError(message) from None


def _one_line(
    error: Exception,
    job_args: Sequence[str],
    compose,
    config_name: str = "train",
    groups: Sequence[str] = CONFIG_GROUPS,
) -> str:
    """Hydra's several-line message in one line; for a key that does not exist, with the
    nearest existing key of its section."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = " ".join(dict.fromkeys([lines[0], lines[-1]]))
    missing = re.match(r"Could not override '([^']+)'", lines[0])
    if missing is None:
        return message
    section, _, leaf = missing.group(1).rpartition(".")
    chosen = [a for a in job_args if a.partition("=")[0] in groups and not _is_sweep(a)]
    try:
        node = compose(config_name, overrides=chosen)
        node = OmegaConf.select(node, section) if section else node
    except Exception:  # the hint is a courtesy: never let it hide the error
        return message
    if not isinstance(node, DictConfig):
        return message
    close = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=1)
    if not close:
        return f"key {missing.group(1)!r} does not exist"
    nearest = f"{section}.{close[0]}" if section else close[0]
    return f"key {missing.group(1)!r} does not exist; did you mean {nearest}?"


def _job_config(job: list[str], composed: dict, compose, config_dir: str | None) -> DictConfig:
    """One job's config: its group choices composed (cached), then its values set."""
    overrides = OverridesParser.create().parse_overrides(job)
    task = next((o for o in overrides if o.key_or_group == "task" and not o.is_add()), None)
    structural = tuple(
        o.input_line
        for o in overrides
        if (o.key_or_group in CONFIG_GROUPS or o.is_add() or o.is_delete()) and o is not task
    )
    if structural not in composed:
        composed[structural] = compose("train", overrides=list(structural))
    cfg = copy.deepcopy(composed[structural])
    if task is not None:
        with open_dict(cfg):
            cfg.task = _task_node(str(task.value()), config_dir)
    for override in overrides:
        if override is task:
            continue
        if override.input_line not in structural:
            try:
                OmegaConf.update(cfg, override.key_or_group, override.value(), merge=False)
            except OmegaConfBaseException:
                raise ValueError(
                    f"job [{' '.join(job)}]: key {override.key_or_group!r} does not exist"
                ) from None
    return cfg


def _task_node(name: str, config_dir: str | None) -> DictConfig:
    """What task=<name> composes to, found where Hydra looks, in its order: kanbench's
    conf/task/, config_dir's task/, the ConfigStore (library tasks, task files)."""
    from hydra.core.global_hydra import GlobalHydra

    for source in GlobalHydra.instance().config_loader().get_sources():
        if source.is_config(f"task/{name}"):
            return source.load_config(f"task/{name}").config
    options = group_options("task", config_dir)
    raise ValueError(f"unknown task {name!r}; valid: {', '.join(options)}")


def _is_sweep(argument: str) -> bool:
    return OverridesParser.create().parse_override(argument).is_sweep_override()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def progress_line(done: int, total: int, elapsed: float, job: str, status: str) -> str:
    """'job 3 (complete): 3/25 done, 4m12s elapsed, about 30m01s left'."""
    left = elapsed / done * (total - done) if done else math.nan
    remaining = _duration(left) if math.isfinite(left) else "?"
    return (
        f"job {job} ({status}): {done}/{total} done, {_duration(elapsed)} elapsed, "
        f"about {remaining} left"
    )


class SweepProgress(Callback):
    """Hydra callback: the sweep's size at its start, one progress line per finished job."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            total = len(job_overrides(sweeper_params(config), list(config.hydra.overrides.task)))
        except Exception as error:  # an unusual sweeper: progress without a total
            log.warning("sweep size unknown (%s)", error)
            total = 0
        state = {"total": total, "started": time.time()}
        (sweep_dir / PROGRESS_FILE).write_text(json.dumps(state))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        state_file = sweep_dir / PROGRESS_FILE
        if config.hydra.mode != RunMode.MULTIRUN or not state_file.exists():
            return
        state = json.loads(state_file.read_text())
        status = _job_status(job_return)
        with open(sweep_dir / LOG_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            done = sum(1 for _ in handle) + 1
            total = max(state["total"], done)
            line = progress_line(
                done, total, time.time() - state["started"], str(config.hydra.job.num), status
            )
            handle.write(line + "\n")
        log.info("sweep: %s", line)


def _job_status(job_return: Any) -> str:
    from hydra.core.utils import JobStatus

    if job_return.status != JobStatus.COMPLETED:
        return "crashed"
    value = job_return.return_value
    return value if isinstance(value, str) else "done"
