"""kanbench-train, and what every kanbench Hydra app shares: its command checked before
Hydra starts (refuse_bad_command), and one job's errors turned into an exit status or, in
a sweep, a log line (run_job). Each app hands a composed config to one library call.

A user's own task reaches kanbench-train as Hydra's `--config-dir DIR` with DIR/task/<name>
.yaml (task=<name>), or as `task=path/to/file.yaml` (kanbench.task_files); both are checked
like any other choice, and both work from an installed package.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from kanbench.config import register_library_tasks
from kanbench.run import run
from kanbench.store import RunLocked, write_failure
from kanbench.sweep import CONFIG_GROUPS, check_sweep, group_options
from kanbench.task_files import task_file_overrides

log = logging.getLogger(__name__)
PARENT_POLL_S = 1.0  # how often a joblib worker checks that its sweep is still there
_watching_parent = False
PRINT_ONLY = ("cfg", "info", "help", "hydra_help", "shell_completion")  # Hydra's options
MODES = ("run", "multirun", "cfg", "info", "shell_completion")  # Hydra takes one of them


def check_group_choices(
    argv: Sequence[str], groups: Sequence[str] = CONFIG_GROUPS, config_dir: str | None = None
) -> str | None:
    """A one-line error for `group=option` overrides naming an option that does not exist
    (groups: the app's config groups; hydra/launcher is always checked; config_dir: the
    command's --config-dir, whose options count too)."""
    groups = (*groups, "hydra/launcher")
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in groups and "," not in value and "(" not in value:
            options = group_options(key, config_dir)
            if value not in options:
                return f"unknown {key} {value!r}; valid: {', '.join(options)}"
    return None


def parse_command(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The command line as Hydra's own parser reads it, and the options it does not know."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_known_args(list(argv))


def _only_prints(args: argparse.Namespace) -> bool:
    """Whether the command only prints (--cfg, --info, --help, ...) and runs no job."""
    return any(getattr(args, key, None) for key in PRINT_ONLY)


def refuse_bad_command(
    prog: str,
    argv: Sequence[str],
    groups: Sequence[str],
    check: Callable[[list[str], argparse.Namespace], object],
    prepare: Callable[[list[str]], list[str]] | None = None,
) -> list[str]:
    """Exit 2 with one line on stderr, before Hydra starts (so nothing is written, not even
    Hydra's output folder), when the command has an option Hydra does not know, two of its
    modes (-m, --cfg, ...), a --config-dir that is not a folder, a group option that does
    not exist, or, unless it only prints, overrides that check(overrides, args) refuses
    with a ValueError. prepare(overrides), when given, first rewrites the overrides (a
    ValueError from it is refused alike); returns argv with its overrides so rewritten."""
    args, unknown = parse_command(argv)
    modes = [f"--{m.replace('_', '-')}" for m in MODES if getattr(args, m, None)]
    overrides = list(args.overrides)
    problem = None
    if len(modes) > 1:
        problem = f"give only one of {', '.join(modes)}: Hydra runs one mode at a time"
    elif unknown and unknown[0].startswith("-"):
        problem = f"unknown option {unknown[0]!r}; {prog} takes Hydra overrides key=value"
    elif unknown:  # Hydra's parser takes the overrides as one run of arguments
        problem = (
            f"override {unknown[0]!r} is apart from the others: give Hydra's options "
            f"(-m, --cfg job) first, then every override"
        )
    elif args.config_dir is not None and not Path(args.config_dir).is_dir():
        problem = f"--config-dir {args.config_dir!r} is not a folder"
    if problem is None and prepare is not None:
        try:
            overrides = prepare(overrides)
        except ValueError as error:
            problem = str(error)
    if problem is None:
        problem = check_group_choices(overrides, groups, args.config_dir)
    if problem is None and not _only_prints(args):
        try:
            check(overrides, args)
        except ValueError as error:
            problem = str(error)
    if problem:
        print(f"{prog}: error: {problem}", file=sys.stderr)
        sys.exit(2)
    return _with_overrides(argv, args.overrides, overrides)


def _with_overrides(argv: Sequence[str], old: Sequence[str], new: Sequence[str]) -> list[str]:
    """argv with its overrides (old, in order, as Hydra's parser found them) replaced by
    new, one for one; its options stay where they were."""
    result, position = [], 0
    for arg in argv:
        if position < len(old) and arg == old[position]:
            result.append(new[position])
            position += 1
        else:
            result.append(arg)
    return result


def run_job(prog: str, work: Callable[[], str], write_failure_exit: int = 1) -> str:
    """One job of a Hydra app: work()'s status. Alone, a ValueError is one line on stderr
    and exit 2, a failed write one line and write_failure_exit, a run locked by another
    process exit 3. In a sweep it never raises, so that the other jobs go on: the error is
    logged and the job's status is "failed" (or "locked")."""
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    if in_sweep and "joblib" in str(HydraConfig.get().launcher.get("_target_", "")):
        _end_with_parent()
    try:
        return work()
    except ValueError as error:
        if not in_sweep:
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(2)
        log.error("job failed: %s", error)
    except OSError as error:  # a write that failed: full disk, lost mount, permissions
        message = write_failure(error)
        if not in_sweep:
            print(f"{prog}: error: {message}", file=sys.stderr)
            sys.exit(write_failure_exit)
        log.error("job failed: %s", message)
    except RunLocked as error:  # another process trains this run: leave it to that one
        if not in_sweep:
            print(f"{prog}: {error}", file=sys.stderr)
            sys.exit(3)
        log.warning("%s", error)
        return "locked"
    except Exception as error:
        if not in_sweep:
            raise
        log.exception("job failed: %s: %s", type(error).__name__, error)
    return "failed"


@hydra.main(version_base="1.3", config_path="pkg://kanbench.conf", config_name="train")
def _train(cfg: DictConfig) -> str:
    """One job; run() records how it ended."""
    return run_job("kanbench-train", lambda: run(OmegaConf.to_container(cfg, resolve=True)).status)


def _end_with_parent() -> None:
    """In a joblib worker: end this process once the sweep's process, its parent, has died
    (killed alone, it would leave its workers training and then idling). Its unfinished
    record stays `running`, which the same command redoes."""
    global _watching_parent
    if _watching_parent:
        return
    _watching_parent = True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="kanbench-parent-watch", daemon=True).start()


def train() -> None:
    """kanbench-train: train one model family on one task over its ladder of sizes.

    Every job's config, a single run's too, is checked before Hydra starts, so a rejected
    command writes nothing (not even Hydra's output folder). A task file (task=x.yaml) is
    read then and Hydra is given the option it is stored as (kanbench.task_files)."""
    register_library_tasks()
    sys.argv[1:] = refuse_bad_command(
        "kanbench-train",
        sys.argv[1:],
        CONFIG_GROUPS,
        lambda overrides, args: check_sweep(overrides, args.config_dir),
        prepare=task_file_overrides,
    )
    _train()
