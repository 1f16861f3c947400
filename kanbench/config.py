"""A run's configuration: validated and typed from the mapping that Hydra composes.

Hydra's struct mode already refuses command-line overrides of keys that do not exist;
run_config refuses unknown keys inside config files too, and every value that is out of
range, each with one line that names the key, the value and what is allowed. Library
tasks are registered in Hydra's ConfigStore (group task), so `task=<name>` works for each
of them without a file. A task of the user's own (conf/task/<name>.yaml, DIR/task/<name>
.yaml with --config-dir, or task=path/to/file.yaml: kanbench.task_files) is written out
whole in the resolved config (Task.definition): its record rebuilds it without the file,
and its run id follows the task's content, not where the file was. A library task stays
{name: <name>}, as in the run ids of runs already stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from kanbench import checks, store
from kanbench.data import make_dataset
from kanbench.families import FAMILIES, MlpConfig, StagedConfig, family, matchable_families
from kanbench.tasks import Task, list_tasks, task_from_config

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda")
OPTIMIZERS = ("lbfgs", "adam")
LOGGERS = ("none", "wandb")
# keys that change where or how a run reports, not what it computes: left out of its id
_NOT_IDENTITY = ("out_dir", "progress", "logger", "log_every", "other_code")
OTHER_CODE = ("keep", "redo")


@dataclass(frozen=True)
class DataConfig:
    n_train: int = 1000
    n_test: int = 1000
    noise: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    name: str = "lbfgs"
    lr: float = 1.0
    history_size: int = 10
    max_iter: int = 20
    line_search: str | None = "strong_wolfe"
    tolerance_grad: float = 1e-32
    tolerance_change: float = 1e-32
    relative_tolerance: float = 0.0
    stop_rtol: float = 0.0
    stop_patience: int = 10
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


@dataclass(frozen=True)
class WandbConfig:
    """logger=wandb (conf/logger/wandb.yaml): one wandb run per job."""

    name: str = "wandb"
    project: str = "kanbench"
    entity: str | None = None
    mode: str = "offline"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, checked; `resolved` is the plain mapping it came from, a
    user task's section written out whole (Task.definition)."""

    task: Task
    model: StagedConfig | MlpConfig
    optim: OptimConfig
    logger: dict
    seed: int
    dtype: str
    device: str
    threads: int
    data: DataConfig
    out_dir: str
    log_every: int
    progress: bool
    resolved: dict
    other_code: str = "keep"

    @property
    def run_id(self) -> str:
        """12 hex digits of the SHA-256 of the config, less the reporting keys."""
        identity = {k: v for k, v in self.resolved.items() if k not in _NOT_IDENTITY}
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def register_library_tasks() -> None:
    """Put every library task in Hydra's ConfigStore as task=<name>."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for task in list_tasks():
        store.store(group="task", name=task.name, node={"name": task.name})


def default_kan_shape(task: Task) -> tuple[int, ...]:
    """The task's known KA shape, else the Kolmogorov-Arnold [d, 2d + 1, 1]."""
    d = task.input_dim
    return tuple(task.kan_shape) if task.kan_shape else (d, 2 * d + 1, 1)


def run_config(cfg: Mapping[str, Any]) -> RunConfig:
    """Check a composed config (a plain mapping) and type it; ValueError on any problem."""
    cfg = dict(cfg)
    top = {f.name for f in fields(RunConfig)} - {"resolved"}
    checks.no_unknown_keys("config", cfg, top | {"hydra"})
    cfg.pop("hydra", None)
    other_code = cfg.get("other_code", "keep")
    checks.choice("other_code", other_code, OTHER_CODE)
    for key in top - {"other_code"}:
        if key not in cfg:
            raise ValueError(f"config key {key!r} is missing")
    task = _task(cfg["task"])
    if task.group == "user":  # whole in the record; the same content, the same run id
        cfg["task"] = task.definition()
    model = _model(cfg["model"], task)
    optim = checks.section("optim", cfg["optim"], OptimConfig)
    checks.choice("optim.name", optim.name, OPTIMIZERS)
    checks.positive("optim.lr", optim.lr)
    checks.fraction("optim.relative_tolerance", optim.relative_tolerance)
    checks.fraction("optim.stop_rtol", optim.stop_rtol)
    checks.integer("optim.stop_patience", optim.stop_patience, minimum=1)
    checks.integer("optim.history_size", optim.history_size, minimum=1)
    checks.integer("optim.max_iter", optim.max_iter, minimum=1)
    checks.choice("optim.line_search", optim.line_search, (None, "strong_wolfe"))
    checks.nonnegative("optim.tolerance_grad", optim.tolerance_grad)
    checks.nonnegative("optim.tolerance_change", optim.tolerance_change)
    checks.nonnegative("optim.weight_decay", optim.weight_decay)
    if len(optim.betas) != 2:
        raise ValueError(f"optim.betas must be a pair [b1, b2], got {list(optim.betas)}")
    for beta in optim.betas:
        checks.fraction("optim.betas", beta)
    logger = dict(cfg["logger"] or {"name": "none"})
    checks.choice("logger.name", logger.get("name"), LOGGERS)
    if logger["name"] == "wandb":
        wandb = checks.section("logger", logger, WandbConfig)
        checks.choice("logger.mode", wandb.mode, ("offline", "online", "disabled"))
    else:
        checks.no_unknown_keys("logger", logger, {"name"})
    checks.choice("dtype", cfg["dtype"], tuple(DTYPES))
    checks.choice("device", cfg["device"], DEVICES)
    if cfg["device"] == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA device here")
    checks.integer("threads", cfg["threads"], minimum=1)
    checks.integer("seed", cfg["seed"], minimum=0)
    checks.integer("log_every", cfg["log_every"], minimum=0)
    data = checks.section("data", cfg["data"], DataConfig)
    checks.integer("data.n_train", data.n_train, minimum=1)
    checks.integer("data.n_test", data.n_test, minimum=1)
    checks.nonnegative("data.noise", data.noise)
    store.check_output_folders("out_dir", str(cfg["out_dir"]), ("records", "logs"))
    # the task's labels on the run's own samples (non-finite, a pole, a slow special
    # function) are refused here, before anything is written
    make_dataset(task, data.n_train, data.n_test, data.noise, cfg["seed"])
    return RunConfig(
        task=task,
        model=model,
        optim=optim,
        logger=logger,
        seed=cfg["seed"],
        dtype=cfg["dtype"],
        device=cfg["device"],
        threads=cfg["threads"],
        data=data,
        out_dir=str(cfg["out_dir"]),
        log_every=cfg["log_every"],
        progress=bool(cfg["progress"]),
        other_code=other_code,
        resolved=json.loads(json.dumps(cfg, default=str)),
    )


def _task(section: Any) -> Task:
    if not isinstance(section, Mapping) or "name" not in section:
        raise ValueError("config section 'task' must be a mapping with a 'name'")
    return task_from_config(section)


def _model(section: Any, task: Task) -> StagedConfig | MlpConfig:
    if not isinstance(section, Mapping):
        raise ValueError("config section 'model' must be a mapping")
    checks.choice("model.family", section.get("family"), tuple(FAMILIES))
    entry = family(section["family"])
    if entry.staged:
        model = checks.section("model", section, entry.schema)
        shape = _kan_shape(model, task)
        checks.shape("model.shape", shape, task)
        _staged(model, shape)
        checks.integer("model.grid_schedule", model.grid_schedule[0], minimum=entry.min_size)
        entry.check(model, shape)
        return entry.schema(**{**checks.as_dict(model), "shape": tuple(shape)})
    model = checks.section("model", section, MlpConfig)
    checks.integer("model.depth", model.depth, minimum=2)
    checks.integer("model.steps", model.steps, minimum=1)
    checks.choice("model.activation", model.activation, ("silu", "tanh", "relu"))
    _restarts(model)
    if model.width is not None:
        checks.integer("model.width", model.width, minimum=1)
    elif model.target_params is not None:
        for value in model.target_params:
            checks.integer("model.target_params", value, minimum=1)
    elif model.match_kan:
        kan_shape = model.kan_shape or default_kan_shape(task)
        checks.shape("model.kan_shape", kan_shape, task)
        checks.schedule("model.kan_grids", model.kan_grids)
        checks.choice("model.kan_family", model.kan_family, matchable_families())
        checks.integer("model.kan_spline_order", model.kan_spline_order, minimum=1)
        checks.integer("model.kan_rank", model.kan_rank, minimum=1)
        if model.kan_groups is not None:
            checks.integer("model.kan_groups", model.kan_groups, minimum=1)
        minimum = family(model.kan_family).min_size
        checks.integer("model.kan_grids", model.kan_grids[0], minimum=minimum)
        model = MlpConfig(**{**checks.as_dict(model), "kan_shape": tuple(kan_shape)})
    else:
        raise ValueError("model needs a width, target_params, or match_kan: true")
    return model


def _staged(model: StagedConfig, shape: Sequence[int]) -> None:
    """The checks of the keys every staged family has (its own: Family.check)."""
    checks.schedule("model.grid_schedule", model.grid_schedule)
    checks.integer("model.steps_per_grid", model.steps_per_grid, minimum=1)
    checks.integer("model.grid_update_every", model.grid_update_every, minimum=1)
    checks.integer("model.grid_update_until", model.grid_update_until, minimum=0)
    _restarts(model)
    if not 0 <= model.hidden_grid_margin <= 1:
        raise ValueError(
            f"model.hidden_grid_margin must lie in [0, 1], got {model.hidden_grid_margin!r}"
        )
    if len(model.grid_range) != 2 or not model.grid_range[0] < model.grid_range[1]:
        raise ValueError(
            f"model.grid_range must be increasing [lo, hi], got {list(model.grid_range)}"
        )


def _kan_shape(model: StagedConfig, task: Task) -> tuple[int, ...]:
    """model.shape; else [d, width, ..., width, 1] with depth layers; else the task's."""
    if model.depth is None:
        if model.width is not None:
            raise ValueError("model.width of a KAN needs model.depth too")
        return tuple(model.shape or default_kan_shape(task))
    if model.shape is not None:
        raise ValueError("set model.shape or model.depth (with model.width), not both")
    checks.integer("model.depth", model.depth, minimum=1)
    width = model.width if model.width is not None else 2 * task.input_dim + 1
    checks.integer("model.width", width, minimum=1)
    return (task.input_dim, *[width] * (model.depth - 1), 1)


def _restarts(model: StagedConfig | MlpConfig) -> None:
    checks.integer("model.restarts", model.restarts, minimum=1)
    checks.integer("model.restart_steps", model.restart_steps, minimum=1)
