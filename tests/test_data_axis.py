"""The data axis (kanbench.analysis.data_axis): a run's point is its fixed model, series
are models that differ only in D, and an exact law in D reads its exponent."""

import numpy as np
import pytest
from synthetic_runs import law, write_run

from kanbench.analysis import load_records
from kanbench.analysis.data_axis import data_analysis, data_markdown_frame, data_points
from kanbench.plots.data import data_figure

SIZES = (100, 316, 1000, 3162, 10000)
GRIDS = (3, 5, 10, 20, 50)


def _study(folder, beta=1.0, kan_status=None):
    for d in SIZES:
        # the staged KAN: earlier stages are worse; the last (G = 50) is the fixed model
        final = float(law(d, beta, a=0.5))
        write_run(
            folder, "kan", [final * 10 ** (len(GRIDS) - i - 1) for i in range(len(GRIDS))],
            grids=GRIDS, n_train=d, run_id=f"kan-{d}",
            stage_status=None if kan_status is None or d != 1000 else kan_status,
        )  # fmt: skip
        write_run(
            folder, "mlp", [float(law(d, beta / 2, a=0.5))], grids=(3,), widths=[64],
            n_train=d, run_id=f"mlp-{d}",
        )  # fmt: skip


def test_a_run_is_its_last_stage_at_its_d(tmp_path):
    _study(tmp_path)
    points = data_points(load_records(tmp_path))
    assert sorted(points["series"].unique()) == ["KAN [2,1,1] G=50", "MLP 3x64"]
    kan = points[points["family"] == "kan"].sort_values("D")
    assert kan["D"].tolist() == list(map(float, SIZES))
    np.testing.assert_allclose(kan["test_rmse"], law(np.array(SIZES), 1.0, a=0.5), rtol=1e-12)


def test_an_exact_law_in_d_reads_its_exponent(tmp_path):
    _study(tmp_path, beta=1.5)
    fits = data_analysis(load_records(tmp_path)).fits.set_index("series")
    assert fits.loc["KAN [2,1,1] G=50", "beta"] == pytest.approx(1.5, abs=1e-6)
    assert fits.loc["MLP 3x64", "beta"] == pytest.approx(0.75, abs=1e-6)
    table = data_markdown_frame(fits.reset_index())
    assert table.loc[0, "β in D"].startswith("1.50")


def test_a_run_whose_last_stage_failed_gives_no_point(tmp_path):
    _study(tmp_path, kan_status=["complete"] * 4 + ["diverged"])
    points = data_points(load_records(tmp_path))
    kan = points[points["family"] == "kan"]
    assert 1000.0 not in kan["D"].tolist() and len(kan) == len(SIZES) - 1


def test_models_that_differ_are_different_series(tmp_path):
    _study(tmp_path)
    for d in SIZES:  # the same family, another shape
        write_run(
            tmp_path, "kan", [float(law(d, 1.0))] * len(GRIDS), grids=GRIDS, shape=(2, 2, 1),
            n_train=d, run_id=f"kan221-{d}",
        )  # fmt: skip
    points = data_points(load_records(tmp_path))
    assert points.groupby("series")["D"].nunique().to_dict() == {
        "KAN [2,1,1] G=50": 5,
        "KAN [2,2,1] G=50": 5,
        "MLP 3x64": 5,
    }


def test_the_figure_draws_every_series_and_its_fit(tmp_path):
    _study(tmp_path)
    drawn = data_figure(data_analysis(load_records(tmp_path)), "exp_sin_y2")
    shown = drawn.data()
    assert set(shown["kind"]) == {"points", "fit"}
    points = set(shown.loc[shown["kind"] == "points", "label"])
    assert points == {"KAN [2,1,1] G=50", "MLP 3x64"}
    assert shown.loc[shown["kind"] == "fit", "label"].str.startswith("fit β=").all()


def test_the_report_has_a_data_section_only_where_a_study_varies_d(tmp_path):
    from kanbench.report import main

    _study(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--sections", "data"]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert text.startswith("# Data scaling report") and "## Data scaling" in text
    assert "KAN [2,1,1] G=50 (N = 165): β = 1.00" in text
    assert (tmp_path / "rep" / "data_fits.csv").is_file()
    assert (tmp_path / "rep" / "data_exp_sin_y2.png").is_file()
    write_run(tmp_path / "one", "kan", law(np.array([1.0, 2.0, 3.0]), 1.0), grids=(3, 5, 10))
    assert main([str(tmp_path / "one"), "--out", str(tmp_path / "rep1")]) == 0
    assert "## Data scaling" not in (tmp_path / "rep1" / "report.md").read_text()
    assert not (tmp_path / "rep1" / "data_fits.csv").exists()
