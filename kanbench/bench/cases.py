"""Bench cases: what one measurement is (Case), the families and metrics a case may name,
and the ladders of a preset (conf/bench/<name>.yaml) turned into checked cases.

A preset's top-level keys (dtype, device, threads, min_time, rounds, pykan_max_params)
apply to every ladder; each ladder lists its points:

- n: `shapes` at one `grid` and `batch` (the N ladder);
- grid: `grids` at one `shape` and `batch` (the G ladder);
- batch: `batches` at one `shape` and `grid` (memory);
- custom: `shapes` at one `grid` and `batch`, as n, for ad-hoc cases.

Each ladder may also set `order` (k, 3), `families`, `metrics` and `memory` (true).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kanbench import checks
from kanbench.config import DEVICES, DTYPES
from kanbench.families import matchable_families

KAN_FORMS = {"kan": "auto", "kan_dense": "dense", "kan_sparse": "sparse"}
PYKAN_FORMS = ("pykan", "pykan_speed")
METRICS = ("fwd", "fwd_bwd", "adam", "lbfgs")
LADDERS = ("n", "grid", "batch", "custom")
SETTINGS = ("dtype", "device", "threads", "min_time", "rounds", "pykan_max_params")
_POINT_KEYS = {"order", "families", "metrics", "memory"}
_LADDER_KEYS = {
    "n": {"shapes", "grid", "batch", *_POINT_KEYS},
    "grid": {"shape", "grids", "batch", *_POINT_KEYS},
    "batch": {"shape", "batches", "grid", *_POINT_KEYS},
    "custom": {"shapes", "grid", "batch", *_POINT_KEYS},
}


def variant_families() -> list[str]:
    """The registry's staged families other than the KAN that an MLP can be matched to:
    each is benched at the KAN's trainable count (kanbench.bench.models.match_variant)."""
    return [name for name in matchable_families() if name != "kan"]


def bench_families() -> tuple[str, ...]:
    """Every family a case may list: the KAN in its forms, the variants, the MLP, pykan."""
    return (*KAN_FORMS, *variant_families(), "mlp", *PYKAN_FORMS)


@dataclass(frozen=True)
class Case:
    """One point of a ladder: what is measured, on which families, how."""

    ladder: str
    widths: tuple[int, ...]
    grid_size: int
    spline_order: int
    batch: int
    dtype: str = "float32"
    device: str = "cpu"
    threads: int = 1
    families: tuple[str, ...] = ("kan", "mlp")
    metrics: tuple[str, ...] = METRICS
    memory: bool = True
    min_time: float = 0.5
    rounds: int = 5
    pykan_max_params: int = 200_000

    @property
    def shape(self) -> str:
        return ",".join(map(str, self.widths))

    @property
    def bench_id(self) -> str:
        """A readable id that changes with anything that changes the measurement."""
        digest = hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return (
            f"{self.ladder}-{self.shape.replace(',', 'x')}-G{self.grid_size}-b{self.batch}-"
            f"{self.dtype}-{self.device}-{digest[:8]}"
        )


def parse_widths(value: Any, key: str = "shape") -> tuple[int, ...]:
    """'16,64,1' or [16, 64, 1] -> (16, 64, 1); ValueError naming key for anything else."""
    if isinstance(value, str):
        try:
            widths = tuple(int(part) for part in value.split(","))
        except ValueError:
            widths = ()
    elif isinstance(value, Sequence) and all(checks.has_type(w, int) for w in value):
        widths = tuple(value)
    else:
        widths = ()
    if not widths:
        raise ValueError(
            f"{key} must be comma-separated integers such as 16,64,1 (or a list of them), "
            f"got {value!r}"
        )
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"{key} needs at least 2 positive widths, got {value!r}")
    return widths


def _names(key: str, values: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    """A list of names (a single name is a list of one), each one of allowed."""
    values = (values,) if isinstance(values, str) else values
    if not isinstance(values, Sequence) or not values:
        raise ValueError(f"{key} must be a non-empty list of {list(allowed)}, got {values!r}")
    for value in values:
        checks.choice(key, value, allowed)
    return tuple(values)


def check_case(case: Case, where: str = "") -> Case:
    """The case, or ValueError naming the first bad field (after the prefix where) and what
    is allowed."""
    for name in ("grid_size", "spline_order", "batch", "threads", "rounds", "pykan_max_params"):
        checks.integer(f"{where}{name}", getattr(case, name), minimum=1)
    checks.choice(f"{where}ladder", case.ladder, LADDERS)
    _names(f"{where}families", case.families, bench_families())
    _names(f"{where}metrics", case.metrics, METRICS)
    checks.choice(f"{where}dtype", case.dtype, tuple(DTYPES))
    checks.choice(f"{where}device", case.device, DEVICES)
    if "mlp" not in case.families:
        raise ValueError(
            f"{where}families must include mlp (the ratios' baseline), got {list(case.families)}"
        )
    checks.positive(f"{where}min_time", case.min_time)
    if not isinstance(case.memory, bool):
        raise ValueError(f"{where}memory must be true or false, got {case.memory!r}")
    parse_widths(case.widths, f"{where}widths")
    return case


def preset_cases(
    spec: Mapping[str, Any], where: str = "bench", ladders: Sequence[str] | None = None
) -> list[Case]:
    """The cases of a preset (the mapping of a conf/bench file), in ladder order.

    where names the preset's place in the config (bench, regress.speed) in errors;
    ladders: the ladders to keep (None: every one the preset has). Unknown keys, missing
    keys and bad values raise ValueError naming them as the preset writes them.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping of settings and ladders, got {spec!r}")
    checks.no_unknown_keys(where, spec, {*SETTINGS, *LADDERS})
    settings = {key: spec[key] for key in SETTINGS if key in spec}
    check_case(Case("n", (1, 1), 1, 1, 1, **settings), f"{where}.")
    wanted = _names("ladders", ladders, LADDERS) if ladders is not None else LADDERS
    cases: list[Case] = []
    for ladder in wanted:
        part = spec.get(ladder)
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise ValueError(f"{where}.{ladder} must be a mapping, got {part!r}")
        checks.no_unknown_keys(f"{where}.{ladder}", part, _LADDER_KEYS[ladder])
        try:
            cases += _ladder_cases(f"{where}.{ladder}", ladder, part, settings)
        except KeyError as error:
            raise ValueError(f"{where}.{ladder} lacks the key {error}") from None
    if not cases:
        raise ValueError(f"{where} has none of the ladders {list(wanted)}")
    return cases


def _ladder_cases(key: str, ladder: str, part: Mapping[str, Any], settings: dict) -> list[Case]:
    """The checked cases of the ladder at key (KeyError for a missing key)."""
    if ladder in ("n", "custom"):
        shapes = [parse_widths(s, f"{key}.shapes") for s in _list(key, part, "shapes")]
        points = [(w, part["grid"], part["batch"]) for w in shapes]
    elif ladder == "grid":
        shape = parse_widths(part["shape"], f"{key}.shape")
        points = [(shape, g, part["batch"]) for g in _list(key, part, "grids")]
    else:
        shape = parse_widths(part["shape"], f"{key}.shape")
        points = [(shape, part["grid"], b) for b in _list(key, part, "batches")]
    for _, grid, batch in points:  # named as the ladder writes them
        checks.integer(f"{key}.{'grids' if ladder == 'grid' else 'grid'}", grid, minimum=1)
        checks.integer(f"{key}.{'batches' if ladder == 'batch' else 'batch'}", batch, minimum=1)
    order = part.get("order", 3)
    checks.integer(f"{key}.order", order, minimum=1)
    common = {
        "spline_order": order,
        "families": _names(
            f"{key}.families", part.get("families", ("kan", "mlp")), bench_families()
        ),
        "metrics": _names(f"{key}.metrics", part.get("metrics", METRICS), METRICS),
        "memory": part.get("memory", True),
        **settings,
    }
    return [check_case(Case(ladder, w, g, batch=b, **common), f"{key}.") for w, g, b in points]


def _list(key: str, part: Mapping[str, Any], name: str) -> list:
    values = part[name]
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{key}.{name} must be a non-empty list, got {values!r}")
    return list(values)
