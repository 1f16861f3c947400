"""kanbench.analysis: loading records, series and frontiers, windows, fits and intervals."""

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import law, write_run

from kanbench import analysis as an

GRIDS = (3, 5, 7, 10, 15, 20, 30, 50, 100, 200, 500)


def _specs(folder, **kwargs):
    return {s.name: s for s in an.series_specs(an.load_records(folder), **kwargs)}


def _noisy(alpha, sigma, seed, a=2.0, e=0.0):
    rng = np.random.default_rng(seed)
    return lambda n: law(n, alpha, a, e) * np.exp(sigma * rng.standard_normal(len(n)))


# --------------------------------------------------------------------------- fits


def test_power_law_fit_is_exact_on_exact_data_and_matches_a_two_point_slope():
    n = np.array([10.0, 40.0, 300.0, 2000.0])
    fit = an.fit_power_law(n, law(n, 2.7, 5.0))
    assert fit.alpha == pytest.approx(2.7, abs=1e-12) and fit.A == pytest.approx(5.0)
    two_point = -np.log(law(2000.0, 2.7, 5.0) / law(10.0, 2.7, 5.0)) / np.log(200.0)
    assert fit.alpha == pytest.approx(two_point)


def test_single_seed_noisy_power_law_alpha_lies_in_its_t_interval(tmp_path):
    write_run(tmp_path, "kan", _noisy(3.0, 0.05, seed=1), grids=GRIDS)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("none"))
    assert fit.alpha_lo < 3.0 < fit.alpha_hi
    assert fit.alpha_hi - fit.alpha_lo < 0.4  # informative, not just wide
    assert fit.interval.startswith("t-interval") and fit.n_seeds == 1
    # the t-interval is alpha +- t(0.975, n - 2) * se
    power = an.fit_power_law(*_window_points(tmp_path))
    half = (fit.alpha_hi - fit.alpha_lo) / 2
    assert half == pytest.approx(power.se * 2.2622, rel=1e-3)  # t(0.975, 9)


def _window_points(folder):
    stages = an.load_records(folder)
    return stages["n_params"].to_numpy(float), stages["test_rmse"].to_numpy(float)


def test_plateau_aware_fit_recovers_alpha_and_the_floor_that_a_pure_power_law_misses(tmp_path):
    write_run(tmp_path, "kan", _noisy(4.0, 0.03, seed=2, a=1e3, e=1e-6), grids=GRIDS)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("none"))
    assert fit.plateau_alpha_lo < 4.0 < fit.plateau_alpha_hi
    assert fit.plateau_E == pytest.approx(1e-6, rel=0.1)
    assert fit.alpha < 2.5  # the floor drags the pure power law far below 4
    assert fit.alpha_hi < 4.0


def test_plateau_aware_fit_of_data_without_a_floor_finds_e_near_zero():
    n = np.geomspace(20, 5000, 9)
    fit = an.fit_plateau(n, law(n, 3.0, 7.0))
    assert fit.alpha == pytest.approx(3.0, abs=1e-4)
    assert fit.E < 1e-6 * law(n, 3.0, 7.0).min()


def test_several_seeds_give_a_bootstrap_interval_that_holds_alpha(tmp_path):
    for seed in range(5):
        offset = np.exp(0.1 * np.random.default_rng(100 + seed).standard_normal())
        write_run(tmp_path, "kan", _noisy(3.0, 0.05, seed, a=2.0 * offset), seed=seed, grids=GRIDS)
    spec = _specs(tmp_path)["KAN [2,1,1]"]
    fit = an.fit_series(spec, an.Window("none"), n_boot=300, min_seeds=3, rng=0)
    assert fit.interval.startswith("bootstrap over 5 seeds")
    assert fit.alpha_lo < 3.0 < fit.alpha_hi and fit.alpha_hi - fit.alpha_lo < 0.5
    assert fit.plateau_interval == fit.interval and fit.n_seeds == 5 and fit.n_runs == 5
    # with fewer seeds than min_seeds the residual t-interval is used instead
    fewer = an.fit_series(spec, an.Window("none"), n_boot=300, min_seeds=6)
    assert fewer.interval.startswith("t-interval")


def test_bootstrap_resamples_whole_seeds_so_identical_seeds_give_a_zero_width_interval(
    tmp_path,
):
    for seed in range(3):  # every seed the same noisy curve: resampling seeds changes nothing
        write_run(tmp_path, "kan", _noisy(3.0, 0.1, seed=7), seed=seed, grids=GRIDS)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("none"), n_boot=100)
    assert fit.alpha_lo == pytest.approx(fit.alpha) == pytest.approx(fit.alpha_hi)


# --------------------------------------------------------------------------- window


def _u_shaped(n):
    """N^-2 up to N = 315, then rising: the overfitting tail the window must drop."""
    n = np.asarray(n, dtype=float)
    return np.where(n <= 315, n**-2.0, 315.0**-2 * (n / 315.0) ** 1.5)


def test_min_test_window_drops_the_overfitting_tail(tmp_path):
    write_run(tmp_path, "kan", _u_shaped)  # N = 24, 30, 45, 75, 165, 315, 615, 1515
    spec = _specs(tmp_path)["KAN [2,1,1]"]
    fit = an.fit_series(spec, an.Window("min-test"))
    assert fit.n_hi == 315 and fit.n_window == 6 and fit.n_points == 8
    assert fit.alpha == pytest.approx(2.0, abs=1e-9)
    assert an.fit_series(spec, an.Window("none")).alpha < 1.5
    points = an.build_series(spec, an.Window("min-test"))
    assert list(points.loc[~points["in_window"], "N"]) == [615, 1515]


def test_descent_window_leaves_out_a_plateau():
    n = np.array([10, 20, 40, 80, 160, 320.0])
    rmse = np.array([1e-1, 1e-2, 1e-3, 1.2e-4, 1.05e-4, 1e-4])  # floor from N = 80
    assert list(an.Window("descent").mask(n, rmse)) == [1, 1, 1, 1, 0, 0]
    assert an.Window("min-test").mask(n, rmse).all()  # min-test takes the plateau in


def test_range_window_keeps_n_between_its_bounds_and_none_keeps_all():
    n = np.array([10, 20, 50, 100, 200.0])
    rmse = np.array([1, 0.5, 0.1, 0.2, 0.3])
    assert list(an.Window("range", n_min=20, n_max=100).mask(n, rmse)) == [0, 1, 1, 1, 0]
    assert list(an.Window("range", n_max=50).mask(n, rmse)) == [1, 1, 1, 0, 0]
    assert an.Window("none").mask(n, rmse).all()
    assert list(an.Window().mask(n, rmse)) == [1, 1, 1, 0, 0]


def test_min_test_window_uses_the_median_over_seeds_at_each_n():
    n = np.array([10, 10, 10, 20, 20, 20, 40, 40, 40.0])
    # at N = 40 one seed is best overall, but the median is lowest at N = 20
    rmse = np.array([1, 1, 1, 0.2, 0.2, 0.2, 0.01, 0.5, 0.5])
    assert an.Window().mask(n, rmse).sum() == 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rule": "tail"}, "window must be one of"),
        ({"rule": "range"}, "needs n_min and/or n_max"),
        ({"rule": "none", "n_min": 10}, "go with window 'range'"),
        ({"rule": "range", "n_min": 100, "n_max": 10}, "n_min .* must not exceed n_max"),
        ({"rule": "range", "n_min": -1}, "n_min must be a positive number"),
    ],
)
def test_bad_windows_are_refused_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        an.Window(**kwargs)


def test_fewer_than_three_points_in_the_window_gives_no_fit_and_says_so(tmp_path):
    write_run(tmp_path, "kan", [0.1, 0.01], grids=(3, 5))
    write_run(tmp_path, "mlp", _noisy(1.0, 0.0, 0), grids=(3, 5, 10, 20))
    analysis = an.analyse(an.load_records(tmp_path), an.Settings(n_boot=0))
    kan = analysis.fits[analysis.fits["family"] == "kan"].iloc[0]
    assert math.isnan(kan["alpha"]) and kan["note"].startswith("no fit: 2 distinct N")
    summary = an.markdown_table(an.summary_markdown_frame(analysis.summary, (1e-2,)))
    assert "no fit: 2 distinct N" in summary
    assert math.isfinite(analysis.summary.loc[0, "alpha_mlp"])  # the other family still fits


# --------------------------------------------------------------------------- frontier


def test_frontier_picks_the_lowest_rmse_in_every_log_bin():
    rng = np.random.default_rng(0)
    n = np.round(10 ** rng.uniform(1, 4, 200))
    rmse = 10 ** rng.uniform(-4, 0, 200)
    points = pd.DataFrame({"N": n, "test_rmse": rmse})
    chosen = an.frontier(points, bins_per_decade=4)
    bins = an.log_bins(n, 4)
    expected = points.groupby(bins)["test_rmse"].min()
    assert len(chosen) == len(expected) == len(np.unique(bins))
    assert sorted(chosen["test_rmse"]) == sorted(expected)
    assert chosen["N"].is_monotonic_increasing


def test_log_bins_have_edges_at_powers_of_ten_over_bins_per_decade():
    assert list(an.log_bins([9.99, 10, 15.8, 15.9, 100], 5)) == [4, 5, 5, 6, 10]


def test_mlp_frontier_takes_the_best_run_of_any_depth_in_each_bin(tmp_path):
    widths = [2, 4, 8, 16, 32]
    write_run(tmp_path, "mlp", [0.5, 0.2, 0.1, 0.05, 0.04], depth=2, widths=widths)
    write_run(tmp_path, "mlp", [0.4, 0.3, 0.05, 0.01, 0.02], depth=3, widths=widths)
    specs = _specs(tmp_path)
    assert set(specs) == {"MLP depth 2", "MLP depth 3", "MLP frontier"}
    points = an.build_series(specs["MLP frontier"], an.Window("none"))
    members = specs["MLP frontier"].members
    bins = an.log_bins(members["N"], an.DEFAULT_BINS_PER_DECADE)
    for _, point in points.iterrows():
        same_bin = members[bins == an.log_bins([point["N"]], an.DEFAULT_BINS_PER_DECADE)[0]]
        assert point["test_rmse"] == same_bin["test_rmse"].min()
    assert specs["MLP frontier"].primary and not specs["MLP depth 3"].primary


# --------------------------------------------------------------------------- loading


def test_records_flatten_to_one_row_per_stage_with_run_status_and_config(tmp_path):
    write_run(tmp_path, "kan", _u_shaped, status="diverged")
    stages = an.load_records(tmp_path)
    assert len(stages) == 8 and set(stages["run_status"]) == {"diverged"}
    assert json.loads(stages["config"].iloc[0])["model"]["family"] == "kan"
    assert stages["shape"].iloc[0] == "[2,1,1]" and stages["grid_size"].dtype == "Int64"


def test_unfinished_or_failed_stages_are_not_points(tmp_path):
    write_run(tmp_path, "kan", _u_shaped, stage_status=["complete"] * 6 + ["diverged", "failed"])
    points = an.build_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("none"))
    assert list(points["N"]) == [24, 30, 45, 75, 165, 315]


def test_parameter_count_conventions():
    stages = pd.DataFrame({"n_params": [24, 25], "n_params_paper": [9, None]})
    assert list(an.param_count(stages, "trainable")) == [24, 25]
    assert list(an.param_count(stages, "paper")) == [9, 25]  # missing: the trainable count
    with pytest.raises(ValueError, match="convention must be one of"):
        an.param_count(stages, "edges")


def test_paper_convention_moves_kan_points_but_not_mlp_points(tmp_path):
    write_run(tmp_path, "kan", _u_shaped)
    write_run(tmp_path, "mlp", _u_shaped)
    paper = {s.name: s.members["N"].tolist() for s in an.series_specs(_records(tmp_path), "paper")}
    assert paper["KAN [2,1,1]"][:3] == [9, 15, 30]  # edges x G
    trainable = {s.name: s.members["N"].tolist() for s in an.series_specs(_records(tmp_path))}
    assert paper["MLP depth 3"] == trainable["MLP depth 3"]


def _records(folder):
    return an.load_records(folder)


def test_a_run_stored_twice_is_counted_once_keeping_the_finished_copy(tmp_path):
    write_run(tmp_path / "a", "kan", _u_shaped, run_id="same")
    write_run(tmp_path / "b", "kan", _u_shaped, run_id="same", status="running", grids=(3, 5))
    study = an.load_study([tmp_path / "b", tmp_path / "a"])
    assert study.n_runs == 1 and len(study.stages) == 8
    assert set(study.stages["run_status"]) == {"complete"}


def test_unreadable_files_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    write_run(tmp_path, "kan", _u_shaped)
    (tmp_path / "records" / "broken.json").write_text("{not json")
    (tmp_path / "records" / "list.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING, logger="kanbench.analysis"):
        study = an.load_study(tmp_path)
    assert study.n_runs == 1 and len(study.skipped) == 2
    assert "broken.json" in caplog.text and "list.json" in caplog.text


def test_unknown_schema_version_raises_naming_the_file_and_version(tmp_path, caplog):
    write_run(tmp_path, "kan", _u_shaped)
    path = write_run(tmp_path, "mlp", _u_shaped, schema=99)
    with pytest.raises(ValueError, match=rf"{path.name}.*schema version 99.*\[1\]"):
        an.load_study(tmp_path)
    with caplog.at_level(logging.WARNING, logger="kanbench.analysis"):
        study = an.load_study(tmp_path, unknown_schema="skip")
    assert set(study.stages["family"]) == {"kan"} and path.name in caplog.text
    with pytest.raises(ValueError, match="unknown_schema must be one of"):
        an.load_study(tmp_path, unknown_schema="ignore")


def test_missing_or_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        an.load_study(tmp_path / "nowhere")
    (tmp_path / "empty" / "records").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no run records"):
        an.load_study(tmp_path / "empty")
    with pytest.raises(ValueError, match="at least one folder"):
        an.load_study([])
    (tmp_path / "bad" / "records").mkdir(parents=True)
    (tmp_path / "bad" / "records" / "x.json").write_text("oops")
    with pytest.raises(ValueError, match="no stage records"):
        an.load_study(tmp_path / "bad")


def test_history_counts_steps_across_stages(tmp_path):
    write_run(tmp_path, "kan", _u_shaped, steps=4)
    history = an.load_study(tmp_path).history
    assert list(history["cum_step"]) == list(range(1, 8 * 4 + 1))
    assert list(history.groupby("stage")["grid_size"].first()) == [3, 5, 10, 20, 50, 100, 200, 500]


# --------------------------------------------------------------------------- tables


def test_summary_has_theory_lines_best_rmse_and_n_to_reach_thresholds(tmp_path):
    write_run(tmp_path, "kan", _u_shaped)  # reaches 1e-4 at N = 165 (165^-2 = 3.7e-5)
    write_run(tmp_path, "mlp", lambda n: 0.01 + 0 * n)  # never below 1e-2 + 0
    analysis = an.analyse(an.load_records(tmp_path), an.Settings(thresholds=(1e-2, 1e-4)))
    row = analysis.summary.iloc[0]
    assert row["alpha_theory_kan"] == 4.0 and row["alpha_theory_mlp"] == 2.0  # d = 2
    assert row["best_rmse_kan"] == pytest.approx(315.0**-2) and row["best_n_kan"] == 315
    assert row["n_to_0.0001_kan"] == 165 and row["n_to_0.01_kan"] == 24
    smallest_mlp = analysis.stages.loc[analysis.stages["family"] == "mlp", "n_params"].min()
    assert row["n_to_0.01_mlp"] == smallest_mlp and row["n_to_0.0001_mlp"] == an.NOT_REACHED


def test_settings_refuse_bad_values_naming_them():
    with pytest.raises(ValueError, match="thresholds must be positive"):
        an.Settings(thresholds=(1e-2, -1.0))
    with pytest.raises(ValueError, match="convention must be one of"):
        an.Settings(convention="edges")
    with pytest.raises(ValueError, match="bins_per_decade"):
        an.Settings(bins_per_decade=0)
    with pytest.raises(ValueError, match="min_seeds"):
        an.Settings(min_seeds=1)


def test_markdown_table_escapes_pipes_and_keeps_one_row_per_line():
    text = an.markdown_table(pd.DataFrame({"a": ["x|y", "z"], "b": [1.5, float("nan")]}))
    lines = text.strip().split("\n")
    assert len(lines) == 4 and lines[2] == "| x\\|y | 1.5 |" and lines[3] == "| z |  |"
