"""Regression of a study's accuracy and speed against a committed baseline (kanbench-regress).

A *suite* (conf/regress/<name>.yaml, or a YAML file of the user's) names:

- `experiment`: a multirun study of conf/experiment/ (its jobs are expanded and checked by
  kanbench.sweep.expand_sweep and trained by kanbench.run.run, `workers` at a time),
  with `overrides` (Hydra overrides) added to every job; null for none;
- `speed`: a kanbench-bench preset given inline (kanbench.bench.preset_cases), measured
  after the study in a fresh process (one process for every family); null for none;
- `baseline`: the folder of the committed baseline (baseline.json);
- `tolerances`: how far each kind of metric may move before it counts as a regression.

The metrics (`collect_metrics`), each keyed by (kind, task, family, series, seed, point):

- test_rmse: the test RMSE of every stage of every run; the series is the run's KAN shape,
  else "depth d", and the point "stage s, G=g" (or "stage s, N=n" without a grid). Runs
  that would share a key are told apart by the config values in which they differ.
- alpha: the exponent of l = A x^-alpha fitted to each run's usable stages, in the run's own
  variable: edges x G for a staged run (the variable of the theory's k + 1), the trainable
  count N for an MLP (kanbench.analysis.fit_series with its default window); left out when
  the run has too few points to fit or one power law does not describe its window.
- speed_ratio: each family's forward+backward time over the case's parameter-matched MLP's,
  both timed side by side in one process (kanbench.bench.time_case), per probe case.

The comparison (`compare`), per metric, with b the baseline and x the value now:

- test_rmse passes when x <= rmse_factor * b;
- alpha passes when x >= b - alpha_drop (a rise passes);
- speed_ratio passes when x <= speed_factor * b;
- a value now that is not finite (a diverged or failed stage) fails;
- a baseline metric that is absent now is "missing" and fails (a run or stage that
  vanished is a regression); a metric absent from the baseline is "new": shown, not a
  failure, and `--update` adds it.

`kanbench-regress` exits 0 when every row passes, 1 when any fails, 2 on bad input (before
any training). `--update` writes the metrics of this run as the new baseline instead.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import math
import multiprocessing
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from kanbench import analysis, bench, store

log = logging.getLogger(__name__)

KINDS = ("test_rmse", "alpha", "speed_ratio")
BASELINE_FILE = "baseline.json"
BASELINE_KIND = "regress-baseline"
DEFAULT_SUITE = "ci"
DEFAULT_OUT = "runs/regress"
PASS, FAIL, MISSING, NEW = "pass", "FAIL", "missing", "new"
_SUITE_KEYS = {"experiment", "overrides", "workers", "baseline", "speed", "tolerances"}


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metric:
    """One number of a study and where it comes from."""

    kind: str  # one of KINDS
    task: str
    family: str
    series: str
    seed: int | None
    point: str
    value: float
    note: str = ""

    @property
    def key(self) -> tuple:
        return (self.kind, self.task, self.family, self.series, self.seed, self.point)

    @property
    def label(self) -> str:
        """The key in words: 'exp_sin_y2 kan [2,1,1] seed 0 stage 2, G=10'."""
        seed = "" if self.seed is None else f" seed {self.seed}"
        return f"{self.task} {self.family} {self.series}{seed} {self.point}".strip()


@dataclass(frozen=True)
class Tolerances:
    """How far a metric may move from its baseline (module docstring)."""

    rmse_factor: float = 1.5
    alpha_drop: float = 0.3
    speed_factor: float = 1.5

    def __post_init__(self) -> None:
        for name in ("rmse_factor", "speed_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
                raise ValueError(f"tolerances.{name} must be a number >= 1, got {value!r}")
        value = self.alpha_drop
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"tolerances.alpha_drop must be a number >= 0, got {value!r}")

    def allows(self, kind: str, baseline: float, now: float) -> bool:
        """Whether `now` is within tolerance of `baseline` for a metric of this kind."""
        if not math.isfinite(now):
            return False
        if kind == "alpha":
            return now >= baseline - self.alpha_drop
        factor = self.rmse_factor if kind == "test_rmse" else self.speed_factor
        return now <= factor * baseline

    def describe(self, kind: str) -> str:
        if kind == "alpha":
            return f">= base - {self.alpha_drop:g}"
        factor = self.rmse_factor if kind == "test_rmse" else self.speed_factor
        return f"<= {factor:g} x base"


def _config_items(config: dict, prefix: str = "") -> dict[str, str]:
    """A nested config flattened to {'model.shape': '[2, 1, 1]', ...}."""
    items = {}
    for key, value in config.items():
        if isinstance(value, dict):
            items.update(_config_items(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = json.dumps(value)
    return items


def _series_labels(stages: pd.DataFrame) -> dict[str, str]:
    """run_id -> series label: the KAN shape or 'depth d', plus what tells colliding runs apart."""
    first = stages.groupby("run_id", sort=True).first()
    labels = {}
    for run_id, row in first.iterrows():
        shape = row.get("shape")
        if isinstance(shape, str) and shape not in ("", "null"):
            labels[run_id] = shape  # compact JSON in the frame: "[2,1,1]"
        elif pd.notna(row.get("depth")):
            labels[run_id] = f"depth {row['depth']}"
        else:
            labels[run_id] = "-"
    groups: dict[tuple, list[str]] = {}
    for run_id, row in first.iterrows():
        groups.setdefault((row["task"], row["family"], labels[run_id], row["seed"]), []).append(
            run_id
        )
    for run_ids in groups.values():
        if len(run_ids) < 2:
            continue
        configs = {r: _config_items(json.loads(first.loc[r, "config"] or "{}")) for r in run_ids}
        keys = sorted(set().union(*configs.values()))
        differing = [k for k in keys if len({configs[r].get(k) for r in run_ids}) > 1]
        for run_id in run_ids:
            extra = ", ".join(f"{k}={configs[run_id].get(k)}" for k in differing)
            labels[run_id] = f"{labels[run_id]} ({extra})"
    return labels


def _seed(value) -> int | None:
    return None if pd.isna(value) else int(value)


def stage_metrics(stages: pd.DataFrame) -> list[Metric]:
    """test_rmse of every stage and alpha of every run of a stage frame (module docstring)."""
    labels = _series_labels(stages)
    metrics = []
    for _, row in stages.iterrows():
        size = f"G={row['grid_size']}" if pd.notna(row["grid_size"]) else f"N={row['n_params']}"
        complete = row["status"] == "complete"
        metrics.append(
            Metric(
                "test_rmse",
                row["task"],
                row["family"],
                labels[row["run_id"]],
                _seed(row["seed"]),
                f"stage {row['stage']}, {size}",
                float(row["test_rmse"]) if complete else math.nan,
                f"N={row['n_params']}" if complete else f"stage {row['status']}",
            )
        )
    usable = stages[analysis.usable(stages)].copy()
    usable["N"] = analysis.param_count(usable)
    for run_id, members in usable.groupby("run_id", sort=True):
        first = members.iloc[0]
        spec = analysis.SeriesSpec(
            first["task"], first["family"], labels[run_id], "all", True, members
        )
        fit = analysis.fit_series(spec)
        if not fit.fitted:
            log.info("%s %s: no alpha (%s)", first["task"], labels[run_id], fit.note)
            continue
        alpha, _, _ = fit.primary_alpha()
        metrics.append(
            Metric(
                "alpha",
                first["task"],
                first["family"],
                labels[run_id],
                _seed(first["seed"]),
                f"power law in {fit.variable}",
                float(alpha),
                f"N={fit.n_lo:g}..{fit.n_hi:g}, {fit.n_window} points",
            )
        )
    return metrics


def speed_metrics(cases: pd.DataFrame) -> list[Metric]:
    """speed_ratio of every measured non-MLP family of a bench frame (analysis.load_bench)."""
    metrics = []
    measured = cases[(cases["family"] != "mlp") & (cases["status"] == "ok")]
    for _, row in measured.iterrows():
        ratio = float(row["fwd_bwd_ms_ratio"])
        metrics.append(
            Metric(
                "speed_ratio",
                "-",
                f"{row['family']}/mlp",
                f"[{row['shape']}]",
                None,
                f"G={row['grid_size']} batch={row['batch']} {row['dtype']} fwd+bwd",
                ratio,
                f"{row['fwd_bwd_ms']:.3g} ms over {row['fwd_bwd_ms'] / ratio:.3g} ms",
            )
        )
    return metrics


def collect_metrics(folder: str | os.PathLike) -> list[Metric]:
    """Every metric of the run records (records/) and bench cases (bench/) under folder."""
    folder = Path(folder)
    has_runs = any(folder.rglob("records/*.json"))
    has_bench = any(folder.rglob("bench/*.json"))
    if not (has_runs or has_bench):
        raise ValueError(f"folder {str(folder)!r} holds no run records and no bench cases")
    metrics = stage_metrics(analysis.load_records(folder)) if has_runs else []
    if has_bench:
        metrics += speed_metrics(analysis.load_bench(folder))
    # by kind, then task, family, series and seed; stages stay in their order
    return sorted(metrics, key=lambda m: (KINDS.index(m.kind), *map(str, m.key[1:5])))


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Row:
    """One line of the comparison table."""

    kind: str
    metric: str
    baseline: float
    now: float
    tolerance: str
    status: str  # PASS, FAIL, MISSING or NEW
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in (FAIL, MISSING)


def compare(
    baseline: Sequence[Metric], current: Sequence[Metric], tolerances: Tolerances
) -> list[Row]:
    """One row per metric of either side, baseline order first, then the new ones."""
    now = {m.key: m for m in current}
    base = {m.key: m for m in baseline}
    rows = []
    for key, b in base.items():
        tolerance = tolerances.describe(b.kind)
        m = now.get(key)
        if m is None:
            rows.append(Row(b.kind, b.label, b.value, math.nan, tolerance, MISSING, "absent now"))
            continue
        ok = tolerances.allows(b.kind, b.value, m.value)
        rows.append(Row(b.kind, b.label, b.value, m.value, tolerance, PASS if ok else FAIL, m.note))
    for key, m in now.items():
        if key not in base:
            tolerance = tolerances.describe(m.kind)
            rows.append(Row(m.kind, m.label, math.nan, m.value, tolerance, NEW, "not in baseline"))
    return rows


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _change(row: Row) -> str:
    if not (math.isfinite(row.baseline) and math.isfinite(row.now)):
        return "-"
    if row.kind == "alpha":
        return f"{row.now - row.baseline:+.3f}"
    return f"x{row.now / row.baseline:.3f}" if row.baseline else "-"


def format_rows(rows: Sequence[Row]) -> str:
    """The comparison as an aligned text table: status, kind, metric, values, tolerance."""
    header = ("status", "kind", "metric", "baseline", "now", "change", "tolerance", "note")
    cells = [
        (r.status, r.kind, r.metric, _number(r.baseline), _number(r.now), _change(r), r.tolerance,
         r.note)
        for r in rows
    ]  # fmt: skip
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *cells]]  # fmt: skip
    return "\n".join(lines)


def rows_frame(rows: Sequence[Row]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows], columns=[f.name for f in fields(Row)])


# --------------------------------------------------------------------------- suite


@dataclass(frozen=True)
class Suite:
    """A regression suite, as its YAML file says (module docstring)."""

    name: str
    experiment: str | None
    overrides: tuple[str, ...]
    workers: int
    baseline: str
    speed: dict | None
    tolerances: Tolerances


def suite_names() -> list[str]:
    folder = Path(str(resources.files("kanbench.conf").joinpath("regress")))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_suite(name: str) -> Suite:
    """conf/regress/<name>.yaml, or the YAML file `name`, checked (ValueError naming a key)."""
    path = Path(str(resources.files("kanbench.conf").joinpath("regress", f"{name}.yaml")))
    if name not in suite_names():
        path = Path(name)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise ValueError(f"suite must be one of {suite_names()} or a YAML file, got {name!r}")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise ValueError(f"suite {str(path)!r} must be a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _SUITE_KEYS)
    if unknown:
        raise ValueError(f"suite {path}: unknown keys {unknown}; allowed: {sorted(_SUITE_KEYS)}")
    experiment, speed = spec.get("experiment"), spec.get("speed")
    if experiment is None and speed is None:
        raise ValueError(f"suite {path} needs an experiment, a speed probe, or both")
    if experiment is not None and not isinstance(experiment, str):
        raise ValueError(f"suite {path}: experiment must be a name, got {experiment!r}")
    if speed is not None and not isinstance(speed, dict):
        raise ValueError(f"suite {path}: speed must be a bench preset mapping, got {speed!r}")
    overrides = spec.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ValueError(f"suite {path}: overrides must be a list of strings, got {overrides!r}")
    workers = spec.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"suite {path}: workers must be an integer >= 1, got {workers!r}")
    tolerances = spec.get("tolerances") or {}
    allowed = {f.name for f in fields(Tolerances)}
    if not isinstance(tolerances, dict) or set(tolerances) - allowed:
        raise ValueError(f"suite {path}: tolerances must be a mapping of {sorted(allowed)}")
    return Suite(
        name=path.stem,
        experiment=experiment,
        overrides=tuple(overrides),
        workers=workers,
        baseline=str(spec.get("baseline", "results/baseline")),
        speed=speed,
        tolerances=Tolerances(**tolerances),
    )


@dataclass(frozen=True)
class Plan:
    """What a regression run will do: the study's jobs and the probe's cases, all checked."""

    suite: Suite
    folder: Path
    jobs: list[tuple[list[str], dict]]
    cases: list[bench.Case]


def plan(suite: Suite, folder: str | os.PathLike, overrides: Sequence[str] = ()) -> Plan:
    """Expand and check every job and probe case; ValueError (one line) before any work."""
    from kanbench.cli import check_group_choices
    from kanbench.config import register_library_tasks
    from kanbench.sweep import expand_sweep

    folder = Path(folder)
    jobs = []
    if suite.experiment is not None:
        register_library_tasks()
        argv = [f"experiment={suite.experiment}", *suite.overrides, *overrides]
        problem = check_group_choices(argv)
        if problem:
            raise ValueError(problem)
        # out_dir is set after expansion: a path is not a Hydra override value (a comma in
        # it would make a sweep), and it is not part of a run's identity
        jobs = [(job, {**cfg, "out_dir": str(folder)}) for job, cfg in expand_sweep(argv)]
    elif overrides:
        raise ValueError(f"overrides {list(overrides)} need a suite with an experiment")
    cases = bench.preset_cases(suite.speed, f"{suite.name} speed") if suite.speed else []
    return Plan(suite, folder, jobs, cases)


def _run_job(cfg: dict) -> str:
    from kanbench.run import run

    return run(cfg).status


def execute(plan: Plan) -> None:
    """Train the plan's jobs (`workers` at a time), then time its probe cases in a fresh
    process, all into the plan's folder."""
    started = time.perf_counter()
    total, workers = len(plan.jobs), min(plan.suite.workers, max(len(plan.jobs), 1))

    def done(index: int, job: list[str], status: str) -> None:
        what = " ".join(a for a in job if not a.startswith("experiment="))
        elapsed = time.perf_counter() - started
        log.info("job %d/%d [%s]: %s, %.1f s elapsed", index, total, what, status, elapsed)

    if workers == 1:
        for index, (job, cfg) in enumerate(plan.jobs, 1):
            done(index, job, _safe(_run_job, cfg))
    elif plan.jobs:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_run_job, cfg): job for job, cfg in plan.jobs}
            for index, future in enumerate(concurrent.futures.as_completed(futures), 1):
                done(index, futures[future], _safe(future.result))
    if plan.jobs:
        log.info("study: %d jobs in %.1f s", total, time.perf_counter() - started)
    if plan.cases:
        # in a fresh process: timings in a process that trained before moved by up to 1.4x
        probe_started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            pool.submit(bench.run_study, plan.cases, plan.folder, False).result()
        log.info(
            "speed probe: %d cases in %.1f s", len(plan.cases), time.perf_counter() - probe_started
        )


def _safe(call, *args) -> str:
    """A job's status; a crashed job is logged and its metrics end up missing."""
    try:
        return call(*args)
    except Exception as error:  # the comparison reports the job's metrics as missing
        log.error("job failed: %s: %s", type(error).__name__, error)
        return "failed"


# --------------------------------------------------------------------------- baseline


def machine() -> dict:
    """The CPU model and core count, beside store.provenance()'s versions and host."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform()}


def write_baseline(
    folder: str | os.PathLike, suite: Suite, metrics: Sequence[Metric], command: str
) -> Path:
    """Write folder/baseline.json; ValueError (nothing written) if a value is not finite."""
    bad = [m.label for m in metrics if not math.isfinite(m.value)]
    if bad:
        raise ValueError(f"baseline not written: {len(bad)} value(s) not finite, first {bad[0]!r}")
    if not metrics:
        raise ValueError("baseline not written: the run produced no metric")
    content = {
        "schema": store.SCHEMA_VERSION,
        "kind": BASELINE_KIND,
        "suite": suite.name,
        "experiment": suite.experiment,
        "overrides": list(suite.overrides),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "provenance": {**store.provenance(), **machine()},
        "tolerances_at_creation": asdict(suite.tolerances),
        "metrics": [asdict(m) for m in metrics],
    }
    path = Path(folder) / BASELINE_FILE
    store.write_run(path, content)
    return path


def read_baseline(folder: str | os.PathLike) -> list[Metric]:
    """The metrics of folder/baseline.json (ValueError naming the problem)."""
    path = Path(folder) / BASELINE_FILE
    if not path.is_file():
        raise ValueError(
            f"baseline {str(path)!r} does not exist; make one with kanbench-regress --update"
        )
    try:
        content = json.loads(path.read_text())
        if content.get("kind") != BASELINE_KIND or content.get("schema") != store.SCHEMA_VERSION:
            raise ValueError("not a kanbench-regress baseline of schema 1")
        metrics = [Metric(**m) for m in content["metrics"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"baseline {str(path)!r} cannot be read: {error}") from None
    for metric in metrics:
        value = metric.value
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError(
                f"baseline {str(path)!r} cannot be read: metric {metric.label!r} "
                f"has value {value!r}, not a finite number"
            )
    return metrics


# --------------------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanbench-regress",
        description="Run a fixed study and speed probe, compare them with a committed "
        "baseline, exit 1 on a regression beyond the suite's tolerances.",
    )
    parser.add_argument(
        "--suite",
        default=DEFAULT_SUITE,
        help=f"conf/regress/<name>.yaml or a YAML file (default {DEFAULT_SUITE})",
    )
    parser.add_argument("--baseline", help="baseline folder (default: the suite's `baseline`)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"runs go to OUT/<time>/ (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--from",
        dest="source",
        help="compare the records and bench cases already under this folder (no training)",
    )
    parser.add_argument(
        "--update", action="store_true", help="write this run's metrics as the new baseline"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every job of the study")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The kanbench-regress command: 0 pass, 1 regression, 2 bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="kanbench-regress: %(message)s")
    started = time.perf_counter()
    try:
        if args.source and args.overrides:
            raise ValueError("--from compares stored runs: give it without overrides")
        suite = load_suite(args.suite)
        baseline_dir = Path(args.baseline or suite.baseline)
        baseline = read_baseline(baseline_dir) if not args.update else None
        if args.source:
            folder = Path(args.source)
            current = collect_metrics(folder)
        else:
            store.check_output_folders("--out", args.out)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            work = plan(suite, Path(args.out) / stamp, args.overrides)
            execute(work)
            folder = work.folder
            current = collect_metrics(folder)
        if args.update:
            command = shlex.join(["kanbench-regress", *argv])
            path = write_baseline(baseline_dir, suite, current, command)
    except ValueError as error:
        print(f"kanbench-regress: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a write that failed: full disk, lost mount, permissions
        print(f"kanbench-regress: error: {store.write_failure(error)}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    if args.update:
        print(f"baseline written: {path} ({len(current)} metrics from {folder}, {seconds:.0f} s)")
        return 0
    rows = compare(baseline, current, suite.tolerances)
    rows_frame(rows).to_csv(folder / "compare.csv", index=False)
    print(format_rows(rows))
    failed = [r for r in rows if r.failed]
    counts = {s: sum(r.status == s for r in rows) for s in (PASS, FAIL, MISSING, NEW)}
    print(
        f"suite {suite.name}: {counts[PASS]} pass, {counts[FAIL]} fail, {counts[MISSING]} "
        f"missing, {counts[NEW]} new ({seconds:.0f} s; baseline {baseline_dir}; "
        f"this run {folder})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
