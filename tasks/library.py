"""The task library: tasks defined as data in the YAML files beside this module.

toy.yaml holds the KAN paper's §3.1 toy functions, special.yaml its §3.2 special
functions, feynman.yaml equations of the AI Feynman dataset (paper §3.3). Each file is
a mapping ``{group: <name>, tasks: [<task mapping>, ...]}``; the task mappings use the
keys described in tasks/task.py. The files are read once, on first use.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from importlib import resources

import yaml

from .task import Task, task_from_mapping

__all__ = ["DEFAULT_TASK", "GROUPS", "get_task", "list_tasks", "task_from_config"]

#: library groups, in listing order, each read from <group>.yaml
GROUPS = ("toy", "special", "feynman")

#: the task used when none is chosen: f(x, y) = exp(sin(pi x) + y^2), KAN paper §3.1
DEFAULT_TASK = "exp_sin_y2"


@functools.cache
def _library() -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for group in GROUPS:
        filename = f"{group}.yaml"
        text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        if not isinstance(document, Mapping) or document.get("group") != group:
            raise ValueError(f"tasks/{filename}: must be a mapping with 'group: {group}'")
        for entry in document.get("tasks") or ():
            try:
                task = task_from_mapping(entry, group=group)
            except ValueError as exc:
                raise ValueError(f"tasks/{filename}: {exc}") from None
            if task.name in tasks:
                raise ValueError(f"tasks/{filename}: task name {task.name!r} is defined twice")
            tasks[task.name] = task
    return tasks


def get_task(name: str) -> Task:
    """The library task called `name`.

    Raises:
        ValueError: for an unknown name, listing the valid names.
    """
    library = _library()
    if not isinstance(name, str) or name not in library:
        raise ValueError(f"unknown task {name!r}; valid names: {', '.join(library)}")
    return library[name]


def list_tasks(group: str | None = None) -> list[Task]:
    """All library tasks in listing order, or those of one group ('toy', 'special',
    'feynman')."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown task group {group!r}; valid groups: {', '.join(GROUPS)}")
    return [task for task in _library().values() if group is None or task.group == group]


def task_from_config(cfg: Mapping) -> Task:
    """A Task from a config mapping (a dict or an OmegaConf DictConfig).

    Two forms:

    - ``{name: <library name>}``: that library task; no other keys are allowed.
    - a user-defined task ``{name, formula, variables: {x: [lo, hi], ...}, kan_shape?,
      intrinsic_dim?, reference?, description?, repeat?}`` (see tasks/task.py), in
      group 'user'. Its name must not be a library name.

    Raises:
        ValueError: one line naming the problem (unknown library name, unknown key,
            bad formula, range with lo >= hi, undeclared variable, kan_shape that does
            not start with the input dimension or end with 1, ...).
    """
    if not isinstance(cfg, Mapping):
        raise ValueError(f"task config must be a mapping, got {type(cfg).__name__}")
    if "name" not in cfg:
        raise ValueError("task config needs a 'name' (a library task or a new task's name)")
    name = cfg["name"]
    if "formula" not in cfg:
        extra = sorted(str(key) for key in cfg if key != "name")
        if extra:
            close = [k for k in extra if difflib.get_close_matches(k, ["formula"], n=1)]
            hint = f" (did you mean 'formula' for {close[0]!r}?)" if close else ""
            raise ValueError(
                f"task {name!r}: a library task is chosen by 'name' alone, got also "
                f"{extra}{hint}; to define a new task give 'formula' and 'variables'"
            )
        return get_task(name)
    if isinstance(name, str) and name in _library():
        raise ValueError(
            f"task {name!r}: the name is taken by a library task; choose another name "
            "for a user-defined task"
        )
    return task_from_mapping(cfg, group="user")
