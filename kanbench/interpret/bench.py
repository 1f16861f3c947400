"""kanbench-symbolic: how often the interpretation pipeline recovers a task's formula.

For each task (library tasks with elementary formulas), the pipeline of
kanbench.interpret.pipeline runs as model=kan_symbolic with the given Hydra overrides,
and its final formula is compared with the task's (tasks/formula.py to_sympy):

- symbolic match: the recovered expression, expanded (not exp of sums or powers) and
  with every constant within SNAP_TOLERANCE of 0, of a fraction p/q (q <= 12) or of
  p pi / q snapped to it, minus the true formula simplifies to 0 (sympy);
- numeric match: the recovered expression (unsnapped) and the true formula differ by
  at most NUMERIC_TOLERANCE RMSE on FRESH_POINTS new points of the task's domain;
- recovered: either of the two.

It writes symbolic.csv (one row per task), a network plot per task and report.md, which
states the protocol; it prints the table.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import sympy
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanbench import store
from kanbench.config import register_library_tasks, run_config
from kanbench.data import make_dataset, to_torch
from kanbench.interpret import netplot
from kanbench.interpret.pipeline import formula_text, train_kan_symbolic
from kanbench.monitor import Progress
from kanbench.tasks import get_task
from kanbench.tasks.formula import to_sympy

log = logging.getLogger(__name__)

DEFAULT_TASKS = (
    "exp_sin_y2",
    "product_xy",
    "exp_sin_4d",
    "feynman_I_6_20",
    "feynman_I_10_7",
    "feynman_I_12_2",
    "feynman_I_16_6",
    "feynman_I_18_4",
    "feynman_I_26_2",
    "feynman_I_27_6",
    "feynman_I_37_4",
    "feynman_III_17_37",
)
DEFAULT_OVERRIDES = (
    "model.steps_per_grid=100",
    "model.retrain_steps=50",
    "model.refit_steps=50",
)
SNAP_TOLERANCE = 1e-4
NUMERIC_TOLERANCE = 1e-6
FRESH_POINTS = 1000
FRESH_SEED = 12345
MAX_SIMPLIFY_OPS = 400
COLUMNS = (
    "task",
    "truth",
    "shape",
    "pruned_shape",
    "n_params_pruned",
    "fixed_edges",
    "kept_edges",
    "formula",
    "symbolic_match",
    "formula_rmse",
    "numeric_match",
    "recovered",
    "spline_test_rmse",
    "test_rmse",
    "seconds",
    "status",
)


def _snap_number(value: float, tolerance: float) -> sympy.Expr:
    """0, p/q (q <= 12) or p pi / q when value lies within tolerance of one, else value."""
    scale = tolerance * max(1.0, abs(value))
    if abs(value) <= tolerance:
        return sympy.Integer(0)
    for unit, symbol in ((1.0, sympy.Integer(1)), (math.pi, sympy.pi)):
        for q in range(1, 13):
            p = round(value * q / unit)
            if p and abs(value - p * unit / q) <= scale:
                return sympy.Rational(p, q) * symbol
    return sympy.Float(value)


def snap(expression: sympy.Expr, tolerance: float = SNAP_TOLERANCE) -> sympy.Expr:
    """Expand (keeping exp of sums and powers whole), then snap every constant."""
    expanded = sympy.expand(expression, power_exp=False, power_base=False, log=False)
    numbers = {n: _snap_number(float(n), tolerance) for n in expanded.atoms(sympy.Float)}
    return expanded.xreplace(numbers)


def compare(recovered: sympy.Expr, task, symbols: dict) -> dict:
    """symbolic_match, formula_rmse and numeric_match of recovered against the task."""
    truth = to_sympy(task.compiled, symbols)
    ordered = [symbols[name] for name in task.variables]
    complete = not recovered.atoms(sympy.core.function.AppliedUndef)
    result = {"symbolic_match": False, "formula_rmse": math.nan, "numeric_match": False}
    if not complete:
        return result
    rng = np.random.default_rng(FRESH_SEED)
    x = rng.uniform(task.lows, task.highs, size=(FRESH_POINTS, task.input_dim))
    with np.errstate(all="ignore"):
        got = sympy.lambdify(ordered, recovered, "numpy")(*x.T)
        want = task(x)
    rmse = float(np.sqrt(np.mean((np.broadcast_to(got, want.shape) - want) ** 2)))
    result["formula_rmse"] = rmse
    result["numeric_match"] = bool(rmse <= NUMERIC_TOLERANCE)
    snapped = snap(recovered)
    if sympy.count_ops(snapped) <= MAX_SIMPLIFY_OPS:
        result["symbolic_match"] = bool(sympy.simplify(snapped - truth) == 0)
    return result


def _config(task: str, overrides: list[str], seed: int):
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["model=kan_symbolic", f"task={task}", f"seed={seed}", *overrides],
        )
    return run_config(OmegaConf.to_container(cfg, resolve=True))


def run_task(task_name: str, overrides: list[str], seed: int, plot_dir: Path | None) -> dict:
    """Run the pipeline on one task and compare its formula with the task's."""
    task = get_task(task_name)
    config = _config(task_name, overrides, seed)
    torch.set_num_threads(config.threads)
    dataset = make_dataset(task, config.data.n_train, config.data.n_test, config.data.noise, seed)
    data = to_torch(dataset, config.torch_dtype, config.device)
    keep: dict = {}
    start = time.perf_counter()
    records = [r for r, _ in train_kan_symbolic(config, data, Progress(False), keep=keep)]
    seconds = time.perf_counter() - start
    last = records[-1]
    pruned = next((r for r in records if r.get("stage_name") == "prune"), last)
    retrained = next((r for r in records if r.get("stage_name") == "retrain"), last)
    row = {
        "task": task_name,
        "truth": task.formula,
        "shape": str(list(config.model.shape)),
        "pruned_shape": str(pruned["shape"]),
        "n_params_pruned": pruned["n_params"],
        "fixed_edges": last["symbolic_edges"],
        "kept_edges": last["symbolic_edges"] + last["spline_edges"],
        "formula": "",
        "symbolic_match": False,
        "formula_rmse": math.nan,
        "numeric_match": False,
        "spline_test_rmse": retrained["test_rmse"],
        "test_rmse": last["test_rmse"],
        "seconds": round(seconds, 1),
        "status": f"{last.get('stage_name')}: {last['status']}",
    }
    model = keep.get("model")
    if model is not None:
        lo = task.lows
        symbols = {
            name: sympy.Symbol(name, positive=True) if lo[i] > 0 else sympy.Symbol(name, real=True)
            for i, name in enumerate(task.variables)
        }
        plain = {sympy.Symbol(name, real=True): symbols[name] for name in task.variables}
        recovered = keep["formula"].xreplace(plain)
        row["formula"] = formula_text(model, task.variables, digits=4)
        row.update(compare(recovered, task, symbols))
        if plot_dir is not None:
            title = f"{task_name}: {row['formula']}"
            netplot.plot_network(
                model,
                data.x_train,
                plot_dir / f"{task_name}.png",
                variables=task.variables,
                title=title if len(title) < 120 else task_name,
            )
    row["recovered"] = row["symbolic_match"] or row["numeric_match"]
    return row


def write_report(
    rows: list[dict], out: Path, overrides: list[str], seed: int, notes: str = ""
) -> Path:
    """report.md: protocol, table and summary of the rows, then the user's notes."""
    n = len(rows)
    share = sum(r["recovered"] for r in rows)
    exact = sum(r["symbolic_match"] for r in rows)
    numeric = sum(r["numeric_match"] for r in rows)
    total = sum(r["seconds"] for r in rows)
    model = _config(rows[0]["task"], overrides, seed).model if rows else None
    settings = ", ".join(
        f"{key}={value}" for key, value in vars(model).items() if key not in ("family", "shape")
    )
    lines = [
        "# Symbolic recovery with the KAN interpretation pipeline",
        "",
        "Made by `kanbench-symbolic` (kanbench.interpret.bench); every number below was",
        "measured in that run.",
        "",
        "## Protocol",
        "",
        "- Pipeline (model=kan_symbolic, kanbench.interpret.pipeline): train with the sparsity",
        "  penalty, prune hidden nodes (theta on the largest in and out edge L1), retrain",
        "  without the penalty, fix every kept edge whose best library fit reaches the R^2",
        "  threshold, give hidden nodes that feed only fixed edges unit spread, refit every",
        "  parameter (the fixed edges' a, b, c, d included).",
        f"- Settings: the defaults of conf/model/kan_symbolic.yaml with the overrides "
        f"`{' '.join(overrides) or '(none)'}`, seed {seed}; the KAN shape is the task's",
        "  known shape where the task library gives one, else [d, 2d + 1, 1]; data: the",
        "  runner's defaults (1000 train and 1000 test points uniform on the task's domain,",
        "  float64, one thread).",
        f"- Model settings, in full: {settings}.",
        "- Optimiser: the runner's default, LBFGS as pykan uses it (lr 1, history 10, strong",
        "  Wolfe line search, up to 20 iterations per step), a fresh one per stage.",
        "- Symbolic library: all of kanbench.models.functions (0, x, x^2, x^3, x^4, 1/x,",
        "  sqrt, exp, log, sin, cos, tan, tanh, abs, arcsin, arctan, gaussian); suggestions",
        "  ranked by min(-log10(1 - R^2), 5) - 0.5 complexity.",
        "- Symbolic match: the recovered formula is expanded (exp of sums kept whole), each",
        f"  constant within {SNAP_TOLERANCE:g} (relative, absolute below 1) of 0, of p/q",
        "  (q <= 12) or of p pi/q is replaced by it, and sympy.simplify of the difference",
        "  to the true formula must give 0 (variables with a positive domain are declared",
        "  positive).",
        "- Numeric match: RMSE between the unsnapped recovered formula and the true one on",
        f"  {FRESH_POINTS} fresh points (seed {FRESH_SEED}) of the domain "
        f"<= {NUMERIC_TOLERANCE:g}.",
        "- Recovered: either match. test RMSE: the final network on the test set; spline",
        "  test RMSE: the pruned spline network after its retraining, before any fixing.",
        "  Seconds: wall time of the whole pipeline for the task on this project's shared",
        "  2-core machine (timings vary with its load).",
        "",
        "## Results",
        "",
        f"Recovered {share} of {n} tasks ({exact} by symbolic match, {numeric} by numeric",
        f"match); total pipeline time {total:.0f} s.",
        "",
        "| task | true formula | shape -> pruned | N pruned | fixed/kept edges | "
        "recovered formula (4 digits) | symbolic | formula RMSE | spline test RMSE | "
        "test RMSE | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | `{r['truth']}` | {r['shape']} -> {r['pruned_shape']} | "
            f"{r['n_params_pruned']} | {r['fixed_edges']}/{r['kept_edges']} | "
            f"`{r['formula']}` | {'yes' if r['symbolic_match'] else 'no'} | "
            f"{r['formula_rmse']:.2e} | {r['spline_test_rmse']:.2e} | {r['test_rmse']:.2e} | "
            f"{r['seconds']} |"
        )
    lines += ["", "Network plots (edge opacity tanh(3 |phi|_1); red: fixed edges): plots/.", ""]
    if notes:
        lines += [notes.rstrip(), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict]:
    """The rows of a symbolic.csv, typed as run_task makes them."""
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("symbolic_match", "numeric_match", "recovered"):
            row[key] = row[key] == "True"
        for key in ("formula_rmse", "spline_test_rmse", "test_rmse", "seconds"):
            row[key] = float(row[key])
        for key in ("n_params_pruned", "fixed_edges", "kept_edges"):
            row[key] = int(row[key])
    return rows


def main(argv: list[str] | None = None) -> int:
    """kanbench-symbolic [--tasks ...] [--out DIR] [--seed N] [Hydra overrides ...]."""
    parser = argparse.ArgumentParser(prog="kanbench-symbolic", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every task's run")
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    parser.add_argument("--out", type=Path, default=Path("results/symbolic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--notes", type=Path, help="a Markdown file appended to report.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite report.md from the symbolic.csv in --out, without running",
    )
    args = parser.parse_args(argv)
    register_library_tasks()
    overrides = [*DEFAULT_OVERRIDES, *args.overrides, "progress=false"]
    try:
        for name in args.tasks:
            task = get_task(name)
            to_sympy(task.compiled)  # refuses tasks without an elementary formula
        _config(args.tasks[0], overrides, args.seed)  # refuses bad overrides before any work
        if args.notes is not None and not args.notes.is_file():
            raise ValueError(f"--notes {str(args.notes)!r} is not a file")
        if args.report_only and not (args.out / "symbolic.csv").is_file():
            raise ValueError(f"--report-only needs {args.out / 'symbolic.csv'}")
        store.check_output_folders("--out", str(args.out), ("plots",))
    except Exception as error:  # noqa: BLE001 - any config error ends the command cleanly
        print(f"kanbench-symbolic: error: {error}", file=sys.stderr)
        return 2
    notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    if args.report_only:
        write_report(read_rows(args.out / "symbolic.csv"), args.out, overrides, args.seed, notes)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.tasks:
        row = run_task(name, overrides, args.seed, args.out / "plots")
        rows.append(row)
        print(
            f"{name:20} recovered={row['recovered']!s:5} symbolic={row['symbolic_match']!s:5} "
            f"formula_rmse={row['formula_rmse']:.2e} test_rmse={row['test_rmse']:.2e} "
            f"{row['seconds']:.0f}s  {row['formula']}",
            flush=True,
        )
    with (args.out / "symbolic.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    write_report(rows, args.out, overrides, args.seed, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
