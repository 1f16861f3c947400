"""Command-line entry points over Hydra: each hands a composed config to one library call."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from kanbench.config import register_library_tasks
from kanbench.run import run
from kanbench.store import RunLocked, write_failure
from kanbench.sweep import CONFIG_GROUPS, check_sweep

log = logging.getLogger(__name__)
PARENT_POLL_S = 1.0  # how often a joblib worker checks that its sweep is still there
_watching_parent = False


def _group_options(group: str) -> list[str]:
    from hydra.core.config_store import ConfigStore

    if group == "hydra/launcher":  # kanbench's presets and the installed plugins' own
        from hydra import initialize_config_module
        from hydra.core.global_hydra import GlobalHydra

        with initialize_config_module("kanbench.conf", version_base="1.3"):
            return GlobalHydra.instance().config_loader().get_group_options(group)
    folder = Path(str(resources.files("kanbench.conf").joinpath(group)))
    files = [str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml")]
    stored = [name.removesuffix(".yaml") for name in ConfigStore.instance().repo.get(group, {})]
    return sorted(set(files) | set(stored))


def check_group_choices(argv: list[str]) -> str | None:
    """A one-line error for `group=option` overrides naming an option that does not exist."""
    groups = (*CONFIG_GROUPS, "hydra/launcher")
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in groups and "," not in value and "(" not in value:
            options = _group_options(key)
            if value not in options:
                return f"unknown {key} {value!r}; valid: {', '.join(options)}"
    return None


@hydra.main(version_base="1.3", config_path="pkg://kanbench.conf", config_name="train")
def _train(cfg: DictConfig) -> str:
    """One job; in a sweep it never raises, so that the other jobs go on (run() records it)."""
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    if in_sweep and "joblib" in str(HydraConfig.get().launcher.get("_target_", "")):
        _end_with_parent()
    try:
        return run(OmegaConf.to_container(cfg, resolve=True)).status
    except ValueError as error:
        if not in_sweep:
            print(f"kanbench-train: error: {error}", file=sys.stderr)
            sys.exit(2)
        log.error("job failed: %s", error)
    except OSError as error:  # a write that failed: full disk, lost mount, permissions
        message = write_failure(error)
        if not in_sweep:
            print(f"kanbench-train: error: {message}", file=sys.stderr)
            sys.exit(1)
        log.error("job failed: %s", message)
    except RunLocked as error:  # another process trains this run: leave it to that one
        if not in_sweep:
            print(f"kanbench-train: {error}", file=sys.stderr)
            sys.exit(3)
        log.warning("%s", error)
        return "locked"
    except Exception as error:
        if not in_sweep:
            raise
        log.exception("job failed: %s: %s", type(error).__name__, error)
    return "failed"


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


def _trains(argv: list[str]) -> bool:
    """Whether the command trains (not --cfg, --info or --help, which only print)."""
    return not any(
        a.startswith(("--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help")) for a in argv
    )


def train() -> None:
    """kanbench-train: train one model family on one task over its ladder of sizes.

    Every job's config, a single run's too, is checked before Hydra starts, so a rejected
    command writes nothing (not even Hydra's output folder)."""
    register_library_tasks()
    argv = sys.argv[1:]
    problem = check_group_choices(argv)
    if problem is None and _trains(argv):
        try:
            check_sweep(argv)
        except ValueError as error:
            problem = str(error)
    if problem:
        print(f"kanbench-train: error: {problem}", file=sys.stderr)
        sys.exit(2)
    _train()
