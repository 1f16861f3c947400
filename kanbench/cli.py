"""Command-line entry points over Hydra: each hands a composed config to one library call."""

from __future__ import annotations

import sys
from importlib import resources

import hydra
from omegaconf import DictConfig, OmegaConf

from kanbench.config import register_library_tasks
from kanbench.run import run

GROUPS = ("task", "model", "optim", "logger")


def _group_options(group: str) -> list[str]:
    from hydra.core.config_store import ConfigStore

    folder = resources.files("kanbench.conf").joinpath(group)
    files = [p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")]
    stored = [name.removesuffix(".yaml") for name in ConfigStore.instance().repo.get(group, {})]
    return sorted(set(files) | set(stored))


def _check_group_choices(argv: list[str]) -> str | None:
    """A one-line error for `group=option` overrides naming an option that does not exist."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in GROUPS and "," not in value and "(" not in value:
            options = _group_options(key)
            if value not in options:
                return f"unknown {key} {value!r}; valid: {', '.join(options)}"
    return None


@hydra.main(version_base="1.3", config_path="pkg://kanbench.conf", config_name="train")
def _train(cfg: DictConfig) -> None:
    try:
        run(OmegaConf.to_container(cfg, resolve=True))
    except ValueError as error:
        print(f"kanbench-train: error: {error}", file=sys.stderr)
        sys.exit(2)


def train() -> None:
    """kanbench-train: train one model family on one task over its ladder of sizes."""
    register_library_tasks()
    problem = _check_group_choices(sys.argv[1:])
    if problem:
        print(f"kanbench-train: error: {problem}", file=sys.stderr)
        sys.exit(2)
    _train()
