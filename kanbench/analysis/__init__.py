"""Scaling-law analysis of stored runs: records -> tidy frame -> series -> fits -> tables.

The package, in the order the data flows through it:

- records: every run file (``<folder>/**/records/<run_id>.json``) into one tidy pandas
  frame, one row per stage (`load_study`, `load_records`);
- stages: columns per stage: N by convention, the grid variable edges x G, usability and
  the optimality columns (`optimality_columns`: gap to the least-squares optimum, flags);
- series: the series of each task, their frontiers and the variable of their alpha
  (`series_specs`, `build_series`);
- fitting: both laws fitted to a series in its windows, alpha with its interval
  (`fit_series`; the fitter itself is kanbench.fits);
- tables: fits, summary, theory, optimality and flagged tables, and `analyse`, which makes
  them all;
- text, markdown, files: the tables formatted for reading and written (`write_tables`);
- costs: the training cost columns of every stage, derived for older records
  (`cost_columns`);
- compute, compute_files: test RMSE against training cost: frontiers, fits in C, the
  cost to reach each RMSE and the family ahead at equal cost (`compute_analysis`), and
  their tables (`write_compute_tables`);
- bench_records: the records of kanbench-bench with ratios to the MLP (`load_bench`) and
  the study's goals (`bench_goals`).

Importers use the names re-exported here (`from kanbench import analysis`).
"""

from kanbench.analysis.bench_records import (
    BENCH_GOALS,
    BENCH_TIMES,
    BENCH_VALUES,
    bench_goals,
    find_bench_files,
    load_bench,
)
from kanbench.analysis.compute import (
    AXIS_WORDS,
    COST_AXES,
    ComputeAnalysis,
    at_budget,
    binned_frontier,
    compute_analysis,
    compute_points,
    leaders,
    pareto_frontier,
    pareto_indices,
)
from kanbench.analysis.compute_files import COMPUTE_POINT_COLUMNS, write_compute_tables
from kanbench.analysis.costs import COST_COLUMNS, cost_columns
from kanbench.analysis.files import POINT_COLUMNS, write_tables
from kanbench.analysis.fitting import DEFAULT_MIN_SEEDS, SeriesFit, fit_series
from kanbench.analysis.markdown import (
    fits_markdown_frame,
    flagged_markdown_frame,
    optimality_markdown_frame,
    summary_markdown_frame,
)
from kanbench.analysis.records import (
    SUPPORTED_SCHEMAS,
    UNKNOWN_SCHEMA_ACTIONS,
    Study,
    UnreadableRunError,
    find_run_files,
    load_records,
    load_study,
    read_run_file,
)
from kanbench.analysis.series import (
    DEFAULT_BINS_PER_DECADE,
    FAMILY_NAMES,
    GRID_VARIABLE,
    N_VARIABLE,
    SeriesSpec,
    build_series,
    family_labels,
    fit_variable,
    frontier,
    frontier_indices,
    log_bins,
    selection_rmse,
    series_specs,
)
from kanbench.analysis.stages import (
    CONVENTION_COLUMNS,
    CONVENTIONS,
    GAP_LIMIT,
    INTERPOLATION_SHARE,
    OUTLIER_FACTOR,
    OUTLIER_SEEDS,
    STALL_RATIO,
    grid_variable,
    is_staged,
    optimality_columns,
    param_count,
    usable,
)
from kanbench.analysis.tables import (
    ALWAYS_REPORTED,
    DEFAULT_THRESHOLDS,
    FLAGGED_COLUMNS,
    NOT_REACHED,
    Analysis,
    Settings,
    analyse,
    fits_table,
    flagged_stages,
    n_to_reach,
    optimality_table,
    reported_families,
    summary_table,
    task_dimension,
    theory_table,
)
from kanbench.analysis.text import STALLED_MARK, format_interval, markdown_table
from kanbench.fits import (
    ALPHA_BOUNDS,
    DESCENT_SHARE,
    MIN_POINTS,
    ONE_LAW_RATIO,
    START_RATIO,
    WINDOWS,
    OneLaw,
    PlateauFit,
    PowerLawFit,
    Window,
    fit_plateau,
    fit_power_law,
    one_law,
    power_law_scale,
    seed_interval,
)

__all__ = [
    "ALPHA_BOUNDS",
    "ALWAYS_REPORTED",
    "AXIS_WORDS",
    "BENCH_GOALS",
    "BENCH_TIMES",
    "BENCH_VALUES",
    "COMPUTE_POINT_COLUMNS",
    "CONVENTIONS",
    "CONVENTION_COLUMNS",
    "COST_AXES",
    "COST_COLUMNS",
    "DEFAULT_BINS_PER_DECADE",
    "DEFAULT_MIN_SEEDS",
    "DEFAULT_THRESHOLDS",
    "DESCENT_SHARE",
    "FAMILY_NAMES",
    "FLAGGED_COLUMNS",
    "GAP_LIMIT",
    "GRID_VARIABLE",
    "INTERPOLATION_SHARE",
    "MIN_POINTS",
    "NOT_REACHED",
    "N_VARIABLE",
    "ONE_LAW_RATIO",
    "OUTLIER_FACTOR",
    "OUTLIER_SEEDS",
    "POINT_COLUMNS",
    "STALLED_MARK",
    "STALL_RATIO",
    "START_RATIO",
    "SUPPORTED_SCHEMAS",
    "UNKNOWN_SCHEMA_ACTIONS",
    "WINDOWS",
    "Analysis",
    "ComputeAnalysis",
    "OneLaw",
    "PlateauFit",
    "PowerLawFit",
    "SeriesFit",
    "SeriesSpec",
    "Settings",
    "Study",
    "UnreadableRunError",
    "Window",
    "analyse",
    "at_budget",
    "bench_goals",
    "binned_frontier",
    "build_series",
    "compute_analysis",
    "compute_points",
    "cost_columns",
    "family_labels",
    "find_bench_files",
    "find_run_files",
    "fit_plateau",
    "fit_power_law",
    "fit_series",
    "fit_variable",
    "fits_markdown_frame",
    "fits_table",
    "flagged_markdown_frame",
    "flagged_stages",
    "format_interval",
    "frontier",
    "frontier_indices",
    "grid_variable",
    "is_staged",
    "leaders",
    "load_bench",
    "load_records",
    "load_study",
    "log_bins",
    "markdown_table",
    "n_to_reach",
    "one_law",
    "optimality_columns",
    "optimality_markdown_frame",
    "optimality_table",
    "param_count",
    "pareto_frontier",
    "pareto_indices",
    "power_law_scale",
    "read_run_file",
    "reported_families",
    "seed_interval",
    "selection_rmse",
    "series_specs",
    "summary_markdown_frame",
    "summary_table",
    "task_dimension",
    "theory_table",
    "usable",
    "write_compute_tables",
    "write_tables",
]
