"""The bench report: bench.csv, the bench figures and report.md from stored bench records
(bench/*.json, from kanbench-bench), as kanbench-report writes it (write_bench_report): how
the cases were measured, the goals, one table per ladder (times in ms, ratios over the
case's matched MLP) and the figures (kanbench.plots.write_bench_plots).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

import kanbench
from kanbench import analysis as an
from kanbench.plots import write_bench_plots

BENCH_CSV_COLUMNS = (
    "ladder",
    "shape",
    "grid_size",
    "batch",
    "dtype",
    "device",
    "threads",
    "family",
    "status",
    "form",
    "n_params",
    "flops_dense",
    "flops_sparse",
    "flops_pykan",
    *an.BENCH_TIMES,
    "fwd_bwd_spread",
    "samples_per_s",
    "peak_mb",
    "fwd_bwd_ms_ratio",
    "adam_ms_ratio",
    "peak_mb_ratio",
    "note",
)
_LADDER_TITLES = {
    "n": "N ladder (shapes at a fixed G)",
    "grid": "G ladder (grids at a fixed shape)",
    "batch": "Batch ladder (memory)",
    "custom": "Ad-hoc cases",
}


def _bench_markdown(rows) -> str:
    """A ladder's rows as a Markdown table, times in ms, ratios over the case's MLP."""

    def number(value, digits=3):
        return "-" if value is None or value != value else f"{value:.{digits}g}"

    frame = rows.assign(
        **{
            "FLOPs dense/sparse/pykan": [
                "/".join(number(r[f"flops_{c}"], 3) for c in ("dense", "sparse", "pykan"))
                for _, r in rows.iterrows()
            ]
        }
    )
    table = {
        "shape": frame["shape"],
        "G": frame["grid_size"],
        "batch": frame["batch"],
        "family": frame["family"],
        "form": frame["form"].fillna(frame["note"]),
        "N": frame["n_params"].map(lambda v: "-" if v != v else f"{int(v)}"),
        "FLOPs/sample dense/sparse/pykan": frame["FLOPs dense/sparse/pykan"],
    }
    for column, label in (
        ("fwd_ms", "fwd"),
        ("fwd_bwd_ms", "fwd+bwd"),
        ("adam_ms", "Adam step"),
        ("lbfgs_ms", "LBFGS iter"),
        ("fwd_bwd_spread", "spread"),
        ("fwd_bwd_ms_ratio", "fwd+bwd / MLP"),
        ("adam_ms_ratio", "Adam / MLP"),
        ("fwd_bwd_over_kan", "fwd+bwd / KAN"),
        ("samples_per_s", "samples/s"),
        ("peak_mb", "peak MiB"),
        ("peak_mb_ratio", "memory / MLP"),
    ):
        if frame[column].notna().any():
            table[label] = frame[column].map(number)
    return an.markdown_table(pd.DataFrame(table))


def write_bench_report(bench, out_dir: str | Path, command: str = "", notes: str = "") -> Path:
    """Write bench.csv, the bench figures (PNG) and report.md into out_dir; its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = [c for c in BENCH_CSV_COLUMNS if c in bench.columns]
    bench[columns].to_csv(out_dir / "bench.csv", index=False, float_format="%.6g")
    figures = write_bench_plots(bench, out_dir)
    goals = an.bench_goals(bench)
    first = bench.iloc[0]
    commits = ", ".join(sorted(str(c) for c in bench["git_commit"].dropna().unique()))
    lines = [
        "# Speed, memory and FLOPs: KAN families against matched MLPs",
        "",
        "Every table and figure here was made from stored bench records alone by",
        "",
        f"    {command or 'kanbench.report.write_bench_report(...)'}",
        "",
        f"with kanbench {kanbench.__version__} on "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')}.",
        "",
        "## How it was measured",
        "",
        f"- {bench['bench_id'].nunique()} cases; dtype {', '.join(bench['dtype'].unique())}, "
        f"device {', '.join(bench['device'].unique())}, {first['threads']} torch thread(s); "
        f"records made with torch {', '.join(bench['torch_version'].dropna().unique())}, "
        f"git commit {commits or 'unknown'}.",
        "- Families of a case are timed side by side in one process: in each of the rounds "
        "every family's call runs in turn (order reversed every other round), repeated to "
        "fill its share of min_time; the tables give the median per call in ms and its "
        "spread, (q75 - q25) / median over the rounds, for forward+backward. CPU timings "
        "keep freed memory in the heap for reuse (no page faults from one step to the next, "
        "as with a caching allocator).",
        "- fwd: a forward pass with autograd on; fwd+bwd: zero_grad, forward, MSE loss, "
        "backward; Adam step: that and the update; LBFGS iter: one iteration (max_iter 1, "
        "strong-Wolfe line search, so one or more loss evaluations). samples/s: batch over "
        "fwd+bwd time.",
        "- Peak memory: what one forward+backward adds (CPU: the resident set, with glibc "
        "made to map every block of 64 KiB or more on its own, median of 3; CUDA: "
        "max_memory_allocated after reset_peak_memory_stats). Probed after all timings.",
        "- MLP: trainable count nearest the KAN's, max(2, KAN layers) linear layers, silu. "
        "Ratios divide by the MLP of the same case.",
        "- FLOPs per sample of a forward pass (kanbench.flops): dense = basis + GEMM, "
        "2·in·out·(G+k); sparse = local support, 2·in·out·(k+1); pykan = the Cox-de Boor "
        "recursion on every edge, in·out·(9k(G+1.5k)+2G-2.5k+1) (Yu et al. 2024); each "
        "plus the base branch, 2·in·out and 5 per input for silu.",
        "",
        *(["## Notes", "", notes.strip(), ""] if notes.strip() else []),
        "## Goals, measured",
        "",
        an.markdown_table(goals.assign(value=goals["value"].map(lambda v: f"{v:.3g}"))),
    ]
    for ladder, title in _LADDER_TITLES.items():
        rows = bench[bench["ladder"] == ladder]
        if not rows.empty:
            lines += [f"## {title}", "", _bench_markdown(rows)]
    lines += ["## Figures", ""]
    for caption, path in figures:
        lines += [f"### {caption}", "", f"![{path.stem}]({path.name})", ""]
    lines += ["## Files", "", "bench.csv: one row per case and family (every number above).", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report
