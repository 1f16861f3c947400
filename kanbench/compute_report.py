"""The compute section of kanbench-report: who is ahead at equal training cost, with the
fits of l against cost, the cost to reach each test RMSE and the figures.

compute_section writes the tables (kanbench.analysis.compute_files) and the figures
(kanbench.plots.compute) of a ComputeAnalysis into the report's folder and returns the
section's Markdown lines; kanbench.report places them in report.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from kanbench.analysis.compute import AXIS_WORDS, COST_AXES, ComputeAnalysis
from kanbench.analysis.compute_files import write_compute_tables
from kanbench.fits import MIN_POINTS
from kanbench.plots.compute import compute_figure
from kanbench.plots.figure import FORMATS, save

COMPUTE_FILES = (
    "compute_fits.csv / compute_fits.md (one row per task, cost and family), "
    "compute_reach.csv / compute_reach.md (the cost to reach each test RMSE), "
    "compute_leaders.csv / compute_leaders.md (the family ahead by budget), "
    "compute_points.csv (every point with its costs and frontier flags) and "
    "compute_<task> figures"
)
# how Window.describe names the sizes of the fits in N; here they are costs
_SIZES_IN_N = "Sizes are edges·G for KAN-like families and N for MLPs"


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    return "-".join(part for part in keep.split("-") if part)


def _method_lines(compute: ComputeAnalysis) -> list[str]:
    s = compute.settings
    points = compute.points
    derived = int(points["cost_derived"].sum()) if "cost_derived" in points else 0
    window = s.window.describe().replace(_SIZES_IN_N, "Sizes are the costs C")
    lines = [
        "- Cost: **training FLOPs** of a stage = (1 + 2) × its forward FLOPs per sample × "
        "the training samples × its loss evaluations (`train_flops`; backward = 2 × "
        "forward, the usual count for matrix products). Forward counts per family from "
        "kanbench.flops: the B-spline KAN in the dense convention (every one of its G + k "
        "bases meets its coefficients, as a GEMM does, whatever form kanbench ran) with "
        "its basis evaluation. The loss evaluations include those of the restart probes "
        "left behind; forward-only passes (the reported RMSEs), grid updates and refits "
        "are not counted. **Training seconds**: the stages' wall time (steps, grid "
        "updates, the left-behind probes), as measured on the machine that ran them.",
        "- Cumulative: a staged family (the KAN and its variants) grows each stage from the "
        "one before (grid extension), so a stage's cost is its own plus every earlier "
        "stage's; an MLP size is trained from scratch, so its cost is its own.",
    ]
    if derived:
        lines.append(
            f"- **{derived} of {len(points)} points have their cost derived** by the loader "
            "(records made before the cost fields): FLOPs from the records' `evaluations`, "
            "the restart probes left behind estimated as (restarts − 1) × probe steps × the "
            "stage's evaluations per step; seconds from `wall_s`."
        )
    lines += [
        "- Frontiers select by **train** RMSE and show test RMSE, as the N frontier does. "
        "The Pareto frontier of a family (the steps in the figures) holds the points that "
        "no other point beats in both cost and train RMSE: for every RMSE level, the "
        "cheapest point reaching it is on it. The binned frontier takes the lowest train "
        f"RMSE in each log-spaced cost bin ({s.bins_per_decade} per decade), the best run "
        "per compute bin; the fits are made over it.",
        "- Who is ahead: with a budget C a family can run any of its points costing ≤ C and "
        "takes the one of lowest train RMSE (its Pareto frontier at C); the family whose "
        "point has the lowest test RMSE is ahead at C. Compared from the budget at which "
        "every family has a run (below it, the sentence says which families alone have "
        "runs), at every budget where some frontier steps.",
        f"- Fits: l = A C^-γ (and l = A C^-γ + E) over each family's binned frontier, "
        f"window and intervals as in N with C in place of N ({window}; fewer than "
        f"{MIN_POINTS} distinct costs in the window: no fit).",
        "- Cost to reach an RMSE: the least cost of any point of the family with test "
        "RMSE ≤ the level.",
    ]
    return lines


def compute_section(
    compute: ComputeAnalysis, out_dir: str | os.PathLike, formats=FORMATS
) -> list[str]:
    """Write the compute tables and figures into out_dir; returns the section's lines."""
    out_dir = Path(out_dir)
    lines = ["## Compute scaling", ""]
    if compute.points.empty:
        return [*lines, "No stage has a training cost (FLOPs or seconds).", ""]
    tables = write_compute_tables(compute, out_dir)
    lines += [*_method_lines(compute), "", "### Who is ahead at equal compute", ""]
    for axis in COST_AXES:
        for sentence in compute.sentences[compute.sentences["axis"] == axis]["sentence"]:
            lines.append(f"- {sentence}")
    lines += [
        "",
        "### Fits of test RMSE against cost, l ∝ C^-γ",
        "",
        tables["compute_fits.md"].read_text(),
        "### Cost to reach a test RMSE",
        "",
        tables["compute_reach.md"].read_text(),
        "### The family ahead, by budget",
        "",
        tables["compute_leaders.md"].read_text(),
    ]
    for task in compute.tasks:
        drawn = compute_figure(compute, task)
        path = save(drawn, out_dir, f"compute_{_slug(task)}", formats)[0]
        drawn.figure.clear()
        words = " and ".join(AXIS_WORDS[a] for a in COST_AXES)
        lines += [f"### {task}: test RMSE against {words}", "", f"![{path.stem}]({path.name})", ""]
        if "pdf" in formats:
            pdf = path.with_suffix(".pdf").name
            lines += [f"PDF: [{pdf}]({pdf})", ""]
    return lines
