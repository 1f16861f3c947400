"""The notebook API: load a study, fit it, make its tables and draw its figures from Python,
with the names that `kanbench` exports (kanbench.load_study, kanbench.fit, ...).

    import kanbench

    study = kanbench.load_study("results/default_study")  # every records/*.json under it
    analysis = kanbench.fit(study)                         # the fits of kanbench-report
    kanbench.tables(analysis)["summary"]                   # alpha per task and family
    kanbench.plot_scaling(analysis, "exp_sin_y2")          # test RMSE against N

Each function is a thin wrapper over kanbench.analysis (load_study, analyse and its tables)
and kanbench.plots, so a notebook gets the numbers and figures that kanbench-report writes.
The figures are matplotlib Figures drawn without pyplot: in Jupyter one shows as a cell's
value once matplotlib's inline backend is on (after `import matplotlib.pyplot`), and
`figure.savefig(path)` writes it; or pass `ax` (from `plt.subplots()`) to draw on your own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from kanbench import analysis as an
from kanbench import plots
from kanbench.analysis import Analysis, Study, load_study

TABLES = ("summary", "fits", "theory", "optimality", "flagged", "points")
_FORMATTED = {
    "summary": lambda a: an.summary_markdown_frame(a.summary, a.settings.thresholds),
    "fits": lambda a: an.fits_markdown_frame(a.fits),
    "optimality": lambda a: an.optimality_markdown_frame(a.optimality),
    "flagged": lambda a: an.flagged_markdown_frame(a.flagged),
}


def fit(
    study: Study | pd.DataFrame | str | os.PathLike | Iterable[str | os.PathLike],
    *,
    convention: str = "trainable",
    window: str | None = None,
    n_min: float | None = None,
    n_max: float | None = None,
    bins_per_decade: int = an.DEFAULT_BINS_PER_DECADE,
    min_seeds: int = an.DEFAULT_MIN_SEEDS,
    thresholds: Sequence[float] = an.DEFAULT_THRESHOLDS,
    level: float = 0.95,
) -> Analysis:
    """Fit the scaling laws of a study, as kanbench-report does, and make every table.

    Args:
        study: a Study (from load_study), its stage frame (study.stages, possibly
            filtered), or one folder or several to load.
        convention: the parameter count N: 'trainable' (every trainable number) or
            'paper' (the KAN paper's edges x G).
        window: the fit window: 'descent' (the default), 'min-test', 'none' or 'range';
            n_min / n_max (the N range) imply 'range'.
        bins_per_decade: log-spaced N bins per decade of a frontier.
        min_seeds: seeds with a fit that the t-interval over seeds needs (else the pooled
            fit's residual interval).
        thresholds: the test RMSE levels of the summary's 'N to reach' columns.
        level: the confidence level of the intervals of alpha.

    Returns:
        The Analysis: its stages, points (what the plots draw), fits (one row per
        series), summary (one row per task), theory, optimality and flagged frames, and
        the settings used.

    Raises:
        TypeError: study is none of the above.
        ValueError: a bad setting (naming it and the allowed values), or folders without
            run records.
    """
    if isinstance(study, Study):
        stages = study.stages
    elif isinstance(study, pd.DataFrame):
        stages = study
    elif isinstance(study, str | os.PathLike | Iterable):
        stages = load_study(study).stages
    else:
        raise TypeError(
            f"study must be a Study, a stage frame or folders, got {type(study).__name__}"
        )
    settings = an.Settings(
        convention=convention,
        window=an.Window.asked(window, n_min, n_max),
        bins_per_decade=bins_per_decade,
        min_seeds=min_seeds,
        thresholds=tuple(thresholds),
        level=level,
    )
    return an.analyse(stages, settings)


def tables(analysis: Analysis, formatted: bool = False) -> dict[str, pd.DataFrame]:
    """The tables of an analysis by name, as copies: summary (one row per task), fits (one
    row per series), theory (d, k and the theory alphas per task), optimality (one row per
    staged series of one shape), flagged (the flagged stages) and points (every point the
    scaling plots draw).

    With formatted=True, summary, fits, optimality and flagged are the text tables of a
    report's Markdown files (one cell per quantity: alpha with its interval, windows in
    words); the CSV files hold the numbers that formatted=False gives.
    """
    _check_analysis(analysis)
    frames = {name: getattr(analysis, name).copy() for name in TABLES}
    if formatted:
        frames.update({name: make(analysis) for name, make in _FORMATTED.items()})
    return frames


def plot_scaling(analysis: Analysis, task: str | None = None, ax: Axes | None = None):
    """Test RMSE against N of one task (every series, the fitted laws over their windows,
    the theory lines), as kanbench-report's scaling figures draw it.

    Args:
        analysis: from fit.
        task: the task; None: the analysis' only task, or (without ax) every task in a
            grid of panels.
        ax: matplotlib Axes to draw on; None: a new Figure.

    Returns:
        ax when given, else the new Figure.

    Raises:
        ValueError: a task the analysis does not have, or task=None with ax and several
            tasks; each names the tasks there are.
    """
    _check_analysis(analysis)
    tasks = analysis.tasks
    if task is None and len(tasks) == 1:
        task = tasks[0]
    if task is None and ax is None:
        return plots.scaling_grid(analysis).figure
    if task not in tasks:
        wanted = "task must name one task" if task is None else f"unknown task {task!r}"
        raise ValueError(f"{wanted}; the analysis has {tasks}")
    if ax is None:
        return plots.scaling_figure(analysis, task).figure
    plots.draw_scaling(ax, analysis, task)
    return ax


def plot_history(study: Study, task: str | None = None, shape: str | None = None) -> Figure:
    """A KAN's training across its grid stages (the KAN paper's Fig 2.3): train and test
    RMSE against the step, and test RMSE against G with guide lines, every seed drawn.

    task and shape (as the stage frame writes it, e.g. '[2,1,1]') may be left out
    when the study has one KAN history that matches; ValueError names the pairs there are.
    """
    if not isinstance(study, Study):
        raise TypeError(f"study must be a Study (from load_study), got {type(study).__name__}")
    pairs = plots.kan_history_groups(study.history)
    matching = [(t, s) for t, s in pairs if task in (None, t) and shape in (None, s)]
    if len(matching) != 1:
        found = "no KAN history" if not matching else f"{len(matching)} KAN histories"
        raise ValueError(
            f"{found} for task={task!r}, shape={shape!r}; (task, shape) with one: {pairs}"
        )
    ((task, shape),) = matching
    return plots.history_figure(study.history, study.stages, task, shape).figure


def plot_cost(analysis: Analysis) -> Figure:
    """Training time against N from the stage records (wall time of a stage and seconds
    per step, per family); not a benchmark (kanbench-bench measures that)."""
    _check_analysis(analysis)
    return plots.cost_figure(analysis.stages, analysis.settings.convention).figure


def _check_analysis(analysis) -> None:
    if not isinstance(analysis, Analysis):
        raise TypeError(
            f"analysis must be an Analysis (from kanbench.fit), got {type(analysis).__name__}"
        )


__all__ = [
    "TABLES",
    "Analysis",
    "Study",
    "fit",
    "load_study",
    "plot_cost",
    "plot_history",
    "plot_scaling",
    "tables",
]
