"""model=kan_symbolic through the runner, its config checks, and the recovery comparison."""

import json

import pytest
import sympy
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanbench.config import register_library_tasks, run_config
from kanbench.interpret import bench
from kanbench.run import run
from kanbench.tasks import get_task
from kanbench.tasks.formula import to_sympy

register_library_tasks()
TINY = [
    "model=kan_symbolic",
    "model.steps_per_grid=3",
    "model.restarts=1",
    "model.retrain_steps=2",
    "model.refit_steps=2",
    "model.symbolic_functions=[x,'x^2',sin,exp]",
    "model.shape=[2,3,1]",
    "data.n_train=64",
    "data.n_test=64",
    "progress=false",
]


def _compose(overrides):
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        return OmegaConf.to_container(compose("train", overrides=overrides), resolve=True)


def test_the_pipeline_runs_through_the_runner_with_a_record_per_stage(tmp_path):
    result = run(_compose([*TINY, f"out_dir={tmp_path}", "model.prune_threshold=0.0"]))
    stored = json.loads(result.path.read_text())
    names = [r["stage_name"] for r in stored["stages"]]
    assert names == ["train", "prune", "retrain", "symbolic", "refit"]
    assert stored["status"] == "complete"
    train, pruned, _, fitted, refit = stored["stages"]
    assert train["family"] == "kan_symbolic" and train["shape"] == [2, 3, 1]
    assert pruned["shape"][0] == 2 and pruned["shape"][-1] == 1
    assert pruned["n_params"] == pruned["spline_edges"] * (5 + 3 + 2)
    assert len(fitted["symbolic_fits"]) == pruned["spline_edges"]
    assert refit["n_params"] == refit["spline_edges"] * 10 + 4 * refit["symbolic_edges"]
    assert isinstance(refit["formula"], str) and refit["formula"]
    assert [r["stage"] for r in stored["stages"]] == list(range(5))


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.reg_lambda=-1", "model.reg_lambda must be"),
        ("model.reg_mu2=-0.5", "model.reg_mu2 must be"),
        ("model.prune_threshold=-0.1", "model.prune_threshold must be"),
        ("model.retrain_steps=-1", "model.retrain_steps must be"),
        ("model.refit_steps=1.5", "model.refit_steps must be"),
        ("model.symbolic_threshold=1.5", "model.symbolic_threshold must be"),
        ("model.symbolic_functions=[sin,sinc]", "model.symbolic_functions must be one of"),
        ("model.symbolic_a_range=[1,0]", "model.symbolic_a_range must be increasing"),
        ("model.symbolic_b_range=[0,0]", "model.symbolic_b_range must be increasing"),
    ],
)
def test_bad_pipeline_settings_fail_before_any_work(override, message):
    with pytest.raises(ValueError, match=message):
        run_config(_compose(["model=kan_symbolic", override]))


def test_a_prune_that_removes_every_node_ends_the_run_with_a_failed_stage(tmp_path):
    result = run(_compose([*TINY, f"out_dir={tmp_path}", "model.prune_threshold=1e9"]))
    assert result.status == "failed"
    assert "would remove every node" in result.records[-1]["message"]


def test_recovery_comparison_accepts_the_truth_and_refuses_a_near_miss():
    task = get_task("exp_sin_y2")
    x, y = (sympy.Symbol(n, real=True) for n in task.variables)
    symbols = {"x": x, "y": y}
    close = 1.00001 * sympy.exp(1.0 * sympy.sin(3.14159265 * x) + 0.999999 * y**2) + 1e-6
    result = bench.compare(close, task, symbols)
    assert result["symbolic_match"] and result["formula_rmse"] < 1e-4
    wrong = sympy.exp(sympy.sin(3.0 * x) + y**2)
    result = bench.compare(wrong, task, symbols)
    assert not result["symbolic_match"] and not result["numeric_match"]
    partial = bench.compare(sympy.Function("phi_0_0_0")(x) + y**2, task, symbols)
    assert not partial["symbolic_match"] and not partial["numeric_match"]


def test_task_formulas_convert_to_exact_sympy_and_special_ones_are_refused():
    x, y = sympy.symbols("x y", real=True)
    assert to_sympy(get_task("exp_sin_y2").compiled, {"x": x, "y": y}) == sympy.exp(
        sympy.sin(sympy.pi * x) + y**2
    )
    with pytest.raises(ValueError, match="no sympy form"):
        to_sympy(get_task("bessel_j0_20x").compiled)


def test_the_benchmark_command_refuses_a_task_without_a_formula(capsys):
    assert bench.main(["--tasks", "bessel_j0_20x", "--out", "unused"]) == 2
    assert "no sympy form" in capsys.readouterr().err


def test_the_benchmark_command_writes_csv_report_and_plots(tmp_path):
    tiny = [o for o in TINY if not o.startswith(("model=", "model.shape", "progress"))]
    notes = tmp_path / "notes.md"
    notes.write_text("## Observations\n\nhand-written text\n")
    argv = ["--tasks", "exp_sin_y2", "--out", str(tmp_path / "out"), *tiny]
    assert bench.main(argv) == 0
    rows = bench.read_rows(tmp_path / "out" / "symbolic.csv")
    assert [r["task"] for r in rows] == ["exp_sin_y2"] and rows[0]["seconds"] > 0
    assert (tmp_path / "out" / "plots" / "exp_sin_y2.png").stat().st_size > 1000
    assert bench.main([*argv, "--report-only", "--notes", str(notes)]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| exp_sin_y2 |" in report and report.rstrip().endswith("hand-written text")
    assert bench.main([*argv, "--notes", str(tmp_path / "missing.md")]) == 2
