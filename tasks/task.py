"""The `Task` record and its construction from a mapping (a YAML entry or a user config).

A task is a target function with its domain: a formula over ordered, named input
variables, each sampled uniformly on its own range; the KAN shape that represents it
exactly where known; the dimension d used for the MLP comparison line alpha = 4/d
(Sharma & Kaplan); its group, reference and a short description.

A mapping that defines a task has the keys

    name: my_task                      # letters, digits, '_', '-', '.'
    formula: "exp(sin(pi*x) + y**2)"   # see tasks/formula.py for what is allowed
    variables: {x: [-1, 1], y: [-1, 1]}  # ordered; bounds are numbers or constant
                                         # expressions such as pi or 2*pi; also a list
                                         # [{x: [-1, 1]}, {y: [-1, 1]}], whose order
                                         # survives a JSON dump with sorted keys
    kan_shape: [2, 1, 1]               # optional: first = number of inputs, last = 1
    intrinsic_dim: 2                   # optional, default = number of inputs
    reference: "..."                   # optional
    description: "..."                 # optional

and, to generate many inputs instead of typing them, an optional `repeat` block:

    formula: "exp({sum} / 100)"
    repeat: {count: 100, variable: "x{i}", range: [-1, 1], term: "sin(pi*x{i}/2)**2"}

which appends the variables x1 ... x100 (each on the range) and replaces ``{sum}`` by
``(term(1) + ... + term(100))`` with ``{i}`` in the term replaced by the index.

`Task.definition()` is the inverse: every key written out (the repeat expanded, the
bounds as numbers, the variables as that list), so that a run's record holds a user task
whole and `task_from_mapping(task.definition())` gives the same Task.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .formula import Formula, parse_formula

__all__ = ["Task", "task_from_mapping"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_KEYS = (
    "name",
    "formula",
    "variables",
    "repeat",
    "kan_shape",
    "intrinsic_dim",
    "reference",
    "description",
)
_REPEAT_KEYS = ("count", "variable", "range", "term")


@dataclass(frozen=True)
class Task:
    """A target function y = f(x_1, ..., x_d) on the box prod_i [lo_i, hi_i].

    Attributes:
        name: unique short name.
        formula: the expression over `variables` (tasks/formula.py syntax).
        variables: input names; column i of an input array is variables[i].
        ranges: (lo, hi) per variable; inputs are drawn uniformly on them.
        kan_shape: widths of a KAN that represents f exactly, [d, ..., 1], or None.
        intrinsic_dim: d in the MLP comparison line alpha = 4/d (default: input_dim).
        group: 'toy', 'special', 'feynman' for the library; 'user' for config tasks.
        reference: where the function comes from (paper section or equation id).
        description: one line for humans.
        elementary: True when the formula calls only elementary functions (computed).

    Constructing a Task validates it; a problem raises ValueError naming the task.
    """

    name: str
    formula: str
    variables: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    kan_shape: tuple[int, ...] | None = None
    intrinsic_dim: int | None = None
    group: str = "user"
    reference: str = ""
    description: str = ""
    elementary: bool = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"task name {self.name!r} is not allowed; use letters, digits, '_', '-', '.'"
            )
        where = f"task {self.name!r}"
        if isinstance(self.variables, str) or not isinstance(self.variables, Sequence):
            raise ValueError(f"{where}: variables must be a sequence of names")
        variables = tuple(self.variables)
        if not variables:
            raise ValueError(f"{where}: needs at least one variable")
        if (
            isinstance(self.ranges, str)
            or not isinstance(self.ranges, Sequence)
            or len(self.ranges) != len(variables)
        ):
            raise ValueError(
                f"{where}: ranges must be a sequence of {len(variables)} pairs (lo, hi), "
                f"one per variable, got {self.ranges!r}"
            )
        ranges = tuple(
            _range(r, f"{where}: range of {v!r}")
            for v, r in zip(variables, self.ranges, strict=True)
        )
        try:
            compiled = parse_formula(self.formula, variables)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        d = len(variables)
        kan_shape = None if self.kan_shape is None else _kan_shape(self.kan_shape, d, where)
        intrinsic_dim = d if self.intrinsic_dim is None else self.intrinsic_dim
        if not _is_int(intrinsic_dim) or not 1 <= intrinsic_dim <= d:
            raise ValueError(
                f"{where}: intrinsic_dim must be an integer in [1, {d}] (the number of "
                f"inputs), got {intrinsic_dim!r}"
            )
        for attribute in ("group", "reference", "description"):
            if not isinstance(getattr(self, attribute), str):
                raise ValueError(f"{where}: {attribute} must be a string")

        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "kan_shape", kan_shape)
        object.__setattr__(self, "intrinsic_dim", int(intrinsic_dim))
        object.__setattr__(self, "elementary", compiled.elementary)

    def definition(self) -> dict:
        """The mapping that defines this task, every key given: task_from_mapping of it is
        this Task again (for a library task, with group 'user'); plain JSON types."""
        return {
            "name": self.name,
            "formula": self.formula,
            "variables": [{v: list(r)} for v, r in zip(self.variables, self.ranges, strict=True)],
            "kan_shape": None if self.kan_shape is None else list(self.kan_shape),
            "intrinsic_dim": self.intrinsic_dim,
            "reference": self.reference,
            "description": self.description,
        }

    @property
    def input_dim(self) -> int:
        """Number of inputs d."""
        return len(self.variables)

    @property
    def compiled(self) -> Formula:
        """The parsed formula (parsed once per formula text and variables, then cached)."""
        return parse_formula(self.formula, self.variables)

    @property
    def lows(self) -> np.ndarray:
        """Lower bounds of the input box, shape (d,)."""
        return np.array([lo for lo, _ in self.ranges], dtype=np.float64)

    @property
    def highs(self) -> np.ndarray:
        """Upper bounds of the input box, shape (d,)."""
        return np.array([hi for _, hi in self.ranges], dtype=np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate f on inputs x of shape (n, input_dim); returns shape (n,), float64."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"task {self.name!r}: x must have shape (n, {self.input_dim}) with columns "
                f"{_short(self.variables)}, got shape {x.shape}"
            )
        return self.compiled.evaluate(x.astype(np.float64, copy=False))


def task_from_mapping(cfg: Mapping, group: str = "user") -> Task:
    """Build a Task from a mapping with the keys in this module's docstring."""
    if not isinstance(cfg, Mapping):
        raise ValueError(f"a task definition must be a mapping, got {type(cfg).__name__}")
    name = cfg.get("name")
    where = f"task {name!r}"
    unknown = [key for key in cfg if key not in _KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {', '.join(_KEYS)}")
    for key in ("name", "formula"):
        if key not in cfg:
            raise ValueError(f"{where}: missing key {key!r}")

    formula = cfg["formula"]
    variables: dict[str, tuple[float, float]] = {}
    for variable, bounds in _variables(cfg.get("variables"), where):
        if variable in variables:
            raise ValueError(f"{where}: variable {variable!r} is declared twice")
        variables[variable] = _range(bounds, f"{where}: range of {variable!r}")
    if "repeat" in cfg:
        formula, repeated = _expand_repeat(formula, cfg["repeat"], where)
        for variable in repeated:
            if variable in variables:
                raise ValueError(f"{where}: repeat creates {variable!r}, already declared")
        variables.update(repeated)
    if not variables:
        raise ValueError(f"{where}: missing key 'variables' (a mapping name -> [lo, hi])")

    kan_shape = cfg.get("kan_shape")
    if kan_shape is not None:
        kan_shape = _kan_shape(kan_shape, len(variables), where)
    return Task(
        name=name,
        formula=formula,
        variables=tuple(variables),
        ranges=tuple(variables.values()),
        kan_shape=kan_shape,
        intrinsic_dim=cfg.get("intrinsic_dim"),
        group=group,
        reference=cfg.get("reference", ""),
        description=cfg.get("description", ""),
    )


def _variables(raw, where: str) -> list[tuple[str, object]]:
    """(name, bounds) in order from {x: [lo, hi], ...} or [{x: [lo, hi]}, ...] (or None)."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return [(str(name), bounds) for name, bounds in raw.items()]
    if not isinstance(raw, str) and isinstance(raw, Sequence):
        if all(isinstance(entry, Mapping) and len(entry) == 1 for entry in raw):
            return [(str(name), bounds) for entry in raw for name, bounds in entry.items()]
    raise ValueError(
        f"{where}: variables must be a mapping name -> [lo, hi] or a list of such "
        f"one-entry mappings, got {raw!r}"
    )


def _expand_repeat(formula, repeat, where: str) -> tuple[str, dict[str, tuple[float, float]]]:
    """Expand a `repeat` block: variables name(1..count) and '{sum}' in the formula."""
    if not isinstance(repeat, Mapping):
        raise ValueError(f"{where}: repeat must be a mapping with keys {_REPEAT_KEYS}")
    keys = set(repeat)
    if keys != set(_REPEAT_KEYS):
        raise ValueError(
            f"{where}: repeat needs exactly the keys {list(_REPEAT_KEYS)}, got {sorted(keys)}"
        )
    count, variable, term = repeat["count"], repeat["variable"], repeat["term"]
    if not _is_int(count) or count < 1:
        raise ValueError(f"{where}: repeat.count must be a positive integer, got {count!r}")
    for key, text in (("variable", variable), ("term", term)):
        if not isinstance(text, str) or "{i}" not in text:
            raise ValueError(f"{where}: repeat.{key} must be a string containing '{{i}}'")
    if not isinstance(formula, str) or "{sum}" not in formula:
        raise ValueError(f"{where}: with repeat, the formula must contain '{{sum}}'")
    bounds = _range(repeat["range"], f"{where}: repeat.range")
    indices = range(1, int(count) + 1)
    total = " + ".join(term.replace("{i}", str(i)) for i in indices)
    variables = {variable.replace("{i}", str(i)): bounds for i in indices}
    return formula.replace("{sum}", f"({total})"), variables


def _range(bounds, where: str) -> tuple[float, float]:
    """(lo, hi) from a pair of numbers or constant expressions; lo < hi, both finite."""
    if isinstance(bounds, str) or not isinstance(bounds, Sequence) or len(bounds) != 2:
        raise ValueError(f"{where} must be a pair [lo, hi], got {bounds!r}")
    lo, hi = (_bound(b, where) for b in bounds)
    if not lo < hi:
        raise ValueError(f"{where} must have lo < hi, got [{lo:g}, {hi:g}]")
    return lo, hi


def _bound(value, where: str) -> float:
    if isinstance(value, str):  # a constant expression such as "pi" or "2*pi"
        try:
            value = parse_formula(value, ())({})
        except ValueError as exc:
            raise ValueError(f"{where}: bound {exc}") from None
    elif isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{where}: bound {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: bound {value} is not finite")
    return value


def _kan_shape(shape, input_dim: int, where: str) -> tuple[int, ...]:
    """Validate [d, widths..., 1]: integers >= 1, first = input_dim, last = 1."""
    if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) < 2:
        raise ValueError(f"{where}: kan_shape must be a list of >= 2 widths, got {shape!r}")
    if not all(_is_int(w) and w >= 1 for w in shape):
        raise ValueError(f"{where}: kan_shape widths must be positive integers, got {shape!r}")
    shape = tuple(int(w) for w in shape)
    if shape[0] != input_dim or shape[-1] != 1:
        raise ValueError(
            f"{where}: kan_shape must start with the number of inputs ({input_dim}) and "
            f"end with 1, got {list(shape)}"
        )
    return shape


def _is_int(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _short(names: Sequence[str], limit: int = 6) -> str:
    if len(names) <= limit:
        return "(" + ", ".join(names) + ")"
    return f"({', '.join(names[:3])}, ..., {names[-1]})"
