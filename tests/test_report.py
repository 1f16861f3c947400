"""kanbench-report and kanbench.plots: a fixture study end to end, plots equal tables, bad input,
families drawn and reported as the registry says."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import law, write_run

from kanbench import analysis as an
from kanbench import plots
from kanbench.families import FAMILIES, Family, StagedConfig
from kanbench.report import build_parser, main, settings_from_args


def _kan_curve(seed):
    rng = np.random.default_rng(seed)

    def curve(n):  # G^-3.5 with 5% noise, and an overfitting tail after G = 100 (N = 315)
        g = n / 3 - 5  # a [2,1,1] KAN: N = 3 (G + 5), edges x G = 3 G
        clean = np.where(g <= 100, law(3 * g, 3.5, 50.0), law(300, 3.5, 50.0) * (g / 100) ** 0.5)
        return clean * np.exp(0.05 * rng.standard_normal(len(n)))

    return curve


def _mlp_curve(seed):
    rng = np.random.default_rng(seed)
    return lambda n: law(n, 1.0, 5.0) * np.exp(0.05 * rng.standard_normal(len(n)))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two tasks: exp_sin_y2 with 3 KAN seeds and MLPs of depth 2 and 3; product_xy with a
    2-stage KAN only (too few points to fit)."""
    folder = tmp_path_factory.mktemp("study")
    for seed in range(3):
        write_run(folder / "kan", "kan", _kan_curve(seed), seed=seed)
        for depth in (2, 3):
            write_run(folder / "mlp", "mlp", _mlp_curve(10 * depth + seed), depth=depth, seed=seed)
    write_run(folder / "kan", "kan", [0.1, 0.05], task="product_xy", shape=(2, 2, 1), grids=(3, 5))
    return folder


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    notes = out.parent / "notes.md"
    notes.write_text("These runs are *synthetic*.")
    assert main([str(study), "--out", str(out), "--notes", str(notes)]) == 0
    return out


def test_report_writes_every_table_and_figure(report):
    stems = [
        "scaling_all",
        "scaling_exp_sin_y2",
        "scaling_product_xy",
        "kan_history_exp_sin_y2_2-1-1",
        "kan_history_product_xy_2-2-1",
        "cost",
        "compute_exp_sin_y2",
        "compute_product_xy",
    ]
    expected = ["summary.csv", "summary.md", "fits.csv", "fits.md", "points.csv", "report.md"]
    expected += ["optimality.csv", "optimality.md", "flagged.csv", "compute_points.csv"]
    expected += [
        f"compute_{n}.{ext}" for n in ("fits", "reach", "leaders") for ext in ("csv", "md")
    ]
    expected += [f"{stem}.{fmt}" for stem in stems for fmt in ("png", "pdf")]
    for name in expected:
        assert (report / name).stat().st_size > 0, name
    text = (report / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(linked) == sorted(f"{stem}.png" for stem in stems)  # relative, all present
    facts = (
        "**trainable**",
        "descent",
        "t-interval over 3 per-seed slopes",  # the method each interval came from
        "mean ± t(0.975, S−1)·sd/√S",
        "ignores seed-to-seed spread",
        "lowest **train** RMSE",  # how frontiers are picked
        "α in edges·G",
        "## Optimality check",
        "No stage records an optimum",
        "*synthetic*",
    )
    for fact in facts:
        assert fact in text, fact
    assert "bootstrap" not in text


def test_plotted_points_and_lines_equal_the_tables(study, report):
    points = pd.read_csv(report / "points.csv")
    fits = pd.read_csv(report / "fits.csv")
    analysis = an.analyse(an.load_records(study))
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
            assert f"{fit['alpha']:.2f} in N" in line["label"].iloc[0]
            if fit["variable"] == "edges·G":  # staged: both alphas in the label
                assert f"α={fit['alpha_grid']:.2f} in edges·G" in line["label"].iloc[0]
        for _, fit in fits[(fits["task"] == task) & fits["primary"]].iterrows():
            if not np.isfinite(fit["alpha"]):
                continue
            window = drawn[(drawn["kind"] == "window") & (drawn["series"] == fit["series"])]
            assert sorted(window["x"]) == pytest.approx([fit["n_lo"], fit["n_hi"]])
            assert f"window N {fit['n_lo']:.4g}-{fit['n_hi']:.4g}" in window["label"].iloc[0]
            plateau = drawn[(drawn["kind"] == "plateau-fit") & (drawn["series"] == fit["series"])]
            if np.isfinite(fit["plateau_alpha"]):
                assert plateau["x"].min() == pytest.approx(fit["plateau_n_lo"])
                assert plateau["x"].max() == pytest.approx(fit["plateau_n_hi"])


def test_summary_reports_each_family_fit_and_what_is_missing(report):
    summary = pd.read_csv(report / "summary.csv").set_index("task")
    fits = pd.read_csv(report / "fits.csv")
    kan = fits[(fits["task"] == "exp_sin_y2") & (fits["series"] == "KAN [2,1,1]")].iloc[0]
    assert summary.loc["exp_sin_y2", "alpha_kan"] == pytest.approx(kan["alpha_grid"])
    assert summary.loc["exp_sin_y2", "variable_kan"] == "edges·G"
    assert summary.loc["exp_sin_y2", "interval_kan"].startswith("t-interval over 3 per-seed")
    assert kan["alpha_grid_lo"] < 3.5 < kan["alpha_grid_hi"] and kan["alpha"] > 3.5
    assert kan["n_hi"] == 315  # the power law stops at the descent end
    # the tail rises 2.2x, inside the band (the lowest 10% of 12 nats of log range: 3.4x),
    # so the plateau-aware law keeps it as plateau
    assert kan["plateau_n_hi"] == 1515
    assert summary.loc["exp_sin_y2", "series_mlp"] == "MLP frontier"
    assert math.isnan(summary.loc["product_xy", "alpha_kan"])
    markdown = (report / "summary.md").read_text()
    assert "no fit: 2 distinct N" in markdown and "no MLP runs" in markdown
    assert "not reached" in markdown


def test_the_optimality_check_lists_flagged_stages_and_marks_their_alpha(tmp_path):
    grids = (3, 5, 10, 20, 50, 100)
    test = list(law(2.0 * np.array(grids), 4.0))  # a [2,1] KAN: edges x G = 2 G
    train = [0.8 * t for t in test]
    lsq = [t / (10 if g == 10 else 1.2) for g, t in zip(grids, train, strict=True)]
    write_run(tmp_path / "runs", "kan", test, grids=grids, shape=(2, 1), train=train, lsq=lsq)
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    section = text[text.index("## Optimality check") : text.index("## Figures")]
    assert "| exp_sin_y2 | KAN [2,1] | 6 | 5 of 6 | 10 (G=10) | 1 |" in section
    assert "| exp_sin_y2 | KAN [2,1] | 0 | 10 | 30 |" in section  # seed, G, N of the flagged
    assert "above its optimum" in section
    summary = text[text.index("## Summary") : text.index("## Fits of every series")]
    assert f"| 4.00 [4.00, 4.00] {an.STALLED_MARK} |" in summary  # one seed, an exact law
    points = pd.read_csv(tmp_path / "out" / "points.csv")
    assert points["gap"].tolist() == pytest.approx([1.2, 1.2, 10, 1.2, 1.2, 1.2])
    drawn = plots.scaling_figure(an.analyse(an.load_records(tmp_path / "runs")), "exp_sin_y2")
    stalled = drawn.data("stalled")
    assert stalled["x"].tolist() == [30.0]  # the flagged stage is crossed out in the plot


def test_the_bootstrap_option_is_gone(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--bootstrap", "100"])
    assert exit_info.value.code == 2


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


@pytest.mark.parametrize("out", ["afile", "afile/report"])
def test_an_out_under_a_file_is_one_line_exit_2_and_the_file_kept(tmp_path, capsys, out):
    folder = tmp_path / "runs"
    write_run(folder, "kan", lambda n: law(n, 2.0))
    (tmp_path / "afile").write_text("keep me")
    assert main([str(folder), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is a file, not a folder" in err
    assert (tmp_path / "afile").read_text() == "keep me"


def test_a_failing_write_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    import errno

    import kanbench.report as report

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "fits.csv"))

    folder = tmp_path / "runs"
    write_run(folder, "kan", lambda n: law(n, 2.0))
    monkeypatch.setattr(report, "write_report", full)
    assert main([str(folder), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot write" in err and "No space left on device" in err


# --------------------------------------------------------------------------- registry


def _colours(drawn) -> dict[str, str]:
    """The colour of each labelled line of a figure, by label."""
    lines = [line for ax in drawn.figure.axes for line in ax.get_lines()]
    return {line.get_label(): line.get_color() for line in lines}


def test_series_are_drawn_in_their_familys_registry_colour(study):
    analysis = an.analyse(an.load_records(study))
    colours = _colours(plots.scaling_figure(analysis, "exp_sin_y2"))
    fits = analysis.fits[analysis.fits["task"] == "exp_sin_y2"]
    for _, fit in fits.iterrows():
        assert colours[fit["series"]] == FAMILIES[fit["family"]].colour, fit["series"]
    cost = _colours(plots.cost_figure(an.load_records(study)))
    for name in ("kan", "mlp"):
        label = FAMILIES[name].label
        assert {c for key, c in cost.items() if key.startswith(f"{label} ")} == {
            FAMILIES[name].colour
        }


@pytest.fixture
def fourierkan(monkeypatch):
    """A staged family registered after the plots and the report were written."""
    entry = Family("fourierkan", "Fourier KAN", StagedConfig, colour="C5", knob="D")
    monkeypatch.setitem(FAMILIES, "fourierkan", entry)
    return entry


def test_a_newly_registered_family_is_drawn_and_reported_with_no_edit(tmp_path, fourierkan):
    folder = tmp_path / "runs"
    write_run(folder, "kan", lambda n: law(n, 2.0))
    write_run(folder, "fourierkan", lambda n: law(n, 1.5))
    cost = plots.cost_figure(an.load_records(folder))
    assert set(cost.data()["label"]) == {"KAN", "Fourier KAN"}
    assert _colours(cost)["Fourier KAN"] == "C5"

    rows = [
        {"ladder": "n", "status": "ok", "family": family, "n_params": n, "fwd_bwd_ms": ms}
        for family, scale in (("kan", 2.0), ("fourierkan", 3.0), ("mlp", 1.0))
        for n, ms in ((100, scale), (1000, 4 * scale))
    ]
    frame = pd.DataFrame(rows)
    frame["fwd_bwd_ms_ratio"] = frame["fwd_bwd_ms"] / frame["n_params"].map({100: 1.0, 1000: 4.0})
    drawn = plots.bench_figure(frame, "n", "n_params", "N", "fwd_bwd_ms", "ms", 1.5)
    ratio = drawn.data(panel="ratio")
    shown = ratio[ratio["series"] == "fourierkan"]
    assert set(shown["label"]) == {"Fourier KAN (same N)"} and shown["y"].tolist() == [3.0, 3.0]
    assert _colours(drawn)["Fourier KAN (same N)"] == "C5"

    assert main([str(folder), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "- Fourier KAN runs (1): degree schedules [3, 5, 10" in text
    assert "steps per degree;" in text
