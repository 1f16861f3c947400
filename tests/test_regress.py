"""kanbench-regress: the comparison rules on fabricated metrics, metrics from stored runs,
update=true then compare, a tiny real study end to end through Hydra, every suite composed,
the command line (--cfg job, study overrides) and bad input refused before work."""

import dataclasses
import json
import math
import re
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml
from hydra import compose
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from synthetic_runs import law, write_run

from kanbench import regress
from kanbench.regress import FAIL, MISSING, NEW, PASS, Metric, Tolerances
from kanbench.sweep import config_module

TOL = Tolerances(rmse_factor=1.5, alpha_drop=0.3, speed_factor=1.5)
REPO = Path(__file__).resolve().parent.parent


def rmse(value, point="stage 0, G=3", **where):
    return Metric("test_rmse", where.get("task", "t"), "kan", "[2,1,1]", 0, point, value)


def alpha(value, series="[2,1,1]"):
    return Metric("alpha", "t", "kan", series, 0, "power law", value)


def speed(value, shape="[4,64,1]"):
    return Metric("speed_ratio", "-", "kan/mlp", shape, None, "G=5 fwd+bwd", value)


def statuses(baseline, current, tolerances=TOL):
    return [row.status for row in regress.compare(baseline, current, tolerances)]


# --------------------------------------------------------------------------- comparison


def test_an_rmse_twice_the_baseline_fails_and_noise_within_tolerance_passes():
    assert statuses([rmse(1e-4)], [rmse(2e-4)]) == [FAIL]
    assert statuses([rmse(1e-4)], [rmse(1.2e-4)]) == [PASS]
    assert statuses([rmse(1e-4)], [rmse(1e-6)]) == [PASS]  # better is never a regression
    assert statuses([rmse(1e-4)], [rmse(1.5e-4)]) == [PASS]  # the bound itself passes


def test_a_speed_ratio_twice_the_baseline_fails_and_noise_within_tolerance_passes():
    assert statuses([speed(1.5)], [speed(3.0)]) == [FAIL]
    assert statuses([speed(1.5)], [speed(1.8)]) == [PASS]
    assert statuses([speed(1.5)], [speed(0.7)]) == [PASS]


def test_an_alpha_that_drops_beyond_the_tolerance_fails_and_a_rise_passes():
    assert statuses([alpha(3.2)], [alpha(2.8)]) == [FAIL]
    assert statuses([alpha(3.2)], [alpha(3.0)]) == [PASS]
    assert statuses([alpha(3.2)], [alpha(4.5)]) == [PASS]


def test_a_value_that_is_not_finite_fails():
    assert statuses([rmse(1e-4), alpha(3.0)], [rmse(math.nan), alpha(math.inf)]) == [FAIL, FAIL]
    assert statuses([speed(1.0)], [speed(math.nan)]) == [FAIL]


def test_a_missing_metric_fails_and_a_new_one_is_shown_without_failing():
    rows = regress.compare([rmse(1e-4), rmse(1e-5, "stage 1, G=5")], [rmse(1e-4), speed(1.2)], TOL)
    assert [r.status for r in rows] == [PASS, MISSING, NEW]
    assert [r.failed for r in rows] == [False, True, False]
    assert math.isnan(rows[1].now) and math.isnan(rows[2].baseline)
    table = regress.format_rows(rows)
    assert "missing" in table and "new" in table and "stage 1, G=5" in table


def test_metrics_of_other_tasks_or_seeds_are_not_confused():
    base = [rmse(1e-4, task="a"), rmse(1e-2, task="b")]
    now = [rmse(1e-2, task="a"), rmse(1e-4, task="b")]
    assert statuses(base, now) == [FAIL, PASS]
    other_seed = Metric("test_rmse", "t", "kan", "[2,1,1]", 1, "stage 0, G=3", 1e-4)
    assert statuses([rmse(1e-4)], [other_seed]) == [MISSING, NEW]


def test_the_tolerances_in_force_decide():
    loose = Tolerances(rmse_factor=3.0, alpha_drop=1.0, speed_factor=3.0)
    base = [rmse(1e-4), alpha(3.2), speed(1.5)]
    now = [rmse(2e-4), alpha(2.5), speed(3.0)]
    assert statuses(base, now, TOL) == [FAIL, FAIL, FAIL]
    assert statuses(base, now, loose) == [PASS, PASS, PASS]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rmse_factor": 0.9}, "rmse_factor must be a number >= 1"),
        ({"speed_factor": "2"}, "speed_factor must be a number >= 1"),
        ({"alpha_drop": -0.1}, "alpha_drop must be a number >= 0"),
        ({"alpha_drop": True}, "alpha_drop must be a number >= 0"),
    ],
)
def test_bad_tolerances_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        Tolerances(**values)


# --------------------------------------------------------------------------- metrics


def test_stored_runs_give_a_metric_per_stage_and_an_alpha_per_run(tmp_path):
    # [2,1,1]: N = 3 (G + 5), so edges x G = N - 15; a KAN's alpha is in edges x G
    write_run(tmp_path, "kan", lambda n: law(n - 15, 4.0), grids=(3, 5, 10, 20))
    write_run(tmp_path, "mlp", lambda n: law(n, 1.0), widths=[2, 4, 8, 16], grids=(3, 5, 10, 20))
    metrics = regress.collect_metrics(tmp_path)
    by_kind = {k: [m for m in metrics if m.kind == k] for k in regress.KINDS}
    assert len(by_kind["test_rmse"]) == 8 and not by_kind["speed_ratio"]
    assert {m.series for m in by_kind["test_rmse"]} == {"[2,1,1]", "depth 3"}
    assert by_kind["test_rmse"][0].point == "stage 0, G=3"
    fitted = {m.series: m.value for m in by_kind["alpha"]}
    assert fitted["[2,1,1]"] == pytest.approx(4.0, abs=1e-6)  # an exact power law in G
    assert fitted["depth 3"] == pytest.approx(1.0, abs=1e-6)


def test_a_run_that_no_single_power_law_describes_gets_no_alpha_but_keeps_its_rmses(tmp_path):
    rmse = [1e-1, 1e-3, 5e-4, 2.5e-4, 1e-4]  # slope 9 in edges x G, then 1
    write_run(tmp_path, "kan", rmse, grids=(3, 5, 10, 20, 50))
    metrics = regress.collect_metrics(tmp_path)
    assert [m.kind for m in metrics] == ["test_rmse"] * 5


def test_a_diverged_stage_counts_as_not_finite_and_fails(tmp_path):
    write_run(
        tmp_path,
        "kan",
        [1e-2, 1e-3, 1e-4],
        grids=(3, 5, 10),
        stage_status=["complete", "complete", "diverged"],
    )
    metrics = {m.point: m for m in regress.collect_metrics(tmp_path) if m.kind == "test_rmse"}
    assert math.isnan(metrics["stage 2, G=10"].value)
    assert "diverged" in metrics["stage 2, G=10"].note
    now = metrics["stage 2, G=10"]
    assert statuses([dataclasses.replace(now, value=1e-4)], [now]) == [FAIL]


def test_runs_that_would_share_a_key_are_told_apart_by_their_config(tmp_path):
    write_run(tmp_path, "kan", [1e-2, 1e-3, 1e-4], grids=(3, 5, 10), steps=4, run_id="a")
    write_run(tmp_path, "kan", [1e-2, 1e-3, 1e-4], grids=(3, 5, 10), steps=8, run_id="b")
    metrics = regress.collect_metrics(tmp_path)
    series = {m.series for m in metrics}
    assert series == {"[2,1,1] (model.steps_per_grid=4)", "[2,1,1] (model.steps_per_grid=8)"}
    assert len({m.key for m in metrics}) == len(metrics)


def write_bench(folder, ratios):
    """Fabricated bench cases: KAN forward+backward = ratio x the MLP's (2 ms)."""
    for index, (shape, ratio) in enumerate(ratios.items()):
        case = {"ladder": "n", "shape": shape, "grid_size": 5, "spline_order": 3,
                "batch": 1024, "dtype": "float32", "device": "cpu", "threads": 1}  # fmt: skip
        rows = [
            {"family": "kan", "status": "ok", "n_params": 100, "fwd_bwd_ms": 2.0 * ratio},
            {"family": "mlp", "status": "ok", "n_params": 100, "fwd_bwd_ms": 2.0},
        ]
        record = {"schema": 1, "kind": "bench", "bench_id": f"case{index}", "status": "complete",
                  "case": case, "rows": rows}  # fmt: skip
        path = Path(folder) / "bench" / f"case{index}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))


def test_bench_cases_give_a_speed_ratio_per_case(tmp_path):
    write_bench(tmp_path, {"4,64,1": 1.5, "8,128,128,1": 1.2})
    metrics = regress.collect_metrics(tmp_path)
    assert {m.series: m.value for m in metrics} == {"[4,64,1]": 1.5, "[8,128,128,1]": 1.2}
    assert all(m.kind == "speed_ratio" and m.family == "kan/mlp" for m in metrics)


# --------------------------------------------------------------------------- command


def study(folder, rmse_scale=1.0, ratio=1.5):
    write_run(folder, "kan", lambda n: rmse_scale * law(n, 3.0), grids=(3, 5, 10, 20))
    write_bench(folder, {"4,64,1": ratio})


def config(tmp_path, *overrides, **keys):
    """The composed kanbench-regress config (the ci suite unless changed), out_dir and the
    suite's baseline in tmp_path, then the top-level keys given."""
    defaults = [f"out_dir={tmp_path / 'runs'}", f"regress.baseline={tmp_path / 'baseline'}"]
    with config_module():
        cfg = compose("regress", overrides=[*defaults, *overrides])
    return {**OmegaConf.to_container(cfg, resolve=True), **keys}


def from_folder(tmp_path, folder, update=False):
    """kanbench-regress from=<folder> [update=true] against tmp_path/baseline."""
    return regress.run_regression(config(tmp_path, **{"from": str(folder), "update": update}), "ci")


def test_update_writes_a_baseline_that_a_following_compare_passes(tmp_path, capsys):
    study(tmp_path / "run")
    assert from_folder(tmp_path, tmp_path / "run", update=True) == 0
    content = json.loads((tmp_path / "baseline" / regress.BASELINE_FILE).read_text())
    assert content["suite"] == "ci" and content["provenance"]["torch_version"]
    assert content["provenance"]["cpu"] and len(content["metrics"]) == 4 + 1 + 1
    capsys.readouterr()
    assert from_folder(tmp_path, tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "6 pass, 0 fail, 0 missing, 0 new" in out
    assert (tmp_path / "run" / "compare.csv").exists()


@pytest.mark.parametrize(
    ("scale", "ratio", "failing"),
    [(2.0, 1.5, "test_rmse"), (1.0, 4.0, "speed_ratio"), (1.1, 1.6, None)],  # ci: 1.5x, 2x
)
def test_compare_returns_1_on_a_regression_and_0_within_tolerance(
    tmp_path, capsys, scale, ratio, failing
):
    study(tmp_path / "before")
    study(tmp_path / "after", rmse_scale=scale, ratio=ratio)
    assert from_folder(tmp_path, tmp_path / "before", update=True) == 0
    capsys.readouterr()
    status = from_folder(tmp_path, tmp_path / "after")
    failed = [
        line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")
    ]
    assert status == (1 if failing else 0)
    assert set(failed) == ({failing} if failing else set())


def test_a_run_that_vanished_is_reported_missing_and_fails(tmp_path, capsys):
    study(tmp_path / "before")
    write_run(tmp_path / "before", "mlp", lambda n: law(n, 2.0), grids=(3, 5, 10), widths=[2, 4, 8])
    study(tmp_path / "after")
    assert from_folder(tmp_path, tmp_path / "before", update=True) == 0
    capsys.readouterr()
    assert from_folder(tmp_path, tmp_path / "after") == 1
    out = capsys.readouterr().out
    assert out.count("missing  test_rmse") == 3 and "0 fail, 4 missing" in out


def tiny_suite(folder, **changes):
    return {
        "experiment": "fig2_3",
        "overrides": ["seed=0", "model.shape=[2,1,1]", "model.grid_schedule=[3,5,10]",
                      "model.steps_per_grid=20", "model.restarts=1", "data.n_train=100",
                      "data.n_test=100"],
        "workers": 1,
        "baseline": str(folder / "baseline"),
        "speed": {"min_time": 0.01, "rounds": 2,
                  "n": {"grid": 3, "batch": 8, "shapes": ["2,3,1"], "metrics": ["fwd_bwd"],
                        "memory": False}},
        "tolerances": {"rmse_factor": 1.5, "alpha_drop": 0.3, "speed_factor": 10.0},
        **changes,
    }  # fmt: skip


@pytest.fixture
def stored_suite(tmp_path):
    """A tiny suite stored in Hydra's ConfigStore as regress=tiny, for this test only."""
    repo = ConfigStore.instance().repo.setdefault("regress", {})
    ConfigStore.instance().store(group="regress", name="tiny", node=tiny_suite(tmp_path))
    yield "tiny"
    repo.pop("tiny.yaml", None)


def command(monkeypatch, tmp_path, *args):
    """kanbench-regress *args in process, from tmp_path; its exit status."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["kanbench-regress", *args])
    GlobalHydra.instance().clear()
    try:
        regress.main()
    except SystemExit as exit_:
        return exit_.code
    return 0


def test_a_tiny_study_runs_updates_and_then_compares_clean(
    tmp_path, capsys, monkeypatch, stored_suite
):
    assert command(monkeypatch, tmp_path, f"regress={stored_suite}", "--update") == 0
    assert "baseline written" in capsys.readouterr().out
    content = json.loads((tmp_path / "baseline" / regress.BASELINE_FILE).read_text())
    assert content["suite"] == "tiny" and content["command"].endswith("update=true")
    assert command(monkeypatch, tmp_path, f"regress={stored_suite}") == 0  # float64 repeats
    printed = capsys.readouterr().out
    assert "0 fail, 0 missing, 0 new" in printed
    for what in ("exp_sin_y2 kan [2,1,1] seed 0 stage 2, G=10", "kan/mlp [2,3,1]"):
        assert what in printed
    runs = sorted((tmp_path / "runs" / "regress").glob("*/records/*.json"))
    assert len(runs) == 2  # 1 job, twice, each in its Hydra run folder beside its log
    assert (runs[0].parent.parent / ".hydra" / "config.yaml").is_file()
    # an alpha is compared exactly when the run's 3 stages follow one power law (20 steps
    # per grid need not give one)
    alphas = [m for m in regress.collect_metrics(runs[0].parent.parent) if m.kind == "alpha"]
    assert ("power law" in printed) == bool(alphas)


def _suites():
    folder = Path(str(resources.files("kanbench.conf").joinpath("regress")))
    return sorted(p.stem for p in folder.glob("*.yaml"))


@pytest.mark.parametrize("name", _suites())
def test_every_suite_composes_and_plans(name, tmp_path):
    suite, _ = regress.check_regression(config(tmp_path, f"regress={name}", update=True), name)
    loaded = regress.load_suite(name)  # the file as it is, its baseline unchanged
    assert dataclasses.replace(suite, baseline=loaded.baseline) == loaded
    work = regress.plan(suite, tmp_path / "runs")
    assert work.jobs or work.cases


def test_the_ci_baseline_matches_its_suite():
    assert regress.suite_names() == _suites()
    suite = regress.load_suite("ci")
    metrics = regress.read_baseline(REPO / suite.baseline)
    assert {m.kind for m in metrics} == set(regress.KINDS)
    content = json.loads((REPO / suite.baseline / regress.BASELINE_FILE).read_text())
    assert content["experiment"] == suite.experiment and content["suite"] == "ci"
    assert not content["provenance"]["git_commit"].endswith("+dirty")


def test_cfg_job_prints_the_config_with_the_study_overrides(monkeypatch, tmp_path, capsys):
    assert command(monkeypatch, tmp_path, "seed=1", "--update", "regress.workers=1", "--cfg",
                   "job") == 0  # fmt: skip
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["update"] is True and printed["overrides"] == ["seed=1"]
    assert printed["regress"]["workers"] == 1 and printed["regress"]["experiment"] == "ci"
    assert not list(tmp_path.iterdir())


def test_keys_that_are_not_kanbench_regress_own_go_to_the_study():
    argv = ["-m", "seed=1", "regress.workers=1", 'overrides=["optim.lr=0.5"]', "x='a b'"]
    study = "overrides=['optim.lr=0.5','seed=1','x=\\'a b\\'']"
    assert regress.hydra_argv([*argv, "--update"]) == [
        "-m", "regress.workers=1", "update=true", study
    ]  # fmt: skip
    assert regress.hydra_argv(["regress=ci", "hydra.run.dir=x"]) == [
        "regress=ci",
        "hydra.run.dir=x",
    ]


# --------------------------------------------------------------------------- bad input


def error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kanbench-regress: error:")
    return lines[0]


def test_a_missing_baseline_is_refused_before_any_training(tmp_path, capsys, monkeypatch):
    assert command(monkeypatch, tmp_path) == 2
    assert "does not exist; make one with kanbench-regress update=true" in error_line(capsys)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["regress=nope"], "unknown regress 'nope'; valid: ci"),
        (["regress.experiment=nope"], "unknown experiment 'nope'; valid: .*ci"),
        (["regress.workrs=1"], "key 'regress.workrs' does not exist; did you mean regress.workers"),
        (["regress.workers=0"], "regress.workers must be an integer >= 1"),
        (["regress.tolerances.rmse_factor=0.5"], "rmse_factor must be a number >= 1"),
        (["regress.speed.n.shapes=[[2,x]]"], "regress.speed.n.shapes must be"),
        (["model.gird=3"], "gird"),
        (["data.n_train=0"], "data.n_train must be"),
        (["update=maybe"], "update must be true or false"),
        (["from=nowhere"], "'nowhere' holds no run records and no bench cases"),
        (["-m", "seed=0,1"], "runs one suite: -m is not supported"),
        (["--suite", "ci"], "unknown option '--suite'"),
    ],
)
def test_a_bad_command_is_refused_in_one_line_before_any_work(
    tmp_path, capsys, monkeypatch, args, message
):
    assert command(monkeypatch, tmp_path, "update=true", *args) == 2
    assert re.search(message, error_line(capsys))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": 1}, r"unknown key\(s\) \['colour'\] in regress"),
        ({"experiment": None, "speed": None}, "needs an experiment, a speed probe"),
        ({"overrides": "seed=0"}, "regress.overrides must be a list"),
        ({"tolerances": {"rmse": 2}}, "regress.tolerances must be a mapping of"),
        ({"speed": {"n": {"grid": 5, "batch": 8, "shapes": ["2,x"]}}}, "shapes must be"),
    ],
)
def test_a_bad_suite_file_is_refused_before_any_work(tmp_path, changes, message):
    cfg = config(tmp_path, update=True, regress=tiny_suite(tmp_path, **changes))
    with pytest.raises(ValueError, match=message) as error:
        regress.run_regression(cfg, "tiny")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_overrides_need_a_suite_with_an_experiment(tmp_path):
    cfg = config(tmp_path, update=True, overrides=["seed=1"])
    cfg["regress"] = tiny_suite(tmp_path, experiment=None)
    with pytest.raises(ValueError, match="need a suite with an experiment"):
        regress.run_regression(cfg, "tiny")
    assert not (tmp_path / "runs").exists()


def test_bad_files_and_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown regress 'nope'; valid: ci"):
        regress.load_suite("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no run records and no bench cases"):
        from_folder(tmp_path, tmp_path / "empty", update=True)
    study(tmp_path / "run")
    cfg = config(tmp_path, **{"from": str(tmp_path / "run"), "overrides": ["seed=1"]})
    with pytest.raises(ValueError, match="from= compares stored runs"):
        regress.run_regression(cfg, "ci")
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / regress.BASELINE_FILE).write_text('{"kind": "other"}')
    with pytest.raises(ValueError, match="cannot be read: not a kanbench-regress baseline"):
        from_folder(tmp_path, tmp_path / "run")


def test_a_baseline_with_a_value_that_is_not_finite_is_not_written(tmp_path):
    write_run(tmp_path / "run", "kan", [1e-2, math.nan, 1e-4], grids=(3, 5, 10))
    with pytest.raises(ValueError, match=r"baseline not written: 1 value\(s\) not finite"):
        from_folder(tmp_path, tmp_path / "run", update=True)
    assert not (tmp_path / "baseline").exists()


@pytest.mark.parametrize("value", ['"fast"', "null", "true", "NaN"])
def test_a_baseline_value_that_is_not_a_number_is_bad_input_not_a_regression(tmp_path, value):
    write_run(tmp_path / "run", "kan", [1e-2, 1e-3, 1e-4], grids=(3, 5, 10))
    from_folder(tmp_path, tmp_path / "run", update=True)
    path = tmp_path / "baseline" / regress.BASELINE_FILE
    content = json.loads(path.read_text())
    content["metrics"][0]["value"] = "@"
    path.write_text(json.dumps(content).replace('"@"', value))
    with pytest.raises(ValueError, match="not a finite number"):
        from_folder(tmp_path, tmp_path / "run")
