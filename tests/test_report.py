"""kanbench-report and kanbench.plots: a fixture study end to end, plots equal tables, bad input."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import law, write_run

from kanbench import analysis as an
from kanbench import plots
from kanbench.report import build_parser, main, settings_from_args

BOOT = ["--bootstrap", "100"]


def _kan_curve(seed):
    rng = np.random.default_rng(seed)

    def curve(n):  # N^-3.5 with 5% noise, and an overfitting tail after N = 315
        clean = np.where(n <= 315, law(n, 3.5, 50.0), law(315, 3.5, 50.0) * (n / 315) ** 0.5)
        return clean * np.exp(0.05 * rng.standard_normal(len(n)))

    return curve


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two tasks: exp_sin_y2 with 3 KAN seeds and MLPs of depth 2 and 3; product_xy with a
    2-stage KAN only (too few points to fit)."""
    folder = tmp_path_factory.mktemp("study")
    for seed in range(3):
        write_run(folder / "kan", "kan", _kan_curve(seed), seed=seed)
        for depth in (2, 3):
            write_run(folder / "mlp", "mlp", _kan_curve(10 + seed), depth=depth, seed=seed)
    write_run(folder / "kan", "kan", [0.1, 0.05], task="product_xy", shape=(2, 2, 1), grids=(3, 5))
    return folder


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    notes = out.parent / "notes.md"
    notes.write_text("These runs are *synthetic*.")
    assert main([str(study), "--out", str(out), "--notes", str(notes), *BOOT]) == 0
    return out


def test_report_writes_every_table_and_figure(report):
    stems = [
        "scaling_all",
        "scaling_exp_sin_y2",
        "scaling_product_xy",
        "kan_history_exp_sin_y2_2-1-1",
        "kan_history_product_xy_2-2-1",
        "cost",
    ]
    expected = ["summary.csv", "summary.md", "fits.csv", "fits.md", "points.csv", "report.md"]
    expected += [f"{stem}.{fmt}" for stem in stems for fmt in ("png", "pdf")]
    for name in expected:
        assert (report / name).stat().st_size > 0, name
    text = (report / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(linked) == sorted(f"{stem}.png" for stem in stems)  # relative, all present
    facts = ("--bootstrap 100", "**trainable**", "descent", "bootstrap over 3", "*synthetic*")
    for fact in facts:
        assert fact in text, fact


def test_plotted_points_and_lines_equal_the_tables(study, report):
    points = pd.read_csv(report / "points.csv")
    fits = pd.read_csv(report / "fits.csv")
    analysis = an.analyse(an.load_records(study), an.Settings(n_boot=100))
    for task in ("exp_sin_y2", "product_xy"):
        drawn = plots.scaling_figure(analysis, task).data()
        shown = drawn[drawn["kind"] == "points"][["series", "x", "y"]]
        table = points[points["task"] == task][["series", "N", "test_rmse"]]
        table.columns = ["series", "x", "y"]
        key = ["series", "x", "y"]
        shown = shown.sort_values(key).reset_index(drop=True)
        table = table.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(shown, table, check_dtype=False, rtol=1e-12)
        for _, fit in fits[(fits["task"] == task) & fits["alpha"].notna()].iterrows():
            line = drawn[(drawn["kind"] == "fit") & (drawn["series"] == fit["series"])]
            assert line["x"].min() == pytest.approx(fit["n_lo"])
            assert line["x"].max() == pytest.approx(fit["n_hi"])
            assert line["y"].iloc[0] == pytest.approx(fit["A"] * fit["n_lo"] ** -fit["alpha"])


def test_summary_reports_each_family_fit_and_what_is_missing(report):
    summary = pd.read_csv(report / "summary.csv").set_index("task")
    fits = pd.read_csv(report / "fits.csv")
    kan = fits[(fits["task"] == "exp_sin_y2") & (fits["series"] == "KAN [2,1,1]")].iloc[0]
    assert summary.loc["exp_sin_y2", "alpha_kan"] == pytest.approx(kan["alpha"])
    assert summary.loc["exp_sin_y2", "interval_kan"].startswith("bootstrap over 3 seeds")
    assert kan["alpha_lo"] < 3.5 < kan["alpha_hi"] and kan["n_hi"] == 315
    assert summary.loc["exp_sin_y2", "series_mlp"] == "MLP frontier"
    assert math.isnan(summary.loc["product_xy", "alpha_kan"])
    markdown = (report / "summary.md").read_text()
    assert "no fit: 2 distinct N" in markdown and "no MLP runs" in markdown
    assert "not reached" in markdown


def test_history_figure_marks_stage_boundaries_and_grid_guides(study):
    study_data = an.load_study(study)
    drawn = plots.history_figure(study_data.history, study_data.stages, "exp_sin_y2", "[2,1,1]")
    data = drawn.data()
    assert len(data[data["kind"] == "boundary"]) == 7  # 8 stages
    guides = data[data["kind"] == "guide"]
    assert sorted(guides["label"].unique()) == ["G^-2", "G^-3", "G^-4"]
    first = study_data.stages.query("family == 'kan' and task == 'exp_sin_y2' and grid_size == 3")
    assert guides.groupby("label")["y"].first().tolist() == pytest.approx(
        [first["test_rmse"].median()] * 3
    )
    first = {}  # the first run drawn (bold) in each panel
    for layer in drawn.layers:
        if layer.kind in ("history", "points"):
            first.setdefault(layer.panel, layer.series)
    assert first == {"history": "kan-exp_sin_y2-s0", "grid": "kan-exp_sin_y2-s0"}
    with pytest.raises(ValueError, match="no KAN history"):
        plots.history_figure(study_data.history, study_data.stages, "exp_sin_y2", "[9]")


def test_cost_figure_draws_the_stage_timings(study):
    stages = an.load_records(study)
    data = plots.cost_figure(stages).data(panel="s_per_step")
    assert sorted(data["y"]) == pytest.approx(sorted(stages["s_per_step"]))


def test_options_become_settings_and_paper_convention_moves_the_kan_points(study):
    args = build_parser().parse_args([str(study), "--convention", "paper", "--n-max", "100"])
    settings = settings_from_args(args)
    assert settings.window == an.Window("range", None, 100.0)  # --n-max implies 'range'
    points = an.analyse(an.load_records(study), settings).points
    kan = points[(points["series"] == "KAN [2,1,1]")]
    assert (kan["N"] == kan["n_params_paper"]).all() and (kan["N"] < kan["n_params"]).all()
    assert not kan.loc[kan["N"] > 100, "in_window"].any()


@pytest.mark.parametrize(
    ("setup", "extra", "match"),
    [
        ("missing", [], "does not exist"),
        ("empty", [], "holds no run records"),
        ("schema", [], "schema version 2"),
        ("good", ["--thresholds", "0"], "thresholds must be positive"),
        ("good", ["--window", "none", "--n-min", "10"], "go with window 'range'"),
        ("good", ["--notes", "no-such-file.md"], "--notes .* cannot be read"),
    ],
)
def test_bad_input_is_one_line_on_stderr_exit_2_and_nothing_written(
    tmp_path, capsys, setup, extra, match
):
    folder = tmp_path / "runs"
    if setup != "missing":
        (folder / "records").mkdir(parents=True)
    if setup in ("schema", "good"):
        write_run(folder, "kan", lambda n: law(n, 2.0))
    if setup == "schema":
        write_run(folder, "mlp", lambda n: law(n, 1.0), schema=2)
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("kanbench-report: error:") and re.search(match, err)
    assert not out.exists()


def test_an_unknown_option_value_is_an_argparse_error_with_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--convention", "edges"])
    assert exit_info.value.code == 2
