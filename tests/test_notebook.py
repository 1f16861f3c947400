"""The notebook API exported by `kanbench`: load a study, fit it, its tables and figures are
those of kanbench.analysis and kanbench.plots, the README's example runs as written on the
committed study, and `import kanbench` stays cheap."""

import io
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from synthetic_runs import law, write_run

import kanbench
from kanbench import analysis as an
from kanbench import plots

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "results" / "default_study"
EXAMPLE = STUDY / "notebook_example.py"


@pytest.fixture(scope="module")
def study():
    return kanbench.load_study(STUDY)


@pytest.fixture(scope="module")
def analysis(study):
    return kanbench.fit(study)


def test_every_exported_name_resolves_and_is_documented():
    for name in kanbench.__all__:
        value = getattr(kanbench, name)
        assert value.__doc__, name
        assert name in dir(kanbench)
    assert kanbench.load_study is an.load_study and kanbench.Analysis is an.Analysis
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        kanbench.fitt  # noqa: B018


def test_import_kanbench_imports_neither_torch_nor_pandas():
    code = "import sys, kanbench; print(sorted({'torch', 'pandas'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_readme_example_runs_as_written(tmp_path):
    """Run from a folder whose results/ is the repository's, so that what it writes lands in
    tmp_path; its alphas are the committed summary's."""
    (tmp_path / "results").symlink_to(ROOT / "results", target_is_directory=True)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "scaling_exp_sin_y2.png").stat().st_size > 0
    committed = pd.read_csv(STUDY / "summary.csv").iloc[0]
    last = done.stdout.strip().splitlines()[-1].split()
    assert last[1] == "exp_sin_y2"
    printed = [float(v) for v in last[2:]]
    columns = ["alpha_kan", "alpha_lo_kan", "alpha_hi_kan", "alpha_mlp"]
    assert printed == pytest.approx([committed[c] for c in columns], rel=1e-5)


def test_the_readme_shows_the_example_file_when_it_shows_one():
    """Every Python block of the README that uses kanbench.load_study is the example file's
    text, so the README's example is the one that runs above."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    for block in (b for b in blocks if "kanbench.load_study(" in b):
        assert block == EXAMPLE.read_text()


def test_the_committed_records_give_the_committed_tables(analysis):
    """results/default_study's tables reproduce from its records (the columns committed)."""
    tables = kanbench.tables(analysis)
    for name in ("summary", "fits", "optimality", "points"):
        committed = pd.read_csv(STUDY / f"{name}.csv")
        made = tables[name][list(committed.columns)]
        made = pd.read_csv(io.StringIO(made.to_csv(index=False)))  # as CSV reads it
        pd.testing.assert_frame_equal(made, committed, rtol=1e-9, obj=name)


def test_fit_takes_a_study_its_stage_frame_or_its_folder(study, analysis):
    for given in (study.stages, STUDY, [STUDY]):
        pd.testing.assert_frame_equal(kanbench.fit(given).fits, analysis.fits)
    assert analysis.settings == an.Settings()


def test_fit_settings_are_those_of_kanbench_report(study):
    made = kanbench.fit(study, convention="paper", n_max=200, thresholds=[1e-3], min_seeds=3)
    s = made.settings
    assert s.convention == "paper" and s.window == an.Window("range", None, 200)
    assert s.thresholds == (1e-3,) and s.min_seeds == 3
    assert "n_to_0.001_kan" in made.summary and "n_to_0.01_kan" not in made.summary
    direct = an.analyse(study.stages, s)
    pd.testing.assert_frame_equal(made.summary, direct.summary)
    assert kanbench.fit(study, window="none").settings.window == an.Window("none")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"convention": "edges"}, "convention must be one of"),
        ({"window": "widest"}, "window must be one of"),
        ({"window": "none", "n_min": 30}, "n_min / n_max go with window 'range'"),
        ({"min_seeds": 1}, "min_seeds must be an integer >= 2"),
        ({"level": 1.5}, "level must lie in"),
    ],
)
def test_fit_refuses_a_bad_setting_by_name(study, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kanbench.fit(study, **kwargs)


def test_fit_refuses_what_is_not_a_study():
    with pytest.raises(TypeError, match="study must be a Study, a stage frame or folders, got int"):
        kanbench.fit(3)
    with pytest.raises(ValueError, match="does not exist"):
        kanbench.fit("no/such/folder")


def test_tables_are_copies_of_the_analysis_frames(analysis):
    tables = kanbench.tables(analysis)
    assert list(tables) == ["summary", "fits", "theory", "optimality", "flagged", "points"]
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, getattr(analysis, name))
        assert frame is not getattr(analysis, name)
    tables["summary"].loc[0, "alpha_kan"] = math.nan
    assert math.isfinite(analysis.summary.loc[0, "alpha_kan"])


def test_formatted_tables_are_the_reports_markdown_frames(analysis):
    formatted = kanbench.tables(analysis, formatted=True)
    expected = an.summary_markdown_frame(analysis.summary, analysis.settings.thresholds)
    pd.testing.assert_frame_equal(formatted["summary"], expected)
    assert an.markdown_table(formatted["fits"]) == (STUDY / "fits.md").read_text()
    assert list(formatted) == list(kanbench.tables(analysis))
    pd.testing.assert_frame_equal(formatted["points"], analysis.points)
    with pytest.raises(TypeError, match="analysis must be an Analysis"):
        kanbench.tables({})


def test_plot_scaling_draws_the_points_of_the_analysis(analysis):
    figure = kanbench.plot_scaling(analysis)  # the only task
    assert isinstance(figure, Figure)
    mine = plots.scaling_figure(analysis, "exp_sin_y2")
    drawn = sorted(line.get_label() for line in figure.axes[0].get_lines())
    assert drawn == sorted(line.get_label() for line in mine.figure.axes[0].get_lines())

    ax = Figure().add_subplot()
    assert kanbench.plot_scaling(analysis, "exp_sin_y2", ax=ax) is ax
    points = analysis.points
    kan = points[points["primary"] & (points["family"] == "kan")]
    (line,) = [line for line in ax.get_lines() if line.get_label() == kan["series"].iloc[0]]
    assert list(line.get_xdata()) == list(kan["N"]) and list(line.get_ydata()) == list(
        kan["test_rmse"]
    )


def test_plot_scaling_names_the_tasks_there_are(analysis, tmp_path):
    with pytest.raises(ValueError, match=r"unknown task 'sin'; the analysis has \['exp_sin_y2'\]"):
        kanbench.plot_scaling(analysis, "sin")
    for task in ("exp_sin_y2", "bessel_j0_20x"):
        write_run(tmp_path, "kan", lambda n: law(n, 4.0), task=task, grids=(3, 5, 10, 20))
    two = kanbench.fit(tmp_path)
    assert len(kanbench.plot_scaling(two).axes) >= 2  # a panel per task
    with pytest.raises(ValueError, match="task must name one task"):
        kanbench.plot_scaling(two, ax=Figure().add_subplot())


def test_plot_history_and_plot_cost(study, analysis):
    figure = kanbench.plot_history(study)  # the only KAN history
    expected = plots.history_figure(study.history, study.stages, "exp_sin_y2", "[2,1,1]")
    assert len(figure.axes) == len(expected.figure.axes) == 2
    assert kanbench.plot_history(study, "exp_sin_y2", "[2,1,1]").axes
    with pytest.raises(ValueError, match=r"no KAN history.*\('exp_sin_y2', '\[2,1,1\]'\)"):
        kanbench.plot_history(study, shape="[2,5,1]")
    with pytest.raises(TypeError, match="study must be a Study"):
        kanbench.plot_history(analysis)
    assert isinstance(kanbench.plot_cost(analysis), Figure)
