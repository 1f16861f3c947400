"""Speed, memory and FLOPs of KAN families against parameter-matched MLPs (kanbench-bench).

A study is a list of cases, each one (shape, G, k, batch, dtype, device) and the families
measured on it: "kan" (kanbench's KAN, each layer in the form choose_form picks),
"kan_dense" / "kan_sparse" (every layer forced to one form), "mlp" (the MLP whose
trainable count is nearest the KAN's, as many linear layers as the KAN has layers, at
least 2), "pykan" (pykan 0.2.8's KAN as it comes, with its symbolic branch and saved
activations) and "pykan_speed" (the same after pykan's model.speed(), which turns both
off); the pykan families need the `reference` extra and are skipped without it.
"rbfkan", "chebykan" and "grouped" are the KAN variants at the case's shape, sized to the
KAN's trainable count (variant_size): G + k + 1 centres, degree G + k + 1 (both then
exactly the KAN's count), and one group per layer with the rank whose count is nearest
it; the case's MLP is then matched to all of them. The
cases come in ladders, from a preset in conf/bench/ (quick, full) or the command line:
N (shapes at a fixed G), G (grids at a fixed shape), batch (for memory).

Per case and family, in one process and side by side:

- time of a forward pass (autograd on), of a forward + backward pass, of an Adam step
  (zero_grad, forward, MSE loss, backward, step) and of one LBFGS iteration (max_iter 1,
  strong-Wolfe line search, as the trainer's LBFGS): every family's call is timed in turn
  in each of `rounds` rounds (order reversed every other round), a round's block repeats a
  call until it has run min_time / (rounds x families) seconds; the median per call over
  rounds is reported with its spread, (q75 - q25) / median. CPU: wall clock, with freed
  memory kept for reuse (kanbench.memory.reusing_malloc); CUDA: events around the block,
  then a synchronise.
- throughput: batch / forward+backward time, in samples per second;
- peak memory that one forward + backward adds: CPU the resident-set probe of
  kanbench.memory (run after every timing, as it pins the allocator's settings); CUDA
  torch.cuda.max_memory_allocated after reset_peak_memory_stats, less what was allocated
  before;
- FLOPs per sample in the three conventions of kanbench.flops, and the trainable count.

Each case is stored as <out>/bench/<bench_id>.json (kanbench.store: atomic, with schema
and provenance); a rerun skips the cases already stored. kanbench.analysis.load_bench
reads them back and kanbench-report draws them.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import torch
import yaml
from torch import nn

from kanbench import memory, store
from kanbench.flops import FLOP_CONVENTIONS, kan_flops, mlp_flops
from kanbench.models import KAN, MLP, bspline, count_trainable, kan_size, match_mlp_width
from kanbench.models.chebyshev import ChebyKAN
from kanbench.models.forms import choose_form
from kanbench.models.grouped import GroupedKAN
from kanbench.models.rbf import RBFKAN
from kanbench.models.size import grouped_kan_size

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda")
FAMILIES = (
    "kan",
    "kan_dense",
    "kan_sparse",
    "rbfkan",
    "chebykan",
    "grouped",
    "mlp",
    "pykan",
    "pykan_speed",
)
VARIANTS = ("rbfkan", "chebykan", "grouped")
KAN_FORMS = {"kan": "auto", "kan_dense": "dense", "kan_sparse": "sparse"}
METRICS = ("fwd", "fwd_bwd", "adam", "lbfgs")
LADDERS = ("n", "grid", "batch")
PRESETS = ("quick", "full")
DEFAULT_OUT = "runs"
_CASE_KEYS = {"grid", "order", "batch", "families", "metrics", "memory"}
_PRESET_KEYS = {"dtype", "device", "threads", "min_time", "rounds", "pykan_max_params", *LADDERS}
_LADDER_KEYS = {
    "n": {"shapes", *_CASE_KEYS},
    "grid": {"shape", "grids", *(_CASE_KEYS - {"grid"})},
    "batch": {"shape", "batches", *(_CASE_KEYS - {"batch"})},
}


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


# --------------------------------------------------------------------------- input


def parse_widths(text: str) -> tuple[int, ...]:
    """'16,64,1' -> (16, 64, 1), with a clear error for anything else."""
    try:
        widths = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise ValueError(
            f"shape must be comma-separated integers such as 16,64,1, got {text!r}"
        ) from None
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"shape needs at least 2 positive widths, got {text!r}")
    return widths


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _choices(name: str, values, allowed: Sequence[str]) -> tuple[str, ...]:
    values = (values,) if isinstance(values, str) else tuple(values)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ValueError(f"{name} must be among {list(allowed)}, got {list(values)}")
    return values


def check_case(case: Case) -> Case:
    """The case, or ValueError naming the first bad field and what is allowed."""
    for name in ("grid_size", "spline_order", "batch", "threads", "rounds", "pykan_max_params"):
        _positive_int(name, getattr(case, name))
    _choices("ladder", case.ladder, (*LADDERS, "custom"))
    _choices("families", case.families, FAMILIES)
    _choices("metrics", case.metrics, METRICS)
    _choices("dtype", case.dtype, tuple(DTYPES))
    _choices("device", case.device, DEVICES)
    if "mlp" not in case.families:
        raise ValueError(f"families must include mlp (the ratios' baseline), got {case.families}")
    if not (isinstance(case.min_time, int | float) and case.min_time > 0):
        raise ValueError(f"min_time must be a positive number of seconds, got {case.min_time!r}")
    if not isinstance(case.memory, bool):
        raise ValueError(f"memory must be true or false, got {case.memory!r}")
    parse_widths(case.shape)
    return case


def preset_path(name: str) -> Path:
    """conf/bench/<name>.yaml for a preset name, else name itself as a file."""
    if name in PRESETS:
        return Path(str(resources.files("kanbench.conf").joinpath("bench", f"{name}.yaml")))
    path = Path(name)
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        raise ValueError(f"preset must be one of {list(PRESETS)} or a YAML file, got {name!r}")
    return path


def _unknown(where: str, keys, allowed) -> None:
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise ValueError(f"{where}: unknown keys {extra}; allowed: {sorted(allowed)}")


def load_preset(name: str, ladders: Sequence[str] | None = None, **overrides) -> list[Case]:
    """The cases of a preset (conf/bench/quick.yaml, full.yaml or a file), in ladder order.

    ladders: the ladders to keep (default all in the file); overrides replace the
    preset's top-level settings (dtype, device, threads, min_time, rounds). Unknown keys
    and bad values raise ValueError naming them.
    """
    path = preset_path(name)
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise ValueError(f"preset {str(path)!r} must be a mapping, got {type(spec).__name__}")
    return preset_cases(spec, path.name, ladders, **overrides)


def preset_cases(
    spec: dict, where: str, ladders: Sequence[str] | None = None, **overrides
) -> list[Case]:
    """The cases of a preset given as a mapping (a preset file's content); `where` names it
    in errors. Arguments and errors as load_preset's."""
    _unknown(f"preset {where}", spec, _PRESET_KEYS)
    common = {k: spec[k] for k in _PRESET_KEYS - set(LADDERS) if k in spec}
    common.update({k: v for k, v in overrides.items() if v is not None})
    wanted = _choices("ladders", ladders, LADDERS) if ladders else LADDERS
    cases: list[Case] = []
    for ladder in wanted:
        part = spec.get(ladder)
        if part is None:
            continue
        _unknown(f"preset {where}, ladder {ladder}", part, _LADDER_KEYS[ladder])
        settings = {
            "spline_order": part.get("order", 3),
            "families": tuple(part.get("families", ("kan", "mlp"))),
            "metrics": tuple(part.get("metrics", METRICS)),
            "memory": part.get("memory", True),
            **common,
        }
        try:
            if ladder == "n":
                points = [(parse_widths(s), part["grid"], part["batch"]) for s in part["shapes"]]
            elif ladder == "grid":
                points = [(parse_widths(part["shape"]), g, part["batch"]) for g in part["grids"]]
            else:
                points = [(parse_widths(part["shape"]), part["grid"], b) for b in part["batches"]]
        except KeyError as error:
            raise ValueError(f"preset {where}: ladder {ladder} lacks the key {error}") from None
        cases += [check_case(Case(ladder, w, g, batch=b, **settings)) for w, g, b in points]
    if not cases:
        raise ValueError(f"preset {where} has none of the ladders {list(wanted)}")
    return cases


# --------------------------------------------------------------------------- models


def pykan_available() -> bool:
    """Whether pykan (the `reference` extra) can be imported."""
    return importlib.util.find_spec("kan") is not None


def mlp_of_size(target: int, widths: Sequence[int], dtype: torch.dtype, device="cpu") -> MLP:
    """The MLP from widths[0] to widths[-1] with max(2, len(widths) - 1) layers whose
    trainable count is nearest target."""
    depth = max(2, len(widths) - 1)
    match = match_mlp_width(target, widths[0], depth, widths[-1])
    return MLP(widths[0], depth, match.width, widths[-1], dtype=dtype, device=device)


def matched_mlp(
    widths: Sequence[int], grid_size: int, spline_order: int, dtype: torch.dtype, device="cpu"
) -> MLP:
    """The MLP whose count is nearest that of the KAN of these widths (mlp_of_size)."""
    return mlp_of_size(kan_size(widths, grid_size, spline_order), widths, dtype, device)


def build_model(family: str, case: Case) -> nn.Module:
    """The family's model for the case, seeded, on the case's device and dtype."""
    torch.manual_seed(0)
    dtype = DTYPES[case.dtype]
    if family == "mlp":
        return matched_mlp(case.widths, case.grid_size, case.spline_order, dtype, case.device)
    if family.startswith("pykan"):
        from kan import KAN as PyKAN

        model = PyKAN(
            width=list(case.widths),
            grid=case.grid_size,
            k=case.spline_order,
            seed=0,
            auto_save=False,
            device=case.device,
        )
        return (model.speed() if family == "pykan_speed" else model).to(dtype)
    if family in VARIANTS:
        return build_variant(family, case.widths, case.grid_size, case.spline_order, dtype)
    kan = KAN(
        case.widths,
        case.grid_size,
        case.spline_order,
        form=KAN_FORMS[family],
        dtype=dtype,
        device=case.device,
    )
    for layer in kan.layers:  # evaluate every pass in full, as with a new minibatch per step
        layer.input_cache = None
    return kan


def variant_size(family: str, widths: Sequence[int], grid_size: int, spline_order: int) -> int:
    """The variant's size knob whose trainable count equals (or is nearest) the KAN's at
    (widths, G, k): centres or degree G + k + 1; for the grouped KAN (one group per layer)
    the rank R >= 1 nearest."""
    if family in ("rbfkan", "chebykan"):
        return grid_size + spline_order + 1
    target = kan_size(widths, grid_size, spline_order)
    return min(
        range(1, grid_size + spline_order + 2),
        key=lambda r: abs(grouped_kan_size(widths, grid_size, spline_order, 1, r) - target),
    )


def build_variant(
    family: str, widths: Sequence[int], grid_size: int, spline_order: int, dtype: torch.dtype
) -> nn.Module:
    """A KAN variant of the KAN's trainable count at (widths, G, k) (see variant_size)."""
    size = variant_size(family, widths, grid_size, spline_order)
    if family == "rbfkan":
        return RBFKAN(widths, size, dtype=dtype)
    if family == "chebykan":
        return ChebyKAN(widths, size, dtype=dtype)
    return GroupedKAN(widths, grid_size, spline_order, groups=1, rank=size, dtype=dtype)


def describe(family: str, model: nn.Module, case: Case) -> dict:
    """Size, form and FLOPs per sample of a family's model (kanbench.flops)."""
    if family == "mlp":
        flops = mlp_flops(model.d_in, model.depth, model.width, model.d_out)
        return {
            "n_params": count_trainable(model),
            "form": f"{model.depth}x{model.width}",
            **{f"flops_{c}": flops for c in FLOP_CONVENTIONS},
        }
    widths, g, k = case.widths, case.grid_size, case.spline_order
    if family in VARIANTS:
        size = variant_size(family, widths, g, k)
        form = {"rbfkan": f"G={size}", "chebykan": f"D={size}"}.get(family, f"1 group R={size}")
        return {
            "n_params": count_trainable(model),
            "form": form,
            **{f"flops_{c}": None for c in FLOP_CONVENTIONS},
        }
    if family == "kan":
        forms = [choose_form(g, k, a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        form = ",".join(forms)
    else:
        form = KAN_FORMS.get(family, family)
    return {
        "n_params": count_trainable(model),
        "form": form,
        **{f"flops_{c}": kan_flops(widths, g, k, c) for c in FLOP_CONVENTIONS},
    }


# --------------------------------------------------------------------------- timing


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.mean((model(x) - y) ** 2)


def workloads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable]:
    """The callables timed for each metric (see the module docstring)."""
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    lbfgs = torch.optim.LBFGS(
        model.parameters(), lr=1e-3, max_iter=1, history_size=10, line_search_fn="strong_wolfe"
    )

    def fwd_bwd() -> None:
        model.zero_grad(set_to_none=True)
        _loss(model, x, y).backward()

    def adam_step() -> None:
        adam.zero_grad(set_to_none=True)
        _loss(model, x, y).backward()
        adam.step()

    def closure() -> torch.Tensor:
        lbfgs.zero_grad(set_to_none=True)
        loss = _loss(model, x, y)
        loss.backward()
        return loss

    return {
        "fwd": lambda: model(x),
        "fwd_bwd": fwd_bwd,
        "adam": adam_step,
        "lbfgs": lambda: lbfgs.step(closure),
    }


def _clock(device: str) -> Callable[[Callable, int], float]:
    """Seconds that `repeats` calls take: wall clock on CPU, CUDA events on a GPU."""
    if device == "cuda":

        def cuda_clock(work: Callable, repeats: int) -> float:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            torch.cuda.synchronize()
            start.record()
            for _ in range(repeats):
                work()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return cuda_clock

    def cpu_clock(work: Callable, repeats: int) -> float:
        begin = time.perf_counter()
        for _ in range(repeats):
            work()
        return time.perf_counter() - begin

    return cpu_clock


def time_side_by_side(
    works: dict[str, Callable], device: str, min_time: float, rounds: int
) -> dict[str, tuple[float, float]]:
    """(median seconds per call, spread) of each callable, timed in turn in every round.

    spread = (q75 - q25) / median over the rounds: the noise of the measurement. Freed
    memory is kept for reuse meanwhile (memory.reusing_malloc).
    """
    with memory.reusing_malloc():
        samples = _interleaved_samples(works, _clock(device), min_time, rounds)
    result = {}
    for name, values in samples.items():
        median = statistics.median(values)
        q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (median,) * 3
        result[name] = (median, (q3 - q1) / median if median else math.nan)
    return result


def _interleaved_samples(
    works: dict[str, Callable], clock: Callable, min_time: float, rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each callable in each round, the order reversed every other one."""
    repeats = {}
    for name, work in works.items():
        work()  # warm-up (allocations, lazy initialisation)
        once = clock(work, 1)
        repeats[name] = max(1, math.ceil(min_time / (rounds * len(works)) / max(once, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in works}
    names = list(works)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            samples[name].append(clock(works[name], repeats[name]) / repeats[name])
    return samples


def time_against_matched_mlp(
    model: nn.Module,
    batch: int,
    min_time: float = 0.5,
    rounds: int = 5,
    seed: int = 0,
) -> dict:
    """Forward + backward of any model against the MLP matched to its trainable count.

    The MLP has as many linear layers as the model has layers (at least 2) and the width
    whose count is nearest; both run side by side (time_side_by_side) on one batch of
    uniform inputs in the model's dtype and device. Returns the median milliseconds of
    each, their spreads, the MLP's width and size, and ratio = model / MLP.
    """
    parameter = next(model.parameters())
    widths = list(model.widths)
    n = count_trainable(model)
    torch.manual_seed(seed)
    mlp = mlp_of_size(n, widths, parameter.dtype, parameter.device)
    x = torch.rand(batch, widths[0], dtype=parameter.dtype, device=parameter.device) * 2 - 1
    y = torch.rand(batch, widths[-1], dtype=parameter.dtype, device=parameter.device)
    works = {name: workloads(m, x, y)["fwd_bwd"] for name, m in (("model", model), ("mlp", mlp))}
    timed = time_side_by_side(works, parameter.device.type, min_time, rounds)
    return {
        "n_params": n,
        "mlp_width": mlp.width,
        "mlp_n_params": count_trainable(mlp),
        "fwd_bwd_ms": timed["model"][0] * 1e3,
        "mlp_fwd_bwd_ms": timed["mlp"][0] * 1e3,
        "spread": max(timed["model"][1], timed["mlp"][1]),
        "ratio": timed["model"][0] / timed["mlp"][0],
    }


# --------------------------------------------------------------------------- memory


def peak_memory_mb(work: Callable[[], object], device: str) -> float | None:
    """Peak MiB that one call of work adds (module docstring), or None where unknown."""
    if device == "cuda":
        work()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        work()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20

    def fresh() -> None:  # the KAN's reusable scratch buffers count in its peak
        bspline.release_scratch()
        work()

    peak = memory.peak_bytes(fresh)
    return None if peak is None else peak / 2**20


# --------------------------------------------------------------------------- study


def _skip_reason(family: str, case: Case) -> str | None:
    if not family.startswith("pykan"):
        return None
    if not pykan_available():
        return "pykan not installed (pip install -e '.[reference]')"
    n = kan_size(case.widths, case.grid_size, case.spline_order)
    if n > case.pykan_max_params:
        return f"N = {n} > pykan_max_params = {case.pykan_max_params}"
    return None


def _inputs(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    dtype = DTYPES[case.dtype]
    x = torch.rand(case.batch, case.widths[0], generator=generator, dtype=dtype) * 2 - 1
    y = torch.zeros(case.batch, case.widths[-1], dtype=dtype)
    return x.to(case.device), y.to(case.device)


def time_case(case: Case) -> dict[str, dict]:
    """Sizes, FLOPs and times of every family of the case: family -> row."""
    torch.set_num_threads(case.threads)
    x, y = _inputs(case)
    rows: dict[str, dict] = {}
    works: dict[str, dict[str, Callable]] = {}
    for family in case.families:
        reason = _skip_reason(family, case)
        if reason:
            log.info("%s: %s skipped: %s", case.bench_id, family, reason)
            rows[family] = {"family": family, "status": "skipped", "note": reason}
            continue
        model = build_model(family, case)
        rows[family] = {
            "family": family,
            "status": "ok",
            "note": "",
            **describe(family, model, case),
        }
        works[family] = workloads(model, x, y)
    for metric in case.metrics:
        timed = time_side_by_side(
            {f: w[metric] for f, w in works.items()}, case.device, case.min_time, case.rounds
        )
        for family, (seconds, spread) in timed.items():
            rows[family][f"{metric}_ms"] = seconds * 1e3
            rows[family][f"{metric}_spread"] = spread
    for family in works:
        if "fwd_bwd_ms" in rows[family]:
            rows[family]["samples_per_s"] = case.batch / (rows[family]["fwd_bwd_ms"] / 1e3)
    return rows


def probe_case(case: Case, rows: dict[str, dict]) -> None:
    """Add each measured family's peak memory of one forward + backward to its row."""
    torch.set_num_threads(case.threads)
    x, y = _inputs(case)
    for family, row in rows.items():
        if row["status"] == "ok":
            work = workloads(build_model(family, case), x, y)["fwd_bwd"]
            row["peak_mb"] = peak_memory_mb(work, case.device)


def record(case: Case, rows: dict[str, dict], started: str) -> dict:
    """The stored form of a measured case (kanbench.store's layout)."""
    device_name = torch.cuda.get_device_name() if case.device == "cuda" else None
    return {
        "schema": store.SCHEMA_VERSION,
        "kind": "bench",
        "bench_id": case.bench_id,
        "status": "complete",
        "case": {**asdict(case), "shape": case.shape},
        "provenance": {**store.provenance(), "device_name": device_name},
        "started": started,
        "finished": _now(),
        "rows": list(rows.values()),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_study(cases: Sequence[Case], out_dir: str | Path, resume: bool = True) -> list[dict]:
    """Measure every case not already stored under out_dir; returns every case's record.

    Cases on device cuda are skipped, with a warning, where torch sees no CUDA device.

    All timings run before any memory probe (the probe pins glibc's allocator settings,
    which changes later timings); each case's record is written once it is complete.
    """
    if not torch.cuda.is_available() and any(c.device == "cuda" for c in cases):
        log.warning("device cuda: skipped, torch sees no CUDA device")
        cases = [c for c in cases if c.device != "cuda"]
    records: dict[str, dict] = {}
    pending = []
    for case in cases:
        path = store.bench_path(out_dir, case.bench_id)
        stored = store.read_run(path) if resume else None
        if store.is_finished(stored) and stored.get("kind") == "bench":
            records[case.bench_id] = stored
        else:
            pending.append(case)
    if not pending:
        return [records[c.bench_id] for c in cases]
    started = _now()
    timed = []
    for index, case in enumerate(pending, 1):
        log.info("timing %d/%d: %s", index, len(pending), case.bench_id)
        timed.append(time_case(case))
    for case, rows in zip(pending, timed, strict=True):
        if case.memory:
            probe_case(case, rows)
        records[case.bench_id] = record(case, rows, started)
        store.write_run(store.bench_path(out_dir, case.bench_id), records[case.bench_id])
    return [records[c.bench_id] for c in cases]


# --------------------------------------------------------------------------- output


def _cell(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def format_table(records: Sequence[dict]) -> str:
    """One line per measured family of every case, with its ratio to the case's MLP."""
    header = (
        f"{'ladder':>6} {'shape':>14} {'G':>5} {'batch':>6} {'family':>10} {'form':>14} "
        f"{'N':>9} {'fwd ms':>8} {'f+b ms':>8} {'adam ms':>8} {'lbfgs ms':>8} "
        f"{'spread':>6} {'f+b/MLP':>7} {'peak MB':>8} {'mem/MLP':>7}"
    )
    lines = [header]
    for rec in records:
        case = rec["case"]
        base = next(r for r in rec["rows"] if r["family"] == "mlp")
        for row in rec["rows"]:
            if row["status"] != "ok":
                lines.append(
                    f"{case['ladder']:>6} {case['shape']:>14} {case['grid_size']:>5} "
                    f"{case['batch']:>6} {row['family']:>10}  skipped: {row['note']}"
                )
                continue
            ratio = _ratio(row, base, "fwd_bwd_ms")
            mem_ratio = _ratio(row, base, "peak_mb")
            lines.append(
                f"{case['ladder']:>6} {case['shape']:>14} {case['grid_size']:>5} "
                f"{case['batch']:>6} {row['family']:>10} {row['form'][:14]:>14} "
                f"{row['n_params']:>9} {_cell(row.get('fwd_ms')):>8} "
                f"{_cell(row.get('fwd_bwd_ms')):>8} {_cell(row.get('adam_ms')):>8} "
                f"{_cell(row.get('lbfgs_ms')):>8} {_cell(row.get('fwd_bwd_spread'), 2):>6} "
                f"{_cell(ratio):>7} {_cell(row.get('peak_mb')):>8} {_cell(mem_ratio):>7}"
            )
    return "\n".join(lines)


def _ratio(row: dict, base: dict, key: str) -> float | None:
    value, reference = row.get(key), base.get(key)
    if value is None or not reference:
        return None
    return value / reference


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanbench-bench",
        description="Time, memory and FLOPs of KAN families against parameter-matched MLPs; "
        "every case is stored under OUT/bench/ for kanbench-report.",
    )
    parser.add_argument(
        "--preset",
        default=None,
        help=f"{' or '.join(PRESETS)} (conf/bench/<name>.yaml) or a YAML file; "
        "default: quick unless --shape is given",
    )
    parser.add_argument("--ladder", nargs="+", help=f"ladders of the preset to run {LADDERS}")
    parser.add_argument(
        "--shape", action="append", help="an ad-hoc case: KAN widths such as 16,64,1 (repeatable)"
    )
    parser.add_argument("--batch", type=int, default=1024, help="batch of --shape cases (1024)")
    parser.add_argument("--grid", type=int, default=5, help="G of --shape cases (5)")
    parser.add_argument("--order", type=int, default=3, help="k of --shape cases (3)")
    parser.add_argument("--families", nargs="+", help=f"families of --shape cases {FAMILIES}")
    parser.add_argument("--metrics", nargs="+", help=f"metrics of --shape cases {METRICS}")
    parser.add_argument("--dtype", default=None, help=f"{list(DTYPES)} (preset's, or float32)")
    parser.add_argument("--device", default=None, help=f"{list(DEVICES)} (preset's, or cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (preset's, 1)")
    parser.add_argument("--min-time", type=float, default=None, help="seconds per metric")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per metric")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"store folder ({DEFAULT_OUT})")
    parser.add_argument("--fresh", action="store_true", help="remeasure cases already stored")
    return parser


def cases_from_args(args: argparse.Namespace) -> list[Case]:
    """The cases the command line asks for (ValueError naming a bad option)."""
    overrides = {
        "dtype": args.dtype,
        "device": args.device,
        "threads": args.threads,
        "min_time": args.min_time,
        "rounds": args.rounds,
    }
    if not args.shape:
        return load_preset(args.preset or "quick", args.ladder, **overrides)
    if args.preset or args.ladder:
        raise ValueError("--shape makes ad-hoc cases: give it without --preset and --ladder")
    base = Case("custom", (1, 1), args.grid, args.order, args.batch)
    settings = {k: v for k, v in overrides.items() if v is not None}
    if args.families:
        settings["families"] = tuple(args.families)
    if args.metrics:
        settings["metrics"] = tuple(args.metrics)
    return [check_case(replace(base, widths=parse_widths(s), **settings)) for s in args.shape]


def main(argv: Sequence[str] | None = None) -> int:
    """The kanbench-bench command; returns the exit status (0, or 2 for bad input)."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="kanbench-bench: %(message)s")
    try:
        store.check_output_folders("--out", args.out, ("bench",))
        cases = cases_from_args(args)
        records = run_study(cases, args.out, resume=not args.fresh)
    except ValueError as error:
        print(f"kanbench-bench: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a write that failed: full disk, lost mount, permissions
        print(f"kanbench-bench: error: {store.write_failure(error)}", file=sys.stderr)
        return 1
    if not records:
        return 0
    first = cases[0]
    print(
        f"{len(records)} cases, {first.dtype}, {first.threads} thread(s), device {first.device}, "
        f"torch {torch.__version__}; times: median per call over {first.rounds} interleaved "
        f"rounds, spread = interquartile range / median; stored under {args.out}/bench/"
    )
    print(format_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
