"""Regression of a study's accuracy and speed against a committed baseline (kanbench-regress).

A suite (kanbench.regress.suite) names a study and a speed probe; their metrics
(kanbench.regress.metrics) are compared with the committed baseline
(kanbench.regress.baseline) by the rules of kanbench.regress.compare; kanbench.regress.cli
is the command.
"""

from kanbench.regress.baseline import (
    BASELINE_FILE,
    BASELINE_KIND,
    machine,
    read_baseline,
    write_baseline,
)
from kanbench.regress.cli import check_regression, hydra_argv, main, run_regression
from kanbench.regress.compare import (
    FAIL,
    MISSING,
    NEW,
    PASS,
    Row,
    Tolerances,
    compare,
    format_rows,
    rows_frame,
)
from kanbench.regress.metrics import (
    KINDS,
    Metric,
    collect_metrics,
    speed_metrics,
    stage_metrics,
    stored_kinds,
)
from kanbench.regress.suite import (
    Plan,
    Suite,
    execute,
    load_suite,
    plan,
    suite_from_config,
    suite_names,
)

__all__ = [
    "BASELINE_FILE",
    "BASELINE_KIND",
    "FAIL",
    "KINDS",
    "MISSING",
    "NEW",
    "PASS",
    "Metric",
    "Plan",
    "Row",
    "Suite",
    "Tolerances",
    "check_regression",
    "collect_metrics",
    "compare",
    "execute",
    "format_rows",
    "hydra_argv",
    "load_suite",
    "machine",
    "main",
    "plan",
    "read_baseline",
    "rows_frame",
    "run_regression",
    "speed_metrics",
    "stage_metrics",
    "stored_kinds",
    "suite_from_config",
    "suite_names",
    "write_baseline",
]
