"""kanbench-regress: the Hydra app over conf/regress.yaml that runs a suite and compares it
with its baseline. Exit 0 when every metric passes, 1 on a regression, 2 on bad input
(before any training).

    kanbench-regress                       the ci suite against results/baseline
    kanbench-regress update=true           write this run's metrics as the new baseline
    kanbench-regress regress=my_suite      conf/regress/my_suite.yaml
    kanbench-regress from=runs/my_study    compare runs already stored (no training)
    kanbench-regress seed=1                a key that is not kanbench-regress's own goes to
                                           every job of the study (into `overrides`)

`--update` is kept as update=true. The command is checked before Hydra starts
(kanbench.cli.refuse_bad_command): the suite, its baseline, every job of the study and
every probe case, so a bad one writes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from kanbench import checks, store
from kanbench.cli import parse_command, refuse_bad_command, run_job
from kanbench.regress.baseline import read_baseline, write_baseline
from kanbench.regress.compare import FAIL, MISSING, NEW, PASS, compare, format_rows, rows_frame
from kanbench.regress.metrics import Metric, collect_metrics, stored_kinds
from kanbench.regress.suite import Suite, execute, plan, suite_from_config
from kanbench.sweep import compose_jobs

PROG = "kanbench-regress"
CONFIG = "regress"  # conf/regress.yaml
GROUPS = ("regress",)
KEYS = ("regress", "update", "from", "out_dir", "overrides")


def check_regression(config: Mapping, name: str) -> tuple[Suite, list[Metric] | None]:
    """The suite of a composed kanbench-regress config and its baseline's metrics (None
    with update=true), every key checked; ValueError naming the first bad one."""
    config = {k: v for k, v in config.items() if k != "hydra"}
    checks.no_unknown_keys("config", config, set(KEYS))
    if not isinstance(config.get("update"), bool):
        raise ValueError(f"update must be true or false, got {config.get('update')!r}")
    overrides = config.get("overrides") or []
    if (
        isinstance(overrides, str)
        or not isinstance(overrides, Sequence)
        or not all(isinstance(o, str) for o in overrides)
    ):
        raise ValueError(f"overrides must be a list of strings, got {overrides!r}")
    source = config.get("from")
    if source is not None:
        if overrides:
            raise ValueError("from= compares stored runs: give it without study overrides")
        stored_kinds(str(source))
    store.check_output_folders("out_dir", str(config["out_dir"]))
    suite = suite_from_config(config["regress"], name)
    return suite, None if config["update"] else read_baseline(suite.baseline)


def run_regression(
    config: Mapping, name: str, folder: str | Path | None = None, command: str = ""
) -> int:
    """Run the suite of a composed config (trained into folder, by default
    <out_dir>/<time>), or take the runs under `from`, and compare them with the baseline,
    or write them as the baseline (update=true); print the table; 0 pass, 1 regression.
    ValueError for bad input, OSError for a write that failed."""
    started = time.perf_counter()
    suite, baseline = check_regression(config, name)
    if config.get("from") is not None:
        folder = Path(config["from"])
    else:
        if folder is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            folder = Path(config["out_dir"]) / stamp
        work = plan(suite, folder, config.get("overrides") or [])
        execute(work)
        folder = work.folder
    current = collect_metrics(folder)
    seconds = time.perf_counter() - started
    if baseline is None:
        path = write_baseline(suite.baseline, suite, current, command)
        print(f"baseline written: {path} ({len(current)} metrics from {folder}, {seconds:.0f} s)")
        return 0
    rows = compare(baseline, current, suite.tolerances)
    rows_frame(rows).to_csv(Path(folder) / "compare.csv", index=False)
    print(format_rows(rows))
    counts = {s: sum(r.status == s for r in rows) for s in (PASS, FAIL, MISSING, NEW)}
    print(
        f"suite {suite.name}: {counts[PASS]} pass, {counts[FAIL]} fail, {counts[MISSING]} "
        f"missing, {counts[NEW]} new ({seconds:.0f} s; baseline {suite.baseline}; "
        f"this run {folder})"
    )
    return 1 if any(r.failed for r in rows) else 0


def check_command(overrides: list[str], args: argparse.Namespace) -> None:
    """Compose a kanbench-regress command and check it all, its study's jobs too."""
    if args.multirun:
        raise ValueError(f"{PROG} runs one suite: -m is not supported")
    jobs = compose_jobs(CONFIG, overrides, GROUPS, args.config_dir)
    if len(jobs) > 1:
        raise ValueError(f"{PROG} runs one suite; a sweep goes into overrides=[...]")
    ((_, config),) = jobs
    suite, _ = check_regression(config, "")
    if config.get("from") is None:
        plan(suite, config["out_dir"], config.get("overrides") or [])


def _quoted(text: str) -> str:
    """text as a quoted string of Hydra's override grammar."""
    text = re.sub(r"(\\+)('|$)", lambda m: m.group(1) * 2 + m.group(2), text)
    return "'" + text.replace("'", "\\'") + "'"


def hydra_argv(argv: Sequence[str]) -> list[str]:
    """The command line Hydra is given: --update as update=true, and every override whose
    key is not one of kanbench-regress's own (KEYS, hydra) moved into overrides=[...], after
    those the command line gives that key itself; Hydra's options first, then overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    argv = ["update=true" if a == "--update" else a for a in argv]
    args, _ = parse_command(argv)
    options, own, study, position = [], [], [], 0
    listed: list[str] = []
    for arg in argv:
        if position < len(args.overrides) and arg == args.overrides[position]:
            position += 1
            key = re.split(r"[=./]", arg.lstrip("+~"), maxsplit=1)[0]
            if key == "overrides" and "=" in arg:
                value = OverridesParser.create().parse_override(arg).value()
                listed += value if isinstance(value, list) else [value]
            elif key in (*KEYS, "hydra"):
                own.append(arg)
            else:
                study.append(arg)
        else:
            options.append(arg)
    listed += study
    if listed:
        own.append(f"overrides=[{','.join(map(_quoted, listed))}]")
    return [*options, *own]


@hydra.main(version_base="1.3", config_path="pkg://kanbench.conf", config_name=CONFIG)
def _regress(cfg: DictConfig) -> None:
    """The regression: its exit status 0 or 1, or 2 for bad input (kanbench.cli.run_job)."""
    hydra_config = HydraConfig.get()
    name = hydra_config.runtime.choices.get("regress") or "regress"
    command = " ".join([PROG, *hydra_config.overrides.task])

    def work() -> str:
        config = OmegaConf.to_container(cfg, resolve=True)
        folder = hydra_config.runtime.output_dir
        return str(run_regression(config, name, folder, command))

    status = run_job(PROG, work, write_failure_exit=2)
    if status != "0":
        sys.exit(int(status) if status.isdigit() else 1)


def main() -> None:
    """kanbench-regress: the command checked before Hydra starts, then Hydra runs it."""
    sys.argv = [sys.argv[0], *hydra_argv(sys.argv[1:])]
    refuse_bad_command(PROG, sys.argv[1:], GROUPS, check_command)
    _regress()
