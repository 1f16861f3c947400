"""Task files on kanbench-train's command line: `task=path/to/file.yaml`.

A task value that ends in .yaml or .yml is the path of a task file (relative to the
working folder, or absolute), wherever it is: no file in kanbench's own conf/task/ is
needed, so it works from an installed package. Before Hydra starts, task_file_overrides
reads each such file and checks its task (one line naming the file on any problem),
stores the task's definition (Task.definition) in Hydra's ConfigStore as the option
`<name>@<8 hex digits of the definition>` of group task, and rewrites the override to
choose that option, so a sweep may mix files and other options (`task=a.yaml,b.yaml,
exp_sin_y2`). Hydra hands the ConfigStore to a launcher's workers (joblib, SLURM) with
its other state, as it does for the library tasks. The record holds the definition
(kanbench.config), never the path: the same task from anywhere is the same run.

`--config-dir DIR`, with DIR/task/<name>.yaml chosen as task=<name>, is Hydra's own;
kanbench.sweep looks in DIR too when it checks a command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import yaml
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from kanbench.tasks import Task, task_from_config

SUFFIXES = (".yaml", ".yml")


def is_task_file(value: object) -> bool:
    """Whether a task override's value names a file (it ends in .yaml or .yml)."""
    return isinstance(value, str) and value.endswith(SUFFIXES)


def read_task_file(value: str) -> Task:
    """The task a YAML file defines (value: its path as given, relative to the working
    folder or absolute). ValueError, one line naming the file, for a file that is missing,
    is not YAML, does not hold a mapping, or whose task is invalid."""
    path = Path(value).expanduser()
    where = f"task file {value!r}"
    if not path.is_file():
        problem = "is not a file" if path.exists() else "not found"
        if not path.is_absolute():
            problem += f" in {Path.cwd()}"
        raise ValueError(f"{where} {problem} (a task ending in .yaml is a file's path)")
    try:
        loaded = OmegaConf.load(path)
        mapping = OmegaConf.to_container(loaded, resolve=True)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValueError(f"{where} is not valid YAML: {error.problem}{at}") from None
    except (yaml.YAMLError, OmegaConfBaseException, OSError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"{where} cannot be read: {type(error).__name__} {first}") from None
    if not isinstance(loaded, DictConfig):
        raise ValueError(
            f"{where} must hold a mapping (name, formula, variables, ...), "
            f"got a {type(mapping).__name__}"
        )
    try:
        return task_from_config(mapping)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def task_file_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides with each task file (`task=x.yaml`, also in a sweep `task=a.yaml,b,
    c.yml`) read, checked, stored in the ConfigStore and replaced by its option there (a
    file that names a library task alone: by that name). Other overrides pass unchanged,
    malformed ones too (the command's checks report them). ValueError, one line, for a bad
    file, and for two files that give one task name two definitions."""
    parser = OverridesParser.create()
    named: dict[str, tuple[str, str]] = {}  # task name -> (its option, the file)
    result = []
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except HydraException:
            result.append(text)
            continue
        choices = _choices(override) if override.key_or_group == "task" else None
        if choices is None or not any(is_task_file(c) for c in choices):
            result.append(text)
            continue
        options = [_store(c, named) if is_task_file(c) else str(c) for c in choices]
        result.append(f"{text.partition('=')[0]}={','.join(options)}")
    return result


def _choices(override) -> list | None:
    """The values of a `task=` override: one, or a choice sweep's (None: a range, a glob,
    a deletion, a package)."""
    if override.package is not None or override.is_delete():
        return None
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return list(value.list)
    return [value] if isinstance(value, str) else None


def _store(value: str, named: dict[str, tuple[str, str]]) -> str:
    """The ConfigStore option of the task file `value` (stored on first use)."""
    task = read_task_file(value)
    if task.group != "user":  # the file names a library task: {name: <name>}
        return task.name
    definition = task.definition()
    text = json.dumps(definition, sort_keys=True)
    option = f"{task.name}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    earlier = named.setdefault(task.name, (option, value))
    if earlier[0] != option:
        raise ValueError(
            f"task files {earlier[1]!r} and {value!r} define task {task.name!r} differently; "
            "a report tells tasks apart by name: rename one"
        )
    ConfigStore.instance().store(group="task", name=option, node=definition)
    return option
