"""Speed, memory and FLOPs of KAN families against parameter-matched MLPs (kanbench-bench).

A study is a list of cases (kanbench.bench.cases), each one (shape, G, k, batch, dtype,
device) and the families measured on it, built by kanbench.bench.models, timed side by
side by kanbench.bench.timing, and run and stored by kanbench.bench.study;
kanbench.bench.cli is the command.
"""

from kanbench.bench.cases import (
    KAN_FORMS,
    LADDERS,
    METRICS,
    PYKAN_FORMS,
    Case,
    bench_families,
    check_case,
    parse_widths,
    preset_cases,
    variant_families,
)
from kanbench.bench.cli import bench_cases, format_table, main, run_bench
from kanbench.bench.models import (
    VariantMatch,
    build_model,
    build_variant,
    describe,
    match_variant,
    mlp_of_size,
    pykan_available,
)
from kanbench.bench.study import (
    probe_case,
    record,
    run_study,
    time_against_matched_mlp,
    time_case,
)
from kanbench.bench.timing import peak_memory_mb, time_side_by_side, workloads

__all__ = [
    "KAN_FORMS",
    "LADDERS",
    "METRICS",
    "PYKAN_FORMS",
    "Case",
    "VariantMatch",
    "bench_cases",
    "bench_families",
    "build_model",
    "build_variant",
    "check_case",
    "describe",
    "format_table",
    "main",
    "match_variant",
    "mlp_of_size",
    "parse_widths",
    "peak_memory_mb",
    "preset_cases",
    "probe_case",
    "pykan_available",
    "record",
    "run_bench",
    "run_study",
    "time_against_matched_mlp",
    "time_case",
    "time_side_by_side",
    "variant_families",
    "workloads",
]
