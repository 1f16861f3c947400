"""kanbench-bench: the Hydra app over conf/bench.yaml that measures a bench study.

    kanbench-bench                               the quick preset (conf/bench/quick.yaml)
    kanbench-bench bench=full ladders=[grid]     one ladder of another preset
    kanbench-bench bench.threads=2 bench.device=cuda
    kanbench-bench -m bench.dtype=float32,float64

The bench group picks the preset (its cases); every job's config is checked before Hydra
starts (kanbench.cli.refuse_bad_command), then run_bench measures it and prints one line
per family of every case, with its ratios to the case's MLP.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Mapping, Sequence

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from kanbench import checks, store
from kanbench.bench.cases import Case, preset_cases
from kanbench.bench.study import run_study
from kanbench.cli import refuse_bad_command, run_job
from kanbench.sweep import compose_jobs

log = logging.getLogger(__name__)

PROG = "kanbench-bench"
CONFIG = "bench"  # conf/bench.yaml
GROUPS = ("bench",)
KEYS = ("bench", "ladders", "out_dir", "fresh")


def bench_cases(config: Mapping) -> list[Case]:
    """The cases a composed kanbench-bench config asks for, with its output folder checked;
    ValueError naming the first bad key."""
    config = {k: v for k, v in config.items() if k != "hydra"}
    checks.no_unknown_keys("config", config, set(KEYS))
    if not isinstance(config.get("fresh"), bool):
        raise ValueError(f"fresh must be true or false, got {config.get('fresh')!r}")
    store.check_output_folders("out_dir", str(config["out_dir"]), ("bench", "logs"))
    return preset_cases(config["bench"], "bench", config.get("ladders"))


def run_bench(config: Mapping) -> list[dict]:
    """Measure the cases of a composed config (bench_cases) not yet stored, print the
    table; every case's record."""
    cases = bench_cases(config)
    out_dir = str(config["out_dir"])
    records = run_study(cases, out_dir, resume=not config["fresh"])
    if records:
        first = cases[0]
        print(
            f"{len(records)} cases, {first.dtype}, {first.threads} thread(s), device "
            f"{first.device}, torch {torch.__version__}; times: median per call over "
            f"{first.rounds} interleaved rounds, spread = interquartile range / median; "
            f"stored under {out_dir}/bench/"
        )
        print(format_table(records))
    return records


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
            where = (
                f"{case['ladder']:>6} {case['shape']:>14} {case['grid_size']:>5} "
                f"{case['batch']:>6} {row['family']:>10}"
            )
            if row["status"] != "ok":
                lines.append(f"{where}  skipped: {row['note']}")
                continue
            lines.append(
                f"{where} {row['form'][:14]:>14} "
                f"{row['n_params']:>9} {_cell(row.get('fwd_ms')):>8} "
                f"{_cell(row.get('fwd_bwd_ms')):>8} {_cell(row.get('adam_ms')):>8} "
                f"{_cell(row.get('lbfgs_ms')):>8} {_cell(row.get('fwd_bwd_spread'), 2):>6} "
                f"{_cell(_ratio(row, base, 'fwd_bwd_ms')):>7} {_cell(row.get('peak_mb')):>8} "
                f"{_cell(_ratio(row, base, 'peak_mb')):>7}"
            )
    return "\n".join(lines)


def _ratio(row: dict, base: dict, key: str) -> float | None:
    value, reference = row.get(key), base.get(key)
    if value is None or not reference:
        return None
    return value / reference


def check_command(overrides: list[str], args: argparse.Namespace | None = None) -> int:
    """Compose and check every job of a kanbench-bench command; the number of jobs."""
    jobs = compose_jobs(CONFIG, overrides, GROUPS, getattr(args, "config_dir", None))
    for job, config in jobs:
        try:
            bench_cases(config)
        except ValueError as error:  # which job, where there are several
            where = f"job [{' '.join(job)}]: " if len(jobs) > 1 else ""
            raise ValueError(f"{where}{error}") from None
    return len(jobs)


@hydra.main(version_base="1.3", config_path="pkg://kanbench.conf", config_name=CONFIG)
def _bench(cfg: DictConfig) -> str:
    """One job: its study measured, or its error reported (kanbench.cli.run_job)."""

    def work() -> str:
        run_bench(OmegaConf.to_container(cfg, resolve=True))
        return "done"

    return run_job(PROG, work)


def main() -> None:
    """kanbench-bench: every job checked before Hydra starts, then Hydra runs them."""
    refuse_bad_command(PROG, sys.argv[1:], GROUPS, check_command)
    _bench()
