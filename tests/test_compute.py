"""Compute scaling (kanbench.analysis.compute): frontiers in cost, who is ahead at equal
cost, fits in C, the cost to reach a test RMSE, and the report's compute section."""

import math

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import law, power_law_members, write_run

from kanbench import analysis as an
from kanbench import plots
from kanbench.analysis.compute import lead_sentence
from kanbench.analysis.series import log_bins
from kanbench.report import main


def _dominated(cost, rmse, i) -> bool:
    return bool(
        np.any((cost <= cost[i]) & (rmse <= rmse[i]) & ((cost < cost[i]) | (rmse < rmse[i])))
    )


def test_the_pareto_frontier_holds_the_cheapest_point_of_every_rmse_level():
    rng = np.random.default_rng(0)
    for _ in range(20):
        cost = 10 ** rng.uniform(6, 10, 40)
        rmse = 10 ** rng.uniform(-6, -1, 40)
        chosen = an.pareto_indices(cost, rmse)
        for i in range(cost.size):  # on it exactly when no other point dominates it
            assert (i in chosen) == (not _dominated(cost, rmse, i))
        for level in rmse:  # the least compute per RMSE level
            reaching = np.flatnonzero(rmse <= level)
            assert reaching[np.argmin(cost[reaching])] in chosen
        assert np.all(np.diff(cost[chosen]) > 0) and np.all(np.diff(rmse[chosen]) < 0)


def test_the_pareto_frontier_keeps_the_cheaper_of_two_equal_points_and_skips_nan():
    cost = np.array([5.0, 3.0, 3.0, 8.0, math.nan])
    rmse = np.array([0.1, 0.2, 0.2, 0.05, 0.01])
    assert an.pareto_indices(cost, rmse).tolist() == [1, 0, 3]


def _noisy(seed: int, a: float, alpha: float):
    """l = a N^-alpha times 10% log-normal noise, a curve for write_run."""
    rng = np.random.default_rng(seed)
    return lambda n: law(n, alpha, a) * np.exp(0.1 * rng.normal(size=np.size(n)))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """exp_sin_y2: three KAN seeds (steep in N) and MLPs of depth 2 and 3 (shallow), whose
    costs the loader derives from their evaluations (the synthetic records predate them)."""
    folder = tmp_path_factory.mktemp("compute")
    for seed in range(3):
        write_run(folder, "kan", _noisy(seed, 200.0, 3.0), seed=seed, steps=6)
        for depth in (2, 3):
            curve = _noisy(10 * depth + seed, 1.0, 0.8)
            write_run(folder, "mlp", curve, seed=seed, depth=depth, steps=3 * depth)
    return folder


def test_the_binned_compute_frontier_picks_the_lowest_train_rmse_in_every_cost_bin(study):
    compute = an.compute_analysis(an.load_records(study))
    for (family, axis), drawn in compute.frontier.groupby(["family", "axis"]):
        column = an.COST_AXES[axis]
        members = compute.points[compute.points["family"] == family]
        bins = log_bins(members[column].to_numpy(), 5)
        best = members.assign(bin=bins).groupby("bin")["train_rmse"].min()
        picked = drawn.assign(bin=log_bins(drawn["cost"].to_numpy(), 5))
        assert sorted(picked["bin"]) == sorted(best.index)  # one point per bin
        for _, point in picked.iterrows():
            assert point["train_rmse"] == best[point["bin"]]


def test_points_are_flagged_on_their_task_and_family_pareto_frontiers(study):
    compute = an.compute_analysis(an.load_records(study))
    points = compute.points
    for axis, column in an.COST_AXES.items():
        cost = points[column].to_numpy(dtype=float)
        train = points["train_rmse"].to_numpy(dtype=float)
        for i in range(len(points)):
            assert points[f"on_pareto_{axis}"].iloc[i] == (not _dominated(cost, train, i))
        mlp = (points["family"] == "mlp").to_numpy()
        for i in np.flatnonzero(mlp):
            on = not _dominated(cost[mlp], train[mlp], int(np.sum(mlp[:i])))
            assert points[f"on_family_pareto_{axis}"].iloc[i] == on


def _points(rows):
    frame = pd.DataFrame(rows, columns=["family", "cost", "train_rmse", "test_rmse"])
    return frame.assign(task="t", cum_train_flops=frame["cost"], run_id=frame["family"])


def test_the_family_ahead_is_the_one_with_the_lower_test_rmse_at_each_budget():
    # the MLP is cheap and flat, the KAN starts later and falls fast: the MLP alone below
    # 10, ahead from 10 (0.1 < 0.5), the KAN from 100 on (0.01 < 0.05)
    points = _points(
        [
            ("mlp", 1.0, 0.3, 0.3),
            ("mlp", 10.0, 0.1, 0.1),
            ("mlp", 100.0, 0.05, 0.05),
            ("mlp", 1000.0, 0.06, 0.06),  # dominated: costs more and is worse
            ("kan", 10.0, 0.5, 0.5),
            ("kan", 100.0, 0.01, 0.01),
            ("kan", 1000.0, 0.0001, 0.0002),
        ]
    )
    segments = an.leaders(points, "cum_train_flops")
    assert segments["leader"].tolist() == ["mlp", "kan"]
    assert segments["start"].tolist() == [10.0, 100.0]
    assert segments["leader_rmse"].tolist() == [0.1, 0.01]
    assert segments["runner_up_rmse"].tolist() == [0.5, 0.05]
    sentence = lead_sentence("t", "flops", segments, points)
    assert sentence == (
        "t, at equal training FLOPs: below 1.0e1 FLOPs only the MLP has runs; from there "
        "the MLP is ahead below 1.0e2 FLOPs, the KAN from 1.0e2 FLOPs on; at the largest "
        "budget the KAN's test RMSE is 2.0e-04, the MLP's 5.0e-02."
    )


def test_a_budget_buys_the_lowest_train_rmse_within_it_not_the_lowest_test_rmse():
    # the KAN's last point has the lower train RMSE but the higher test RMSE (overfit):
    # with every budget it is the one the KAN picks, so the MLP is ahead there
    points = _points(
        [
            ("mlp", 1.0, 0.2, 0.2),
            ("mlp", 100.0, 0.02, 0.02),
            ("kan", 1.0, 0.1, 0.01),
            ("kan", 100.0, 0.001, 0.05),
        ]
    )
    frontier = an.pareto_frontier(points[points["family"] == "kan"], "cum_train_flops")
    assert an.at_budget(frontier, "cum_train_flops", [0.5, 1.0, 50.0, 1e6]) == pytest.approx(
        [math.nan, 0.01, 0.01, 0.05], nan_ok=True
    )
    segments = an.leaders(points, "cum_train_flops")
    assert segments["leader"].tolist() == ["kan", "mlp"]


def test_compute_fits_read_gamma_of_an_exact_power_law_in_cost():
    rng = np.random.default_rng(1)
    n = np.geomspace(100, 1e5, 10)
    members = power_law_members(n, 1.5, seeds=3, sigma=0.0, rng=rng)
    stages = members.drop(columns=["N"]).assign(
        cum_train_flops=members["N"] * 1e6, cum_wall_s=members["N"] / 100, depth=3
    )
    compute = an.compute_analysis(stages, an.Settings(window=an.Window("none")))
    fits = compute.fits.set_index("axis")
    assert fits.loc["flops", "gamma"] == pytest.approx(1.5, abs=1e-9)
    assert fits.loc["seconds", "gamma"] == pytest.approx(1.5, abs=1e-9)
    assert fits.loc["flops", "cost_lo"] == pytest.approx(1e8)
    assert "3 per-seed slopes" in fits.loc["flops", "interval"]
    # the least cost reaching each threshold: l = 2 C'^-1.5, C' = C / 1e6
    reach = compute.reach[(compute.reach["axis"] == "flops")].set_index("threshold")["cost"]
    for threshold in compute.settings.thresholds:
        reached = stages.loc[stages["test_rmse"] <= threshold, "cum_train_flops"]
        expected = reached.min() if not reached.empty else math.nan
        assert reach[threshold] == pytest.approx(expected, nan_ok=True)


def test_the_report_has_a_compute_section_and_a_compute_only_report_holds_only_it(study, tmp_path):
    out = tmp_path / "both"
    assert main([str(study), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "## Compute scaling" in text and "## Summary" in text
    assert "exp_sin_y2, at equal training FLOPs:" in text
    assert "exp_sin_y2, at equal training seconds:" in text
    assert "have their cost derived" in text
    for name in ("compute_fits", "compute_reach", "compute_leaders"):
        assert (out / f"{name}.csv").stat().st_size > 0 and (out / f"{name}.md").exists()
    assert (out / "compute_exp_sin_y2.png").exists() and (out / "compute_points.csv").exists()

    only = tmp_path / "compute"
    assert main([str(study), "--out", str(only), "--sections", "compute"]) == 0
    text = (only / "report.md").read_text()
    assert "## Compute scaling" in text and "## Summary" not in text
    assert not (only / "summary.csv").exists() and not (only / "scaling_all.png").exists()
    assert (only / "compute_exp_sin_y2.png").exists()


def test_the_compute_figure_draws_each_familys_pareto_frontier(study):
    compute = an.compute_analysis(an.load_records(study))
    drawn = plots.compute_figure(compute, "exp_sin_y2")
    for axis, column in an.COST_AXES.items():
        shown = drawn.data(kind="frontier", panel=f"exp_sin_y2 {axis}")
        for family, rows in shown.groupby("series"):
            points = compute.points[compute.points["family"] == family]
            flagged = points[points[f"on_family_pareto_{axis}"]].sort_values(column)
            assert rows["x"].tolist() == pytest.approx(flagged[column].tolist())
            assert rows["y"].tolist() == pytest.approx(flagged["test_rmse"].tolist())
