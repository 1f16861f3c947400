"""A run's configuration: validated and typed from the mapping that Hydra composes.

Hydra's struct mode already refuses command-line overrides of keys that do not exist;
run_config refuses unknown keys inside config files too, and every value that is out of
range, each with one line that names the key, the value and what is allowed. Library
tasks are registered in Hydra's ConfigStore (group task), so `task=<name>` works for each
of them without a file; a file conf/task/<name>.yaml defines a task of the user's own.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from kanbench import store
from kanbench.data import make_dataset
from kanbench.tasks import Task, list_tasks, task_from_config

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda")
FAMILIES = ("kan", "mlp", "kan_symbolic", "rbfkan", "chebykan", "grouped")
# the families an MLP ladder can be matched to (model.kan_family)
MATCHABLE_FAMILIES = ("kan", "rbfkan", "chebykan", "grouped")
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
class StagedConfig:
    """Keys common to the families trained through a size schedule (KAN and its variants).

    grid_schedule lists the size knob of each stage: grid intervals G (kan, grouped),
    centres G (rbfkan) or degree D (chebykan).
    """

    family: str = "kan"
    shape: tuple[int, ...] | None = None
    depth: int | None = None
    width: int | None = None
    grid_schedule: tuple[int, ...] = (3, 5, 10, 20, 50, 100, 200, 500, 1000)
    steps_per_grid: int = 200
    grid_range: tuple[float, float] = (-1.0, 1.0)
    grid_update_every: int = 5
    grid_update_until: int = 50
    grid_covers_domain: bool = False
    hidden_grid_margin: float = 0.0
    bias: bool = False
    restarts: int = 5
    restart_steps: int = 5


@dataclass(frozen=True)
class KanConfig(StagedConfig):
    spline_order: int = 3
    grid_eps: float = 1.0
    init: str = "paper"
    noise_scale: float = 0.1


@dataclass(frozen=True)
class RbfKanConfig(StagedConfig):
    """Gaussian RBF KAN (kanbench.models.rbf); grid_schedule: the number of centres."""

    family: str = "rbfkan"
    layernorm: bool = False
    noise_scale: float = 0.1


@dataclass(frozen=True)
class ChebyKanConfig(StagedConfig):
    """Chebyshev KAN (kanbench.models.chebyshev); grid_schedule: the degrees. Grid updates
    move the input range of input_map "range" and do nothing for "tanh"."""

    family: str = "chebykan"
    input_map: str = "tanh"


@dataclass(frozen=True)
class GroupedKanConfig(StagedConfig):
    """Grouped low-rank KAN (kanbench.models.grouped): groups of inputs per layer (null: one
    per input) sharing rank R splines."""

    family: str = "grouped"
    spline_order: int = 3
    grid_eps: float = 0.02
    noise_scale: float = 0.1
    groups: int | None = 1
    rank: int = 1


@dataclass(frozen=True)
class KanSymbolicConfig(KanConfig):
    """A KAN through the interpretation pipeline (kanbench.interpret.pipeline): train with
    the sparsity penalty over grid_schedule, prune, retrain, fix edges symbolically, refit."""

    family: str = "kan_symbolic"
    grid_schedule: tuple[int, ...] = (5,)
    grid_eps: float = 0.02  # quantile grids: the edges are fitted where the samples are
    reg_lambda: float = 0.01
    reg_mu1: float = 1.0
    reg_mu2: float = 2.0
    prune_threshold: float = 0.01
    retrain_steps: int = 100
    symbolic_threshold: float = 0.99
    symbolic_functions: tuple[str, ...] | None = None
    symbolic_a_range: tuple[float, float] = (-10.0, 10.0)
    symbolic_b_range: tuple[float, float] = (-10.0, 10.0)
    refit_steps: int = 100


# families trained through a size schedule, with their config schemas
STAGED_FAMILIES = {
    "kan": KanConfig,
    "kan_symbolic": KanSymbolicConfig,
    "rbfkan": RbfKanConfig,
    "chebykan": ChebyKanConfig,
    "grouped": GroupedKanConfig,
}


@dataclass(frozen=True)
class MlpConfig:
    family: str = "mlp"
    depth: int = 3
    width: int | None = None
    target_params: tuple[int, ...] | None = None
    match_kan: bool = True
    kan_shape: tuple[int, ...] | None = None
    kan_grids: tuple[int, ...] = (3, 5, 10, 20, 50, 100, 200, 500, 1000)
    kan_spline_order: int = 3
    kan_family: str = "kan"
    kan_groups: int | None = 1
    kan_rank: int = 1
    activation: str = "silu"
    steps: int = 1800
    restarts: int = 3
    restart_steps: int = 5


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
    """Everything a run needs, checked; `resolved` is the plain mapping it came from."""

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
    _no_unknown_keys("config", cfg, top | {"hydra"})
    cfg.pop("hydra", None)
    other_code = cfg.get("other_code", "keep")
    _choice("other_code", other_code, OTHER_CODE)
    for key in top - {"other_code"}:
        if key not in cfg:
            raise ValueError(f"config key {key!r} is missing")
    task = _task(cfg["task"])
    model = _model(cfg["model"], task)
    optim = _section("optim", cfg["optim"], OptimConfig)
    _choice("optim.name", optim.name, OPTIMIZERS)
    _positive("optim.lr", optim.lr)
    _fraction("optim.relative_tolerance", optim.relative_tolerance)
    _fraction("optim.stop_rtol", optim.stop_rtol)
    _integer("optim.stop_patience", optim.stop_patience, minimum=1)
    _integer("optim.history_size", optim.history_size, minimum=1)
    _integer("optim.max_iter", optim.max_iter, minimum=1)
    _choice("optim.line_search", optim.line_search, (None, "strong_wolfe"))
    _nonnegative("optim.tolerance_grad", optim.tolerance_grad)
    _nonnegative("optim.tolerance_change", optim.tolerance_change)
    _nonnegative("optim.weight_decay", optim.weight_decay)
    if len(optim.betas) != 2:
        raise ValueError(f"optim.betas must be a pair [b1, b2], got {list(optim.betas)}")
    for beta in optim.betas:
        _fraction("optim.betas", beta)
    logger = dict(cfg["logger"] or {"name": "none"})
    _choice("logger.name", logger.get("name"), LOGGERS)
    if logger["name"] == "wandb":
        wandb = _section("logger", logger, WandbConfig)
        _choice("logger.mode", wandb.mode, ("offline", "online", "disabled"))
    else:
        _no_unknown_keys("logger", logger, {"name"})
    _choice("dtype", cfg["dtype"], tuple(DTYPES))
    _choice("device", cfg["device"], DEVICES)
    if cfg["device"] == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA device here")
    _integer("threads", cfg["threads"], minimum=1)
    _integer("seed", cfg["seed"], minimum=0)
    _integer("log_every", cfg["log_every"], minimum=0)
    data = _section("data", cfg["data"], DataConfig)
    _integer("data.n_train", data.n_train, minimum=1)
    _integer("data.n_test", data.n_test, minimum=1)
    _nonnegative("data.noise", data.noise)
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
    family = section.get("family")
    _choice("model.family", family, FAMILIES)
    if family in STAGED_FAMILIES:
        schema = STAGED_FAMILIES[family]
        model = _section("model", section, schema)
        shape = _kan_shape(model, task)
        _shape("model.shape", shape, task)
        _staged(model, shape)
        return schema(**{**_as_dict(model), "shape": tuple(shape)})
    model = _section("model", section, MlpConfig)
    _integer("model.depth", model.depth, minimum=2)
    _integer("model.steps", model.steps, minimum=1)
    _choice("model.activation", model.activation, ("silu", "tanh", "relu"))
    _restarts(model)
    if model.width is not None:
        _integer("model.width", model.width, minimum=1)
    elif model.target_params is not None:
        for value in model.target_params:
            _integer("model.target_params", value, minimum=1)
    elif model.match_kan:
        kan_shape = model.kan_shape or default_kan_shape(task)
        _shape("model.kan_shape", kan_shape, task)
        _schedule("model.kan_grids", model.kan_grids)
        _choice("model.kan_family", model.kan_family, MATCHABLE_FAMILIES)
        _integer("model.kan_spline_order", model.kan_spline_order, minimum=1)
        _integer("model.kan_rank", model.kan_rank, minimum=1)
        if model.kan_groups is not None:
            _integer("model.kan_groups", model.kan_groups, minimum=1)
        if model.kan_family == "rbfkan":
            _integer("model.kan_grids", model.kan_grids[0], minimum=2)
        model = MlpConfig(**{**_as_dict(model), "kan_shape": tuple(kan_shape)})
    else:
        raise ValueError("model needs a width, target_params, or match_kan: true")
    return model


def _staged(model: StagedConfig, shape: Sequence[int]) -> None:
    """The checks of a staged family's keys, common ones first."""
    _schedule("model.grid_schedule", model.grid_schedule)
    _integer("model.steps_per_grid", model.steps_per_grid, minimum=1)
    _integer("model.grid_update_every", model.grid_update_every, minimum=1)
    _integer("model.grid_update_until", model.grid_update_until, minimum=0)
    _restarts(model)
    if not 0 <= model.hidden_grid_margin <= 1:
        raise ValueError(
            f"model.hidden_grid_margin must lie in [0, 1], got {model.hidden_grid_margin!r}"
        )
    if len(model.grid_range) != 2 or not model.grid_range[0] < model.grid_range[1]:
        raise ValueError(
            f"model.grid_range must be increasing [lo, hi], got {list(model.grid_range)}"
        )
    if hasattr(model, "noise_scale"):
        _nonnegative("model.noise_scale", model.noise_scale)
    if isinstance(model, (KanConfig, GroupedKanConfig)):
        _integer("model.spline_order", model.spline_order, minimum=1)
        if not 0 <= model.grid_eps <= 1:
            raise ValueError(f"model.grid_eps must lie in [0, 1], got {model.grid_eps!r}")
    if isinstance(model, KanConfig):
        _choice("model.init", model.init, ("paper", "pykan"))
    if isinstance(model, KanSymbolicConfig):
        _symbolic(model)
    if isinstance(model, RbfKanConfig):
        _integer("model.grid_schedule", model.grid_schedule[0], minimum=2)
        if model.layernorm and min(shape[:-1]) < 2:
            raise ValueError(
                f"model.layernorm needs every layer to have >= 2 inputs (LayerNorm over one "
                f"input outputs 0), but model.shape is {list(shape)}"
            )
    if isinstance(model, ChebyKanConfig):
        _choice("model.input_map", model.input_map, ("tanh", "range"))
    if isinstance(model, GroupedKanConfig):
        if model.groups is not None:
            _integer("model.groups", model.groups, minimum=1)
        _integer("model.rank", model.rank, minimum=1)


def _kan_shape(model: StagedConfig, task: Task) -> tuple[int, ...]:
    """model.shape; else [d, width, ..., width, 1] with depth layers; else the task's."""
    if model.depth is None:
        if model.width is not None:
            raise ValueError("model.width of a KAN needs model.depth too")
        return tuple(model.shape or default_kan_shape(task))
    if model.shape is not None:
        raise ValueError("set model.shape or model.depth (with model.width), not both")
    _integer("model.depth", model.depth, minimum=1)
    width = model.width if model.width is not None else 2 * task.input_dim + 1
    _integer("model.width", width, minimum=1)
    return (task.input_dim, *[width] * (model.depth - 1), 1)


def _symbolic(model: KanSymbolicConfig) -> None:
    from kanbench.models.functions import library

    for key in ("reg_lambda", "reg_mu1", "reg_mu2", "prune_threshold"):
        value = getattr(model, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"model.{key} must be a number >= 0, got {value!r}")
    _integer("model.retrain_steps", model.retrain_steps, minimum=0)
    _integer("model.refit_steps", model.refit_steps, minimum=0)
    value = model.symbolic_threshold
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value <= 1:
        raise ValueError(f"model.symbolic_threshold must be a number <= 1 (an R^2), got {value!r}")
    for name in model.symbolic_functions or ():
        _choice("model.symbolic_functions", name, tuple(library()))
    for key in ("symbolic_a_range", "symbolic_b_range"):
        pair = getattr(model, key)
        if len(pair) != 2 or not pair[0] < pair[1]:
            raise ValueError(f"model.{key} must be increasing [lo, hi], got {list(pair)}")


def _restarts(model: StagedConfig | MlpConfig) -> None:
    _integer("model.restarts", model.restarts, minimum=1)
    _integer("model.restart_steps", model.restart_steps, minimum=1)


def _section(name: str, section: Any, schema: type) -> Any:
    if not isinstance(section, Mapping):
        raise ValueError(f"config section {name!r} must be a mapping")
    allowed = {f.name for f in fields(schema)}
    _no_unknown_keys(name, section, allowed)
    values = {}
    hints = typing.get_type_hints(schema)
    for f in fields(schema):
        if f.name in section:
            value = section[f.name]
            if isinstance(value, Sequence) and not isinstance(value, str):
                value = tuple(value)
            if not _has_type(value, hints[f.name]):
                raise ValueError(
                    f"{name}.{f.name} must be {_type_name(hints[f.name])}, got {value!r}"
                )
            values[f.name] = value
    return schema(**values)


def _has_type(value: Any, annotation: Any) -> bool:
    """Whether value fits a schema field's annotation (int, float, bool, str, dict,
    tuple[T, ...], tuple[T1, T2], X | None); an int is a float, a bool is neither."""
    if annotation is Any:
        return True
    options = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in options)
    if annotation is type(None):
        return value is None
    if typing.get_origin(annotation) is tuple:
        if not isinstance(value, tuple):
            return False
        if len(options) == 2 and options[1] is Ellipsis:
            return all(_has_type(item, options[0]) for item in value)
        return len(value) == len(options) and all(map(_has_type, value, options))
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typing.get_origin(annotation) or annotation)


def _type_name(annotation: Any) -> str:
    """An annotation in words: 'an integer', 'a list of integers or null', ..."""
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    names |= {dict: "a mapping", type(None): "null"}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        options = typing.get_args(annotation)
        if len(options) == 2 and options[1] is Ellipsis:
            return f"a list of {_type_name(options[0]).split(' ', 1)[1]}s"
        return f"a list of {len(options)} {_type_name(options[0]).split(' ', 1)[1]}s"
    return names.get(annotation, str(annotation))


def _as_dict(instance: Any) -> dict:
    return {f.name: getattr(instance, f.name) for f in fields(instance)}


def _no_unknown_keys(name: str, section: Mapping, allowed: set[str]) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown key(s) {unknown} in {name}{hint}; allowed: {sorted(allowed)}")


def _choice(key: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")


def _integer(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")


def _positive(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{key} must be a positive number, got {value!r}")


def _nonnegative(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{key} must be a number >= 0, got {value!r}")


def _fraction(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{key} must be a number in [0, 1), got {value!r}")


def _schedule(key: str, schedule: Sequence[int]) -> None:
    if not schedule:
        raise ValueError(f"{key} must list at least one grid size")
    for value in schedule:
        _integer(key, value, minimum=1)
    if any(b <= a for a, b in zip(schedule[:-1], schedule[1:], strict=True)):
        raise ValueError(f"{key} must be strictly increasing, got {list(schedule)}")


def _shape(key: str, shape: Sequence[int], task: Task) -> None:
    if len(shape) < 2:
        raise ValueError(f"{key} must list at least 2 widths, got {list(shape)}")
    for value in shape:
        _integer(key, value, minimum=1)
    if shape[0] != task.input_dim or shape[-1] != 1:
        raise ValueError(
            f"{key} {list(shape)} must start with the task's {task.input_dim} "
            f"inputs and end with 1 output"
        )
