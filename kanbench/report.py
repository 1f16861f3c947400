"""kanbench-report: every table and plot of a scaling study, regenerated from stored records.

    kanbench-report FOLDER [FOLDER ...] [--out DIR] [--convention trainable|paper]
                    [--window descent|min-test|none|range] [--n-min N] [--n-max N]
                    [--thresholds 1e-2 1e-3 1e-4] [--bins-per-decade 5]
                    [--min-seeds 2] [--sections scaling compute data] [--notes FILE]

reads every run file under the folders (kanbench.analysis.load_study), fits the scaling
laws (kanbench.analysis.analyse), and writes into --out the tables (summary, fits, points
as CSV; summary and fits as Markdown), the figures (kanbench.plots.write_plots, PNG and
PDF) and report.md, which embeds them and states how they were made; its compute section
(kanbench.compute_report, kanbench.analysis.compute) sets test RMSE against the training
FLOPs and seconds of the records, its data section (kanbench.data_report,
kanbench.analysis.data_axis) against the training points where a study varies them
(--sections picks the parts). The work is in
kanbench.analysis and kanbench.plots; this module only parses arguments and writes the
report's text. Bad input (a missing or empty folder, an unknown schema version, a bad
option value) prints one line on stderr and exits with status 2 before anything is
written. Bench records (bench/*.json, from kanbench-bench) under the folders get their
own report (kanbench.bench_report.write_bench_report): in --out when the folders hold no
run files, else in --out/bench.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import kanbench
from kanbench import analysis as an
from kanbench import store
from kanbench.analysis.data_axis import data_analysis
from kanbench.bench_report import BENCH_CSV_COLUMNS as BENCH_CSV_COLUMNS
from kanbench.bench_report import write_bench_report
from kanbench.compute_report import COMPUTE_FILES, compute_section
from kanbench.data_report import DATA_FILES, data_section
from kanbench.families import FAMILIES
from kanbench.plots import write_plots

log = logging.getLogger(__name__)

PAPER_STEPS = 1800  # LBFGS steps per model in the KAN paper (§3.1)
_KNOB_WORDS = {"G": "grid", "D": "degree"}  # a staged family's size knob, in words
DEFAULT_OUT = "results/report"
SECTIONS = ("scaling", "compute", "data")
SCALING_FILES = (
    "summary.csv / summary.md (one row per task), fits.csv / fits.md (one row per "
    "series), optimality.csv / optimality.md (one row per staged series), flagged.csv "
    "(the flagged stages), points.csv (every plotted point, with edges_g, "
    "lsq_train_rmse, gap, stall, in_window and in_plateau_window), the figures as PNG "
    "and PDF"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanbench-report",
        description="Regenerate the scaling tables, plots and report.md from stored runs.",
    )
    parser.add_argument("folders", nargs="+", metavar="FOLDER", help="searched for records/")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    parser.add_argument(
        "--convention",
        choices=an.CONVENTIONS,
        default="trainable",
        help="parameter count N: trainable numbers or the paper's edges x G (trainable)",
    )
    parser.add_argument(
        "--window",
        choices=an.WINDOWS,
        default=None,
        help="fit window: descent (default), min-test, none, or range (--n-min/--n-max imply it)",
    )
    parser.add_argument("--n-min", type=float, default=None, help="smallest N in the fits")
    parser.add_argument("--n-max", type=float, default=None, help="largest N in the fits")
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=list(an.DEFAULT_THRESHOLDS),
        help="test RMSE levels for the 'N to reach' columns (1e-2 1e-3 1e-4)",
    )
    parser.add_argument("--bins-per-decade", type=int, default=an.DEFAULT_BINS_PER_DECADE)
    parser.add_argument(
        "--min-seeds",
        type=int,
        default=an.DEFAULT_MIN_SEEDS,
        help="seeds with a fit that a t-interval over seeds needs (else the pooled fit's "
        f"residual t-interval) ({an.DEFAULT_MIN_SEEDS})",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="what report.md holds: scaling (test RMSE against N), compute (against "
        "training FLOPs and seconds), data (against training points, where a study varies "
        "them) (all)",
    )
    parser.add_argument(
        "--notes",
        default=None,
        metavar="FILE",
        help="a Markdown file whose text report.md includes under 'Notes'",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> an.Settings:
    """The analysis settings the options ask for (ValueError on a bad combination)."""
    return an.Settings(
        convention=args.convention,
        window=an.Window.asked(args.window, args.n_min, args.n_max),
        bins_per_decade=args.bins_per_decade,
        min_seeds=args.min_seeds,
        thresholds=tuple(args.thresholds),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The kanbench-report command; returns the exit status (0, or 2 for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="kanbench-report: %(message)s")
    try:
        store.check_output_folders("--out", args.out, ("bench",))
        settings = settings_from_args(args)
        notes = _read_notes(args.notes)
        bench = an.load_bench(args.folders) if an.find_bench_files(args.folders) else None
        # folders may hold runs, bench cases or both; one with neither is refused
        run_folders = [f for f in args.folders if _has_run_files([f])]
        study = analysis = None
        if bench is None or run_folders:
            for folder in args.folders:
                if folder not in run_folders and not an.find_bench_files([folder]):
                    an.find_run_files([folder])  # raises: the folder holds no run records
            study = an.load_study(run_folders or args.folders)
            analysis = an.analyse(study.stages, settings)
    except ValueError as error:
        print(f"kanbench-report: error: {error}", file=sys.stderr)
        return 2
    command = "kanbench-report " + shlex.join(argv)
    out = Path(args.out)
    try:
        if study is not None:
            path = write_report(study, analysis, out, command, notes, args.sections)
            print(f"kanbench-report: wrote {path}")
        if bench is not None:
            where = out if study is None else out / "bench"
            print(f"kanbench-report: wrote {write_bench_report(bench, where, command, notes)}")
    except OSError as error:  # a write that failed: full disk, lost mount, permissions
        print(f"kanbench-report: error: {store.write_failure(error)}", file=sys.stderr)
        return 1
    return 0


def _has_run_files(folders: Sequence[str]) -> bool:
    try:
        return bool(an.find_run_files(folders))
    except ValueError:
        return False


def write_report(
    study: an.Study,
    analysis: an.Analysis,
    out_dir: str | Path,
    command: str = "",
    notes: str = "",
    sections: Sequence[str] = SECTIONS,
) -> Path:
    """Write the tables, the figures and report.md into out_dir, for the sections asked
    for (SECTIONS: 'scaling', test RMSE against N; 'compute', against training cost;
    'data', against training points, only where a study varies them); returns report.md's
    path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scaling = "scaling" in sections
    s = analysis.settings
    lines = [
        {"scaling": "# Scaling report", "compute": "# Compute report"}.get(
            sections[0], "# Data scaling report"
        ),
        "",
        "Every table and figure here was made from stored run records alone by",
        "",
        f"    {command or 'kanbench.report.write_report(...)'}",
        "",
        f"with kanbench {kanbench.__version__} on "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')}.",
        "",
        "## How it was made",
        "",
        f"- Records: {len(study.files)} run files ({study.n_runs} runs, "
        f"{len(analysis.stages)} stages) under {', '.join(f'`{f}`' for f in study.folders)}"
        + (
            f"; {len(study.skipped)} files skipped (unreadable or unknown schema)"
            if study.skipped
            else ""
        )
        + ".",
        *[f"- {line}" for line in _run_lines(analysis.stages)],
    ]
    if scaling:
        tables = an.write_tables(analysis, out_dir)
        figures = write_plots(analysis, study.history, out_dir)
        lines += _scaling_method_lines(analysis)
    lines += [
        *[f"- {line}" for line in _provenance_lines(analysis.stages)],
        "",
        *(["## Notes", "", notes.strip(), ""] if notes.strip() else []),
    ]
    if scaling:
        lines += _scaling_lines(analysis, tables)
    if "compute" in sections:
        lines += compute_section(an.compute_analysis(analysis.stages, s), out_dir)
    data = []
    if "data" in sections:
        window = s.window if s.window.rule != "range" else an.Window()
        data = data_section(data_analysis(analysis.stages, s), out_dir, window.describe())
        lines += data
    files = []
    if scaling:
        lines += ["## Figures", ""]
        for caption, path in figures:
            pdf = path.with_suffix(".pdf").name
            lines += [
                f"### {caption}",
                "",
                f"![{path.stem}]({path.name})",
                "",
                f"PDF: [{pdf}]({pdf})",
                "",
            ]
        files.append(SCALING_FILES)
    if "compute" in sections:
        files.append(COMPUTE_FILES)
    if data:
        files.append(DATA_FILES)
    lines += ["## Files", "", "; ".join(files) + ", and this report.", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report


def _scaling_method_lines(analysis: an.Analysis) -> list[str]:
    """How the fits in N were made: the report's bullets on N, windows, fits, intervals."""
    s = analysis.settings
    intervals = sorted({i for i in analysis.fits["interval"] if i}) or ["none (no fit)"]
    return [
        f"- Parameter count N: **{s.convention}** "
        + (
            "(`n_params`: every trainable number; a KAN layer has in x out x (G + k + 2)).",
            "(`n_params_paper`: the KAN paper's edges x G; an MLP's weights + biases).",
        )[s.convention == "paper"],
        f"- Variables of α: a KAN-like family (every staged family) is fitted in the grid "
        f"variable {an.GRID_VARIABLE} (edges = Σ w_l·w_(l+1) over the shape, G the grid "
        "size or degree), the variable of the theory rate k + 1, and in N, over the same "
        "points; MLPs in N. Every α says which (“α in edges·G”, “α in N”); the summary "
        "sets only α in edges·G beside k + 1 and the MLP's α in N beside 4/d. The figures "
        "keep N on the x axis and give both.",
        f"- Fit window: {s.window.describe()}. A series with fewer than {an.MIN_POINTS} "
        "distinct sizes in its window gets no power-law fit, fewer than "
        f"{an.MIN_POINTS + 1} no plateau-aware fit. Each fit row gives its window's N range "
        "(and edges·G range), the plateau-aware law's too; the figures shade the main "
        "series' window and draw each law over its own window only.",
        "- One law: after the window is chosen, a power law is fitted to its first and to "
        "its last third of sizes; when the shallower slope is below "
        f"{an.ONE_LAW_RATIO:g} of the steeper's and the difference is significant at "
        "95%, no single power law describes the window: α is not given and the note "
        "states both slopes with their N ranges.",
        "- Fits: l = A x^-α by least squares on log l against log x; l = A x^-α + E by least "
        "squares on the log residuals (scipy.optimize.least_squares, α in [0, 20], E ≥ 0).",
        f"- 95% intervals of α: when at least {s.min_seeds} seeds have a fit in the window, "
        "each seed's own points (its own frontier, for a frontier series) inside the "
        "series' window (chosen once from the pooled points) are fitted alone; α is the "
        "mean of the per-seed α and the interval mean ± t(0.975, S−1)·sd/√S over the S "
        "seeds. Otherwise the pooled fit's residual t-interval, which ignores seed-to-seed "
        "spread. Used here: " + "; ".join(intervals) + ".",
        f"- Frontiers (the MLP's, and a staged family's over several shapes): in each "
        f"log-spaced N bin ({s.bins_per_decade} per decade) over every run of the family "
        "(all depths or shapes and seeds), the run of lowest **train** RMSE (test RMSE "
        "only for records without a train RMSE), drawn and fitted by its test RMSE, so the "
        "test set selects nothing; Yu et al. (2024) compare families by frontier. KAN: one "
        "point per grid stage of each run.",
        "- Theory lines: α = k + 1 in edges·G for a KAN of spline order k (KAT), drawn "
        "through the KAN series at its own sizes; α = 4/d in N for MLPs (Sharma & Kaplan, "
        "d = the task's intrinsic dimension); each from the first point of the family's "
        "main series.",
        "- Best RMSE: the lowest test RMSE of any run of the family, with its N.",
        f"- N to reach an RMSE: the smallest N of any run of the family with test RMSE ≤ "
        f"the level ({an.NOT_REACHED!r} otherwise).",
    ]


def _scaling_lines(analysis: an.Analysis, tables: dict) -> list[str]:
    """The report's summary, fits and optimality check."""
    return [
        "## Summary",
        "",
        "α: the fit of the family's main series (KAN: its shape, or the KAN frontier; MLP: "
        "the frontier) with its 95% interval, in edges·G for KAN-like families and in N for "
        f"MLPs; 'with E' the plateau-aware fit. {an.STALLED_MARK}: stalled stages lie in "
        "the fit window (see the optimality check), so that slope measures the optimiser.",
        "",
        tables["summary.md"].read_text(),
        "## Fits of every series",
        "",
        "`*`: the family's main series. Window: the power law's range in N (and edges·G); "
        f"plateau window: the plateau-aware law's. {an.STALLED_MARK}: stalled stages in the "
        "window.",
        "",
        tables["fits.md"].read_text(),
        *_optimality_lines(analysis, tables),
    ]


def _optimality_lines(analysis: an.Analysis, tables: dict) -> list[str]:
    """The report's optimality check: the rules, per staged series how close its stages
    came to their optimum, and the flagged stages."""
    lines = [
        "## Optimality check",
        "",
        "Each staged stage records lsq_train_rmse, the least-squares optimum train RMSE of "
        "its last layer given the earlier ones (of the whole model for a one-layer KAN); "
        f"gap = train RMSE / that optimum. A stage is flagged 'above its optimum' when "
        f"gap > {an.GAP_LIMIT:g} and N ≤ n_train/2 (near interpolation the optimum goes to "
        "0 and the gap means nothing), and 'not falling' when it has no optimum, "
        f"N ≤ n_train/2, G grew and its train RMSE is ≥ {an.STALL_RATIO:g} × the previous "
        f"stage's, and 'far above the other seeds' when, with ≥ {an.OUTLIER_SEEDS} seeds "
        f"at its size and N ≤ n_train/2, its train RMSE is > {an.OUTLIER_FACTOR:g} × their "
        "median (a start stuck in a poor basin, whose last layer can still be at its own "
        "optimum). A series whose window holds flagged stages says so in its note.",
        "",
    ]
    if analysis.optimality.empty:
        return [*lines, "No staged series.", ""]
    if not (analysis.optimality["with_optimum"] > 0).any():
        lines += [
            "No stage records an optimum (records from before lsq_train_rmse), so only the "
            "'not falling' rule applies.",
            "",
        ]
    lines += [tables["optimality.md"].read_text()]
    if analysis.flagged.empty:
        return [*lines, "No stage is flagged.", ""]
    return [
        *lines,
        "Flagged stages:",
        "",
        an.markdown_table(an.flagged_markdown_frame(analysis.flagged)),
    ]


def _read_notes(path: str | None) -> str:
    if path is None:
        return ""
    try:
        return Path(path).read_text()
    except OSError as error:
        raise ValueError(f"--notes {path!r} cannot be read: {error.strerror}") from None


def _configs(stages) -> list[dict]:
    runs = stages.drop_duplicates("run_id")
    return [json.loads(c) or {} for c in runs["config"]]


def _values(configs: list[dict], *keys) -> str:
    """The distinct values of a config key over runs, sorted, as text."""
    found = set()
    for config in configs:
        value = config
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        found.add(json.dumps(value) if isinstance(value, list) else str(value))
    return ", ".join(sorted(found, key=lambda t: (len(t), t)))  # numbers in numeric order


def _plural(word: str, values: str) -> str:
    return f"{word}{'s' if ', ' in values else ''} {values}"


def _run_lines(stages) -> list[str]:
    """One line per reported family (in the registry's order) describing how its runs were
    trained, from their configs."""
    lines = []
    for family in (f for f in FAMILIES.values() if f.reported):
        configs = _configs(stages[stages["family"] == family.name])
        if not configs:
            continue
        common = (
            f"optimiser {_values(configs, 'optim', 'name')}, dtype {_values(configs, 'dtype')}, "
            f"{_values(configs, 'data', 'n_train')} train / {_values(configs, 'data', 'n_test')} "
            f"test points, {_plural('seed', _values(configs, 'seed'))}, restarts "
            f"{_values(configs, 'model', 'restarts')}"
        )
        if family.staged:
            knob = _KNOB_WORDS.get(family.knob, family.knob)
            lines.append(
                f"{family.label} runs ({len(configs)}): {knob} schedules "
                f"{_values(configs, 'model', 'grid_schedule')}, "
                f"{_values(configs, 'model', 'steps_per_grid')} steps per {knob}; {common}."
            )
        else:
            steps = sorted({c.get("model", {}).get("steps") for c in configs} - {None})
            fewer = [s for s in steps if s != PAPER_STEPS]
            depths = _plural("depth", _values(configs, "model", "depth"))
            lines.append(
                f"{family.label} runs ({len(configs)}): {depths}; "
                f"{', '.join(str(s) for s in steps)} steps per size"
                + (f" (the paper trains {PAPER_STEPS})" if fewer else "")
                + f"; {common}."
            )
    return lines


def _provenance_lines(stages) -> list[str]:
    parts = []
    for column, label in (
        ("kanbench_version", "kanbench"),
        ("git_commit", "git commit"),
        ("torch_version", "torch"),
    ):
        if column in stages:
            values = sorted(str(v) for v in stages[column].dropna().unique())
            if values:
                parts.append(f"{label} {', '.join(values)}")
    return [f"Records made with {'; '.join(parts)}."] if parts else []


if __name__ == "__main__":
    sys.exit(main())
