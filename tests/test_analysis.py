"""kanbench.analysis and kanbench.fits: loading records, series and frontiers, the two fit
variables, windows, the one-law check, intervals over seeds, and the optimality flags."""

import json
import logging
import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from synthetic_runs import edges, law, power_law_members, write_run

from kanbench import analysis as an
from kanbench import families

GRIDS = (3, 5, 7, 10, 15, 20, 30, 50, 100, 200, 500)


def _specs(folder, **kwargs):
    return {s.name: s for s in an.series_specs(an.load_records(folder), **kwargs)}


def _noisy(alpha, sigma, seed, a=2.0, e=0.0):
    rng = np.random.default_rng(seed)
    return lambda n: law(n, alpha, a, e) * np.exp(sigma * rng.standard_normal(len(n)))


def _grid_law(grids, alpha, a=2.0, e=0.0, sigma=0.0, seed=0, shape=(2, 1, 1)):
    """Test RMSE a (edges x G)^-alpha + e per stage, times log-normal noise of sigma."""
    x = edges(shape) * np.asarray(grids, dtype=float)
    noise = np.exp(sigma * np.random.default_rng(seed).standard_normal(x.size))
    return list(law(x, alpha, a, e) * noise)


# --------------------------------------------------------------------------- fits


def test_power_law_fit_is_exact_on_exact_data_and_matches_a_two_point_slope():
    n = np.array([10.0, 40.0, 300.0, 2000.0])
    fit = an.fit_power_law(n, law(n, 2.7, 5.0))
    assert fit.alpha == pytest.approx(2.7, abs=1e-12) and fit.A == pytest.approx(5.0)
    two_point = -np.log(law(2000.0, 2.7, 5.0) / law(10.0, 2.7, 5.0)) / np.log(200.0)
    assert fit.alpha == pytest.approx(two_point)


def test_an_exact_grid_law_reads_its_rate_in_edges_g_and_a_steeper_one_in_n(tmp_path):
    grids = (3, 5, 10, 20, 50, 100, 200)
    for seed in range(2):
        write_run(
            tmp_path,
            "kan",
            _grid_law(grids, 4.0, shape=(2, 5, 1)),
            grids=grids,
            shape=(2, 5, 1),
            seed=seed,
        )
    fit = an.fit_series(_specs(tmp_path)["KAN [2,5,1]"])
    assert fit.variable == "edges·G" and fit.primary_alpha()[0] == fit.alpha_grid
    assert fit.alpha_grid == pytest.approx(4.0, abs=0.1)
    # N = edges (G + 5): the offset steepens small-G slopes, so alpha in N reads ~5.05
    assert fit.alpha > 4.8
    assert fit.n_window == fit.n_points == 14  # both over the same points: all of them
    assert (fit.edges_g_lo, fit.edges_g_hi) == (15 * 3, 15 * 200)
    assert (fit.n_lo, fit.n_hi) == (15 * 8, 15 * 205)


def test_the_grid_variable_comes_from_shape_and_grid_size_not_n_params_paper():
    stages = pd.DataFrame(
        {
            "family": ["rbfkan", "kan", "mlp"],
            "shape": ["[2,5,1]", [3, 4, 2], None],
            "grid_size": [10, 7, None],
            "n_params_paper": [999, 999, 999],  # a variant's equals its trainable count
        }
    )
    grid = an.grid_variable(stages)
    assert grid.iloc[0] == 15 * 10 and grid.iloc[1] == 20 * 7 and math.isnan(grid.iloc[2])


def test_an_mlp_series_is_fitted_in_n_alone(tmp_path):
    write_run(tmp_path, "mlp", lambda n: law(n, 1.5), widths=[2, 4, 8, 16, 32], grids=GRIDS[:5])
    fit = an.fit_series(_specs(tmp_path)["MLP depth 3"])
    assert fit.variable == "N" and fit.alpha == pytest.approx(1.5)
    assert math.isnan(fit.alpha_grid) and math.isnan(fit.edges_g_lo)


def test_single_seed_interval_is_the_residual_t_interval_and_says_it_ignores_seeds(tmp_path):
    write_run(tmp_path, "kan", _grid_law(GRIDS, 3.0, sigma=0.05, seed=1), grids=GRIDS)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("none"))
    assert fit.alpha_grid_lo < 3.0 < fit.alpha_grid_hi
    assert fit.alpha_grid_hi - fit.alpha_grid_lo < 0.4  # informative, not just wide
    assert fit.interval.startswith("t-interval of the log-log slope (dof 9)")
    assert "ignores seed-to-seed spread" in fit.interval and fit.n_seeds == 1
    # the t-interval is alpha +- t(0.975, n - 2) * se of the log-log slope in edges x G
    stages = an.load_records(tmp_path)
    power = an.fit_power_law(3.0 * stages["grid_size"].to_numpy(float), stages["test_rmse"])
    half = (fit.alpha_grid_hi - fit.alpha_grid_lo) / 2
    assert half == pytest.approx(power.se * 2.2622, rel=1e-3)  # t(0.975, 9)


def test_several_seeds_give_the_mean_of_per_seed_slopes_and_a_t_interval_over_seeds(tmp_path):
    per_seed = []
    for seed in range(5):
        rmse = _grid_law(GRIDS, 3.0, a=2.0 * (1 + 0.1 * seed), sigma=0.05, seed=seed)
        write_run(tmp_path, "kan", rmse, seed=seed, grids=GRIDS)
        per_seed.append(an.fit_power_law(3.0 * np.array(GRIDS), rmse).alpha)
    spec = _specs(tmp_path)["KAN [2,1,1]"]
    fit = an.fit_series(spec, an.Window("none"))
    mean, sd = np.mean(per_seed), np.std(per_seed, ddof=1)
    half = stats.t.ppf(0.975, 4) * sd / math.sqrt(5)
    assert fit.alpha_grid == pytest.approx(mean)
    assert (fit.alpha_grid_lo, fit.alpha_grid_hi) == pytest.approx((mean - half, mean + half))
    assert fit.interval.startswith("t-interval over 5 per-seed slopes")
    assert fit.plateau_interval.startswith("t-interval over 5 per-seed fits")
    assert fit.n_seeds == fit.seeds_fit == 5 and fit.n_runs == 5
    # with fewer seeds than min_seeds the pooled residual t-interval is used, and says so
    fewer = an.fit_series(spec, an.Window("none"), min_seeds=6)
    assert fewer.interval.startswith("t-interval of the log-log slope")
    assert "5 of 5 seeds with a fit (fewer than min_seeds 6)" in fewer.interval


def test_identical_seeds_give_a_zero_width_interval_over_seeds(tmp_path):
    for seed in range(3):  # every seed the same noisy curve: no seed-to-seed spread
        write_run(tmp_path, "kan", _grid_law(GRIDS, 3.0, sigma=0.1, seed=7), seed=seed, grids=GRIDS)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("none"))
    assert fit.alpha_grid_lo == pytest.approx(fit.alpha_grid) == pytest.approx(fit.alpha_grid_hi)


@pytest.mark.parametrize("seeds", [3, 5])
def test_the_95_percent_interval_covers_the_true_alpha_in_95_percent_of_studies(seeds):
    # the percentile bootstrap this replaced covered ~73% (3 seeds) and ~84% (5 seeds)
    rng = np.random.default_rng(2026 + seeds)
    n = np.geomspace(30, 3000, 8).round()
    studies, covered = 400, 0
    for _ in range(studies):
        members = power_law_members(n, 1.5, seeds, 0.05, rng)
        spec = an.SeriesSpec("t", "mlp", "MLP depth 3", "all", True, members)
        fit = an.fit_series(spec, plateau=False)
        assert fit.seeds_fit == seeds and fit.interval.startswith(f"t-interval over {seeds}")
        covered += fit.alpha_lo <= 1.5 <= fit.alpha_hi
    assert covered / studies >= 0.93


def test_plateau_aware_fit_of_data_without_a_floor_finds_e_near_zero():
    n = np.geomspace(20, 5000, 9)
    fit = an.fit_plateau(n, law(n, 3.0, 7.0))
    assert fit.alpha == pytest.approx(3.0, abs=1e-4)
    assert fit.E < 1e-6 * law(n, 3.0, 7.0).min()


def test_plateau_law_over_descent_and_plateau_recovers_alpha_the_power_law_does_not():
    n = np.geomspace(10, 1e4, 13)  # l = 2 N^-4 + 1e-6 reaches its floor near N = 40
    rmse = law(n, 4.0, 2.0, 1e-6)
    members = power_law_members(n, 0.0, 1, 0.0, np.random.default_rng(0))
    members["test_rmse"] = rmse
    fit = an.fit_series(an.SeriesSpec("t", "mlp", "MLP", "all", True, members))
    assert fit.plateau_alpha == pytest.approx(4.0, abs=0.3)
    assert fit.plateau_E == pytest.approx(1e-6, rel=0.05)
    assert fit.plateau_n_hi == n[-1]  # the plateau is in the plateau-aware law's window
    # the power law: its window stops before the floor, shortened to the straight descent
    # (the knee bends it: the first 4 points), so its alpha is the descent's, not the floor's
    assert fit.n_hi < 50 and fit.n_window < fit.plateau_n_window and fit.one_law
    assert fit.alpha > 3.0 and fit.n_lo == n[0]
    # over the plateau itself the power law is refused too, not given a tight interval
    over = an.fit_series(an.SeriesSpec("t", "mlp", "MLP", "all", True, members), an.Window("none"))
    assert math.isnan(over.alpha) and "no single power law" in over.note


def test_plateau_aware_fit_recovers_alpha_and_the_floor_of_a_noisy_kan(tmp_path):
    rmse = _grid_law(GRIDS, 4.0, a=1e3, e=1e-6, sigma=0.03, seed=2)
    write_run(tmp_path, "kan", rmse, grids=GRIDS)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"])
    assert fit.plateau_alpha_grid_lo < 4.0 < fit.plateau_alpha_grid_hi
    assert fit.plateau_E_grid == pytest.approx(1e-6, rel=0.1)
    assert fit.plateau_n_hi == max(fit.n_hi, fit.plateau_n_hi) > fit.n_hi


# --------------------------------------------------------------------------- window


def _u_shaped(n):
    """N^-2 up to N = 315, then rising: the overfitting tail the window must drop."""
    n = np.asarray(n, dtype=float)
    return np.where(n <= 315, n**-2.0, 315.0**-2 * (n / 315.0) ** 1.5)


def _u_grid(n, shape=(2, 1, 1)):
    """(edges x G)^-2 up to G = 100 (N = 315 for [2,1,1]), then rising as G^1.5."""
    g = np.asarray(n, dtype=float) / edges(shape) - 5  # N = edges (G + 5)
    x = edges(shape) * g
    return np.where(g <= 100, x**-2.0, 300.0**-2 * (g / 100) ** 1.5)


def test_an_overfitting_tail_is_left_out_of_both_windows(tmp_path):
    write_run(tmp_path, "kan", _u_grid)  # N = 24, 30, 45, 75, 165, 315, 615, 1515
    spec = _specs(tmp_path)["KAN [2,1,1]"]
    fit = an.fit_series(spec)
    assert fit.n_hi == 315 and fit.plateau_n_hi == 315 and fit.n_points == 8
    assert fit.alpha_grid == pytest.approx(2.0, abs=1e-9) and fit.one_law
    points = an.build_series(spec)
    assert list(points.loc[~points["in_window"], "N"]) == [615, 1515]
    assert list(points.loc[~points["in_plateau_window"], "N"]) == [615, 1515]


def test_min_test_window_ends_at_the_lowest_test_rmse(tmp_path):
    write_run(tmp_path, "kan", _u_grid)
    spec = _specs(tmp_path)["KAN [2,1,1]"]
    fit = an.fit_series(spec, an.Window("min-test"))
    assert fit.n_hi == 315 and fit.n_window == 6
    assert fit.alpha_grid == pytest.approx(2.0, abs=1e-9)
    # every point: a U shape is no single power law, and the note says where it bends
    every = an.fit_series(spec, an.Window("none"))
    assert math.isnan(every.alpha) and math.isnan(every.alpha_grid)
    assert re.search(
        r"α in edges·G is 2\.00 over N 24-45 .* but -[0-9.]+ over N 315-1515", every.note
    )


def test_a_flat_start_is_dropped_from_the_descent_window(tmp_path):
    grids = (3, 5, 10, 20, 50, 100, 200, 500)
    x = 3.0 * np.array(grids)
    rmse = np.where(x <= x[2], 0.5, 0.5 * (x / x[2]) ** -4.0)  # flat up to G = 10, then G^-4
    write_run(tmp_path, "kan", list(rmse), grids=grids)
    spec = _specs(tmp_path)["KAN [2,1,1]"]
    fit = an.fit_series(spec)
    assert fit.n_lo >= 3 * (10 + 5)  # the flat points before G = 10 are out
    assert fit.alpha_grid == pytest.approx(4.0, abs=1e-9)
    # over every point it is no single power law: refused, with the two slopes
    every = an.fit_series(spec, an.Window("none"))
    assert math.isnan(every.alpha_grid) and "no single power law" in every.note


def test_descent_window_leaves_out_a_plateau_that_the_plateau_window_keeps():
    n = np.array([10, 20, 40, 80, 160, 320.0])
    rmse = np.array([1e-1, 1e-2, 1e-3, 1.2e-4, 1.05e-4, 1e-4])  # floor from N = 80
    assert list(an.Window("descent").mask(n, rmse)) == [1, 1, 1, 1, 0, 0]
    assert an.Window("descent").plateau_mask(n, rmse).all()
    assert an.Window("min-test").mask(n, rmse).all()  # min-test takes the plateau in


def test_descent_keeps_at_least_min_points_when_dropping_a_shallow_start():
    n = np.array([10, 20, 40, 80.0])
    rmse = np.array([1.0, 0.99, 0.98, 1e-3])  # shallow all the way to the last segment
    assert an.Window().mask(n, rmse).sum() == an.MIN_POINTS


def test_range_window_keeps_n_between_its_bounds_and_none_keeps_all():
    n = np.array([10, 20, 50, 100, 200.0])
    rmse = np.array([1, 0.5, 0.1, 0.2, 0.3])
    assert list(an.Window("range", n_min=20, n_max=100).mask(n, rmse)) == [0, 1, 1, 1, 0]
    assert list(an.Window("range", n_max=50).mask(n, rmse)) == [1, 1, 1, 0, 0]
    assert an.Window("none").mask(n, rmse).all()
    assert list(an.Window().mask(n, rmse)) == [1, 1, 1, 0, 0]


def test_range_window_is_in_n_even_when_a_kan_is_fitted_in_edges_g(tmp_path):
    write_run(tmp_path, "kan", _grid_law(GRIDS, 3.0), grids=GRIDS)  # N = 3 (G + 5)
    fit = an.fit_series(_specs(tmp_path)["KAN [2,1,1]"], an.Window("range", n_min=30, n_max=75))
    assert (fit.n_lo, fit.n_hi) == (30, 75) and (fit.edges_g_lo, fit.edges_g_hi) == (15, 60)


def test_min_test_window_uses_the_median_over_seeds_at_each_n():
    n = np.array([10, 10, 10, 20, 20, 20, 40, 40, 40.0])
    # at N = 40 one seed is best overall, but the median is lowest at N = 20
    rmse = np.array([1, 1, 1, 0.2, 0.2, 0.2, 0.01, 0.5, 0.5])
    assert an.Window().mask(n, rmse).sum() == 6
    assert an.Window("min-test").mask(n, rmse).sum() == 6


def test_the_one_law_check_never_trips_on_exact_power_laws_and_trips_on_a_knee():
    for alpha in (0.3, 1.0, 4.0, 9.0):
        for n in (np.geomspace(3, 30, 3), np.geomspace(10, 1e5, 12)):
            assert an.one_law(n, law(n, alpha)).holds
    n = np.geomspace(10, 1e4, 9)
    knee = an.one_law(n, law(n, 4.0, 1.0, 1e-8))
    assert not knee.holds and knee.second < an.ONE_LAW_RATIO * knee.first


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
    analysis = an.analyse(an.load_records(tmp_path))
    kan = analysis.fits[analysis.fits["family"] == "kan"].iloc[0]
    assert math.isnan(kan["alpha"]) and kan["note"].startswith("no fit: 2 distinct N")
    summary = an.markdown_table(an.summary_markdown_frame(analysis.summary, (1e-2,)))
    assert "no fit: 2 distinct N" in summary
    assert math.isfinite(analysis.summary.loc[0, "alpha_mlp"])  # the other family still fits


def test_seed_interval_refuses_fewer_than_two_estimates():
    with pytest.raises(ValueError, match="at least 2 estimates, got 1"):
        an.seed_interval([3.0, math.nan])


# --------------------------------------------------------------------------- frontier


def test_frontier_picks_the_lowest_rmse_in_every_log_bin():
    rng = np.random.default_rng(0)
    n = np.round(10 ** rng.uniform(1, 4, 200))
    rmse = 10 ** rng.uniform(-4, 0, 200)
    points = pd.DataFrame({"N": n, "test_rmse": rmse})  # no train RMSE: test decides
    chosen = an.frontier(points, bins_per_decade=4)
    bins = an.log_bins(n, 4)
    expected = points.groupby(bins)["test_rmse"].min()
    assert len(chosen) == len(expected) == len(np.unique(bins))
    assert sorted(chosen["test_rmse"]) == sorted(expected)
    assert chosen["N"].is_monotonic_increasing


def test_frontier_picks_by_train_rmse_not_by_test_rmse():
    points = pd.DataFrame(
        {
            "N": [100, 110, 1000],
            "train_rmse": [1e-3, 2e-3, 1e-4],
            "test_rmse": [5e-3, 1e-3, 2e-4],  # N = 110 is better on the test set only
        }
    )
    assert list(an.frontier(points)["N"]) == [100, 1000]
    points.loc[0, "train_rmse"] = math.nan  # without a train RMSE the test RMSE decides
    assert list(an.frontier(points)["N"]) == [110, 1000]


def test_log_bins_have_edges_at_powers_of_ten_over_bins_per_decade():
    assert list(an.log_bins([9.99, 10, 15.8, 15.9, 100], 5)) == [4, 5, 5, 6, 10]


def test_mlp_frontier_takes_the_run_of_lowest_train_rmse_of_any_depth_in_each_bin(tmp_path):
    widths = [2, 4, 8, 16, 32]
    test2, test3 = [0.5, 0.2, 0.1, 0.05, 0.04], [0.4, 0.05, 0.01, 0.01, 0.02]
    write_run(tmp_path, "mlp", test2, depth=2, widths=widths, train=[0.1] * 5)
    write_run(tmp_path, "mlp", test3, depth=3, widths=widths, train=[0.2] * 5)
    specs = _specs(tmp_path)
    assert set(specs) == {"MLP depth 2", "MLP depth 3", "MLP frontier"}
    points = an.build_series(specs["MLP frontier"], an.Window("none"))
    members = specs["MLP frontier"].members
    bins = an.log_bins(members["N"], an.DEFAULT_BINS_PER_DECADE)
    for _, point in points.iterrows():
        same_bin = members[bins == an.log_bins([point["N"]], an.DEFAULT_BINS_PER_DECADE)[0]]
        assert point["train_rmse"] == same_bin["train_rmse"].min()
        if (same_bin["depth"] == 2).any():  # depth 2 trains better, whatever its test RMSE
            assert point["depth"] == 2
    # bins 7 (N = 33, 37) and 10 (N = 105, 129): depth 3 tests better, depth 2 trains better
    shared = points[points["N"].isin([33, 37, 105, 129])]
    assert list(shared["N"]) == [33, 129] and list(shared["test_rmse"]) == [0.1, 0.04]
    assert specs["MLP frontier"].primary and not specs["MLP depth 3"].primary


def test_a_frontier_series_fits_each_seeds_own_frontier(tmp_path):
    widths = [2, 4, 8, 16, 32, 64]
    alphas = []
    for seed, alpha in enumerate((1.0, 1.2, 1.4)):
        for depth in (2, 3):
            write_run(tmp_path, "mlp", _noisy(alpha, 0.0, 0), depth=depth, widths=widths, seed=seed)
        alphas.append(alpha)
    spec = _specs(tmp_path)["MLP frontier"]
    fit = an.fit_series(spec, an.Window("none"))
    assert fit.seeds_fit == 3 and fit.alpha == pytest.approx(np.mean(alphas))
    # the pooled frontier (the plotted one) takes the steepest seed in every bin
    pooled = an.build_series(spec, an.Window("none"))
    assert an.fit_power_law(pooled["N"], pooled["test_rmse"]).alpha == pytest.approx(1.4)


# --------------------------------------------------------------------------- loading


def test_records_flatten_to_one_row_per_stage_with_run_status_and_config(tmp_path):
    write_run(tmp_path, "kan", _u_shaped, status="diverged")
    stages = an.load_records(tmp_path)
    assert len(stages) == 8 and set(stages["run_status"]) == {"diverged"}
    assert json.loads(stages["config"].iloc[0])["model"]["family"] == "kan"
    assert stages["shape"].iloc[0] == "[2,1,1]" and stages["grid_size"].dtype == "Int64"


def test_records_from_before_the_optimum_load_with_nan_and_none(tmp_path):
    write_run(tmp_path, "kan", _u_shaped)  # no lsq_train_rmse / lsq_scope fields
    stages = an.load_records(tmp_path)
    assert stages["lsq_train_rmse"].isna().all() and stages["lsq_scope"].isna().all()
    assert stages["gap"].isna().all() and set(stages["stall"]) == {""}
    assert (stages["n_train"] == 1000).all()


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


# --------------------------------------------------------------------------- optimality

SMALL = (3, 5, 10, 20)  # N = 2 (G + 5) <= 50 for a [2,1] KAN: far below n_train / 2 = 500


def _flags(folder):
    stages = an.load_records(folder)
    return dict(zip(stages["grid_size"], stages["stall"], strict=True)), stages


def test_a_stage_10x_above_its_optimum_is_flagged_and_one_at_1_2x_is_not(tmp_path):
    test = _grid_law(SMALL, 4.0, shape=(2, 1))
    train = [0.8 * t for t in test]
    lsq = [train[0] / 1.2, train[1] / 10, train[2] / 1.2, train[3]]
    write_run(tmp_path, "kan", test, grids=SMALL, shape=(2, 1), train=train, lsq=lsq)
    flags, stages = _flags(tmp_path)
    assert flags == {3: "", 5: "above its optimum", 10: "", 20: ""}
    assert stages["gap"].tolist() == pytest.approx([1.2, 10, 1.2, 1.0])
    assert set(stages["lsq_scope"]) == {"model"}


def test_a_stage_near_interpolation_is_not_flagged_whatever_its_gap(tmp_path):
    test = _grid_law(SMALL, 4.0, shape=(2, 1))
    train = [0.8 * t for t in test]
    lsq = [t / 10 for t in train]
    write_run(tmp_path, "kan", test, grids=SMALL, shape=(2, 1), train=train, lsq=lsq, n_train=60)
    flags, _ = _flags(tmp_path)  # N = 16, 20, 30, 50: only N <= 30 = n_train / 2 counts
    assert flags == {
        3: "above its optimum",
        5: "above its optimum",
        10: "above its optimum",
        20: "",
    }
    # nor the last layer of a deeper KAN: its own coefficients can outnumber the points too
    write_run(tmp_path / "deep", "kan", test, grids=SMALL, train=train, lsq=lsq, n_train=60)
    flags, stages = _flags(tmp_path / "deep")  # [2,1,1]: N = 24, 30, 45, 75
    assert flags == {3: "above its optimum", 5: "above its optimum", 10: "", 20: ""}
    assert set(stages["lsq_scope"]) == {"last layer"}


def test_a_stage_without_an_optimum_whose_train_rmse_does_not_fall_is_flagged(tmp_path):
    train = [1e-2, 1e-3, 0.95e-3, 1e-5]  # G = 10 barely improves on G = 5
    write_run(tmp_path, "kan", [2 * t for t in train], grids=SMALL, train=train)
    flags, _ = _flags(tmp_path)
    assert flags == {3: "", 5: "", 10: "not falling", 20: ""}
    write_run(
        tmp_path / "big", "kan", [2 * t for t in train], grids=SMALL, train=train, n_train=40
    )  # N = 24, 30, 45, 75 > 20 = n_train / 2: not judged
    assert set(_flags(tmp_path / "big")[0].values()) == {""}


def test_a_series_with_stalled_stages_in_its_window_says_so_and_tables_mark_it(tmp_path):
    test = _grid_law(GRIDS, 4.0, shape=(2, 1))
    train = [0.8 * t for t in test]
    lsq = [t / (10 if i in (3, 4) else 1.5) for i, t in enumerate(train)]
    write_run(tmp_path, "kan", test, grids=GRIDS, shape=(2, 1), train=train, lsq=lsq)
    analysis = an.analyse(an.load_records(tmp_path))
    fit = analysis.fits.iloc[0]
    assert fit["n_stalled"] == 2 and "2 stalled stages in the window" in fit["note"]
    assert "the slope measures the optimiser" in fit["note"]
    fits_md = an.markdown_table(an.fits_markdown_frame(analysis.fits))
    summary_md = an.markdown_table(an.summary_markdown_frame(analysis.summary, (1e-2,)))
    assert f"{fit['alpha_grid']:.2f}" in fits_md and an.STALLED_MARK in fits_md
    assert an.STALLED_MARK in summary_md
    row = analysis.optimality.iloc[0]
    assert (row["stages"], row["with_optimum"], row["within_limit"]) == (11, 11, 9)
    assert row["largest_gap"] == pytest.approx(10) and row["largest_gap_G"] in (10, 15)
    flagged = analysis.flagged
    assert list(flagged["G"]) == [10, 15] and set(flagged["flag"]) == {"above its optimum"}
    assert flagged["gap"].tolist() == pytest.approx([10, 10])
    assert list(flagged.columns) == list(an.FLAGGED_COLUMNS)


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


def test_tables_label_each_alpha_with_its_variable_and_set_kan_beside_theory(tmp_path):
    write_run(tmp_path, "kan", _grid_law(GRIDS, 4.0), grids=GRIDS)
    write_run(tmp_path, "mlp", lambda n: law(n, 1.0), widths=[2, 4, 8, 16, 32], grids=GRIDS[:5])
    analysis = an.analyse(an.load_records(tmp_path))
    row = analysis.summary.iloc[0]
    kan = analysis.fits[analysis.fits["family"] == "kan"].iloc[0]
    # the summary's KAN alpha is the one in edges x G, the MLP's the one in N
    assert row["variable_kan"] == "edges·G" and row["alpha_kan"] == pytest.approx(4.0)
    assert row["alpha_kan"] == kan["alpha_grid"] != kan["alpha"]
    assert row["variable_mlp"] == "N" and row["alpha_mlp"] == pytest.approx(1.0)
    summary = an.summary_markdown_frame(analysis.summary, (1e-2,))
    columns = list(summary.columns)
    kan_alpha = columns.index("α KAN in edges·G")
    assert columns[kan_alpha + 1] == "theory KAN k+1 in edges·G"
    assert columns[columns.index("α MLP in N") + 1] == "theory MLP 4/d in N"
    assert not any("α KAN in N" in c for c in columns)  # only the grid alpha beside k + 1
    fits = an.fits_markdown_frame(analysis.fits).set_index("series")
    assert fits.loc["KAN [2,1,1] *", "α in edges·G"].startswith("4.00")
    assert fits.loc["KAN [2,1,1] *", "window"] == "N 24-1515 (edges·G 9-1500)"
    assert fits.loc["MLP depth 3", "α in edges·G"] == "-"
    assert fits.loc["MLP depth 3", "interval"].endswith("ignores seed-to-seed spread")


def test_a_staged_family_new_to_the_registry_is_reported_and_fitted_in_edges_g(
    tmp_path, monkeypatch
):
    newcomer = replace(families.FAMILIES["kan"], name="newkan", label="new KAN", knob="K")
    monkeypatch.setitem(families.FAMILIES, "newkan", newcomer)
    write_run(tmp_path, "newkan", _grid_law(GRIDS, 3.0), grids=GRIDS)
    write_run(tmp_path, "mlp", lambda n: law(n, 1.0), widths=[2, 4, 8, 16, 32], grids=GRIDS[:5])
    analysis = an.analyse(an.load_records(tmp_path))
    fit = analysis.fits.set_index("series").loc["new KAN [2,1,1]"]
    assert fit["family"] == "newkan" and fit["variable"] == "edges·G"
    row = analysis.summary.iloc[0]
    assert row["variable_newkan"] == "edges·G" and row["alpha_newkan"] == pytest.approx(3.0)
    summary = an.summary_markdown_frame(analysis.summary, (1e-2,))
    assert summary.loc[0, "α new KAN in edges·G"].startswith("3.00")
    assert an.optimality_table(an.series_specs(analysis.stages))["series"].tolist() == [
        "new KAN [2,1,1]"
    ]


def test_a_family_the_registry_does_not_know_is_loaded_but_not_analysed(tmp_path):
    write_run(tmp_path, "kan_retired", _grid_law(GRIDS, 3.0), grids=GRIDS)
    write_run(tmp_path, "kan", _grid_law(GRIDS, 4.0), grids=GRIDS)
    stages = an.load_records(tmp_path)
    assert set(stages["family"]) == {"kan", "kan_retired"}
    assert {s.family for s in an.series_specs(stages)} == {"kan"}
    retired = stages["family"] == "kan_retired"
    assert an.grid_variable(stages)[retired].isna().all()
    assert not (stages.loc[retired, "stall"] != "").any()
    assert "alpha_kan_retired" not in an.analyse(stages).summary


def test_points_carry_the_optimum_and_the_gap(tmp_path):
    test = _grid_law(SMALL, 4.0, shape=(2, 1))
    write_run(tmp_path, "kan", test, grids=SMALL, shape=(2, 1), lsq=[t / 2 for t in test])
    analysis = an.analyse(an.load_records(tmp_path))
    paths = an.write_tables(analysis, tmp_path / "out")
    points = pd.read_csv(paths["points.csv"])
    assert points["lsq_train_rmse"].tolist() == pytest.approx([t / 2 for t in test])
    assert points["gap"].tolist() == pytest.approx([1.6] * 4)  # train = 0.8 x test
    assert {"edges_g", "in_plateau_window", "stall"} <= set(points.columns)


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


def test_a_seed_stuck_far_above_the_others_is_flagged(tmp_path):
    test = _grid_law(SMALL, 4.0, shape=(2, 1))
    train = [0.8 * t for t in test]
    for seed in (0, 1, 2):
        stuck = [t * (30 if seed == 1 else 1) for t in train]
        lsq = [t / 1.2 for t in stuck]  # every stage at its own optimum
        write_run(tmp_path, "kan", test, grids=SMALL, shape=(2, 1), train=stuck, lsq=lsq, seed=seed)
    stages = an.load_records(tmp_path)
    flagged = stages[stages["stall"] != ""]
    assert set(flagged["seed"]) == {1} and len(flagged) == len(SMALL)
    assert set(flagged["stall"]) == {"far above the other seeds"}
    # with two seeds nothing is judged
    two = stages[stages["seed"] != 2].drop(columns=["stall"])
    assert set(an.optimality_columns(two)["stall"]) == {""}
