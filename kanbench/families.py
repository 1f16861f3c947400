"""The model families kanbench trains and compares: one registry entry per family.

An entry (Family) holds everything the rest of the harness needs to know about a family:
its config schema (the keys of conf/model/<name>.yaml), how to build its model at a size
knob, its trainable count, the letter and colour it is shown with, its own config checks,
and which trainer runs it. The runner, the bench, the report and the plots ask the
registry (`family(name)`, `FAMILIES`) instead of branching on family names, so adding a
family means: its layer module under kanbench/models, one entry here, one conf/model
file, and its tests.

Staged families (the B-spline KAN and its variants) are LayerStacks trained through a
size schedule and grown in place between stages (kanbench.models.stack); their size
knob is G (grid intervals or centres), or D (a degree). The KAN paper counts a KAN as
N = edges x G (§3.1: the error bound of Theorem 2.1 falls as G^-(k+1)); every staged
family is fitted against edges x its knob as well as against its trainable count.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from torch import nn

from kanbench import checks
from kanbench.flops import (
    cheby_kan_count,
    fourier_kan_count,
    grouped_kan_count,
    kan_count,
    mlp_count,
    rbf_kan_count,
)
from kanbench.models import (
    KAN,
    RBFKAN,
    ChebyKAN,
    GroupedKAN,
    cheby_kan_size,
    grouped_kan_size,
    kan_size,
    rbf_kan_size,
)
from kanbench.models.fourier import FourierKAN, fourier_kan_size

# --------------------------------------------------------------------------- schemas


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


@dataclass(frozen=True)
class FourierKanConfig(StagedConfig):
    """Fourier KAN (kanbench.models.fourier): every edge a Fourier series up to frequency
    G on its input's range mapped onto half a period; grid_schedule: the G per stage."""

    family: str = "fourierkan"


@dataclass(frozen=True)
class MlpConfig:
    """The MLP baseline: one fixed width, a list of target counts, or (match_kan) the
    counts of a staged family (kan_family) of shape kan_shape over kan_grids."""

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


# --------------------------------------------------------------------------- registry


def _nothing(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Family:
    """What the harness knows about one model family.

    build(config, shape, size, common) -> the model at size knob `size`, common holding
    grid_range, bias, dtype and device; count(config, shape, size) -> its trainable count
    (without biases); paper_count(shape, size) -> the KAN paper's N where it differs from
    the trainable count; grows_exactly: a nested size-up keeps the function (else it is
    refitted by least squares); check(config, shape) raises ValueError on a bad family key;
    variant(config) -> a short text naming the family's options in records (or None);
    match_kan(widths, G, k) -> (config, size, text): how the bench sizes the family to the
    KAN (widths, G, k) (None: its default config at the size knob of nearest count);
    trainer: "module:function" yielding (record, history) per stage; flops(config, shape,
    size) -> the FLOPs per sample of a forward pass (kanbench.flops; for a family that is
    not staged, shape is (inputs, outputs) and size its hidden width; None: not counted).
    """

    name: str
    label: str
    schema: type
    colour: str = "C7"
    knob: str = "G"
    staged: bool = True
    matchable: bool = True
    reported: bool = True
    grows_exactly: bool = True
    min_size: int = 1
    build: Callable[[Any, Sequence[int], int, dict], nn.Module] | None = None
    count: Callable[[Any, Sequence[int], int], int] | None = None
    paper_count: Callable[[Sequence[int], int], int] | None = None
    check: Callable[[Any, Sequence[int]], None] = _nothing
    variant: Callable[[Any], str | None] = _nothing
    match_kan: Callable[[Sequence[int], int, int], tuple[Any, int, str]] | None = None
    trainer: str = "kanbench.train:train_staged"
    flops: Callable[[Any, Sequence[int], int], float] | None = None

    def size_label(self, size: int) -> str:
        """'G=5', 'D=8': the size knob as shown in logs and tables."""
        return f"{self.knob}={size}"

    def train(self) -> Callable:
        """The family's trainer function (imported on first use)."""
        module, name = self.trainer.split(":")
        return getattr(importlib.import_module(module), name)

    def config(self, **values: Any) -> Any:
        """A config of the family with the given keys (those its schema lacks ignored)."""
        known = {f.name for f in fields(self.schema)}
        return self.schema(**{k: v for k, v in values.items() if k in known})

    def nearest_size(self, widths: Sequence[int], target: int, config: Any = None) -> int:
        """The size knob (>= min_size) whose trainable count is nearest target."""
        config = self.schema() if config is None else config
        size = best = self.min_size
        while True:
            n = self.count(config, widths, size)
            if abs(n - target) < abs(self.count(config, widths, best) - target):
                best = size
            if n >= target:
                return best
            size += 1


def _check_spline(m: KanConfig | GroupedKanConfig, shape: Sequence[int]) -> None:
    checks.integer("model.spline_order", m.spline_order, minimum=1)
    if not 0 <= m.grid_eps <= 1:
        raise ValueError(f"model.grid_eps must lie in [0, 1], got {m.grid_eps!r}")
    checks.nonnegative("model.noise_scale", m.noise_scale)


def _check_kan(m: KanConfig, shape: Sequence[int]) -> None:
    _check_spline(m, shape)
    checks.choice("model.init", m.init, ("paper", "pykan"))


def _check_symbolic(m: KanSymbolicConfig, shape: Sequence[int]) -> None:
    from kanbench.models.functions import library

    _check_kan(m, shape)
    for key in ("reg_lambda", "reg_mu1", "reg_mu2", "prune_threshold"):
        checks.nonnegative(f"model.{key}", getattr(m, key))
    checks.integer("model.retrain_steps", m.retrain_steps, minimum=0)
    checks.integer("model.refit_steps", m.refit_steps, minimum=0)
    value = m.symbolic_threshold
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value <= 1:
        raise ValueError(f"model.symbolic_threshold must be a number <= 1 (an R^2), got {value!r}")
    for name in m.symbolic_functions or ():
        checks.choice("model.symbolic_functions", name, tuple(library()))
    for key in ("symbolic_a_range", "symbolic_b_range"):
        pair = getattr(m, key)
        if len(pair) != 2 or not pair[0] < pair[1]:
            raise ValueError(f"model.{key} must be increasing [lo, hi], got {list(pair)}")


def _check_rbf(m: RbfKanConfig, shape: Sequence[int]) -> None:
    checks.nonnegative("model.noise_scale", m.noise_scale)
    if m.layernorm and min(shape[:-1]) < 2:
        raise ValueError(
            f"model.layernorm needs every layer to have >= 2 inputs (LayerNorm over one "
            f"input outputs 0), but model.shape is {list(shape)}"
        )


def _check_grouped(m: GroupedKanConfig, shape: Sequence[int]) -> None:
    _check_spline(m, shape)
    if m.groups is not None:
        checks.integer("model.groups", m.groups, minimum=1)
    checks.integer("model.rank", m.rank, minimum=1)


def _grouped_by_rank(widths: Sequence[int], g: int, k: int) -> tuple[GroupedKanConfig, int, str]:
    """The grouped KAN beside a KAN (widths, G, k) in the bench: the KAN's G and k, one
    group per layer and the rank R in 1..G + k + 1 whose count is nearest the KAN's (its
    size knob G would change the basis rather than the sharing)."""
    target = kan_size(widths, g, k)

    def config(rank: int) -> GroupedKanConfig:
        return GroupedKanConfig(groups=1, rank=rank, spline_order=k)

    rank = min(
        range(1, g + k + 2),
        key=lambda r: abs(grouped_kan_size(widths, g, k, 1, r) - target),
    )
    return config(rank), g, f"1 group R={rank}"


def _build_kan(m: KanConfig, shape: Sequence[int], size: int, common: dict) -> KAN:
    return KAN(
        list(shape),
        size,
        m.spline_order,
        grid_eps=m.grid_eps,
        init=m.init,
        noise_scale=m.noise_scale,
        **common,
    )


_KAN = {
    "schema": KanConfig,
    "build": _build_kan,
    "count": lambda m, shape, g: kan_size(shape, g, m.spline_order),
    "paper_count": lambda shape, g: kan_size(shape, g, convention="paper"),
    # the dense convention: every basis meets its coefficients (kanbench.flops)
    "flops": lambda m, shape, g: kan_count(shape, g, m.spline_order, "dense", m.bias).total,
}

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("kan", "KAN", colour="C0", check=_check_kan, **_KAN),
        Family(
            "rbfkan",
            "RBF KAN",
            RbfKanConfig,
            colour="C2",
            min_size=2,
            grows_exactly=False,
            build=lambda m, shape, n, common: RBFKAN(
                shape, n, layernorm=m.layernorm, noise_scale=m.noise_scale, **common
            ),
            count=lambda m, shape, n: rbf_kan_size(shape, n),
            check=_check_rbf,
            variant=lambda m: "layernorm" if m.layernorm else None,
            flops=lambda m, shape, n: rbf_kan_count(shape, n, m.layernorm, m.bias).total,
        ),
        Family(
            "chebykan",
            "Chebyshev KAN",
            ChebyKanConfig,
            colour="C4",
            knob="D",
            build=lambda m, shape, d, common: ChebyKAN(shape, d, input_map=m.input_map, **common),
            count=lambda m, shape, d: cheby_kan_size(shape, d),
            check=lambda m, shape: checks.choice("model.input_map", m.input_map, ("tanh", "range")),
            variant=lambda m: f"{m.input_map} input",
            flops=lambda m, shape, d: cheby_kan_count(shape, d, m.input_map, m.bias).total,
        ),
        Family(
            "grouped",
            "grouped KAN",
            GroupedKanConfig,
            colour="C9",
            build=lambda m, shape, g, common: GroupedKAN(
                shape,
                g,
                m.spline_order,
                groups=m.groups,
                rank=m.rank,
                grid_eps=m.grid_eps,
                noise_scale=m.noise_scale,
                **common,
            ),
            count=lambda m, shape, g: grouped_kan_size(shape, g, m.spline_order, m.groups, m.rank),
            check=_check_grouped,
            variant=lambda m: f"groups={m.groups or 'per input'} R={m.rank}",
            match_kan=_grouped_by_rank,
            flops=lambda m, shape, g: (
                grouped_kan_count(shape, g, m.spline_order, m.rank, "dense", m.bias).total
            ),
        ),
        Family(
            "fourierkan",
            "Fourier KAN",
            FourierKanConfig,
            colour="C5",
            build=lambda m, shape, g, common: FourierKAN(shape, g, **common),
            count=lambda m, shape, g: fourier_kan_size(shape, g),
            flops=lambda m, shape, g: fourier_kan_count(shape, g, m.bias).total,
        ),
        Family(
            "kan_symbolic",
            "symbolic KAN",
            matchable=False,
            reported=False,
            check=_check_symbolic,
            trainer="kanbench.interpret.pipeline:train_kan_symbolic",
            **{**_KAN, "schema": KanSymbolicConfig},
        ),
        Family(
            "mlp",
            "MLP",
            MlpConfig,
            colour="C1",
            knob="",
            staged=False,
            matchable=False,
            trainer="kanbench.ladder:train_mlp",
            flops=lambda m, shape, width: (
                mlp_count(shape[0], m.depth, width, shape[-1], m.activation).total
            ),
        ),
    )
}


def family(name: str) -> Family:
    """The registry entry of a family; ValueError naming the known ones otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"model family must be one of {list(FAMILIES)}, got {name!r}")
    return FAMILIES[name]


def staged_families() -> list[str]:
    """Names of the families trained through a size schedule."""
    return [name for name, f in FAMILIES.items() if f.staged]


def matchable_families() -> list[str]:
    """Names of the families an MLP ladder can be matched to (model.kan_family)."""
    return [name for name, f in FAMILIES.items() if f.matchable]
