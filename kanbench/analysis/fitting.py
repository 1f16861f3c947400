"""Fits of a series: l = A x^-alpha and l = A x^-alpha + E inside its windows, with
alpha's interval (the fitter itself is kanbench.fits).

The KAN theory rate k + 1 is a rate in G, so a staged series is fitted in edges x G
(alpha_grid, its primary alpha) and in N (alpha) over the same points; an MLP series in N
alone. Windows are chosen once per series from the pooled points, in its primary
variable. Interval of alpha at 95%: with S >= min_seeds (2) seeds that have a fit inside
the window (each seed's own points, its own frontier for a frontier series), alpha = the
mean of the per-seed alphas and mean +- t_{0.975, S-1} sd / sqrt(S); else the pooled
fit's residual t-interval, alpha +- t_{0.975, n-p} se, whose text says it ignores
seed-to-seed spread. A window that one power law does not describe
(kanbench.fits.one_law) gets alpha NaN and a note with the slopes of its first and last
thirds. A series whose windows hold flagged stages says so in its note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kanbench.analysis.series import (
    DEFAULT_BINS_PER_DECADE,
    GRID_VARIABLE,
    VARIABLE_COLUMNS,
    SeriesSpec,
    prepared_members,
    series_points,
    series_variable,
)
from kanbench.fits import (
    ALPHA_BOUNDS,
    MIN_POINTS,
    OneLaw,
    Window,
    fit_plateau,
    fit_power_law,
    one_law,
    power_law_scale,
    seed_interval,
)

DEFAULT_MIN_SEEDS = 2  # seeds with a fit that an interval over seeds needs


@dataclass
class SeriesFit:
    """The fits of one series and how their intervals were made (one row of fits_table).

    `variable` is the variable of the primary alpha: GRID_VARIABLE for a staged family
    (alpha_grid, in edges x G, is the one compared with theory), N_VARIABLE for an MLP.
    alpha / alpha_lo / alpha_hi / A are in N (by the convention), *_grid in edges x G
    (NaN for an MLP), both over the same points. n_lo / n_hi and edges_g_lo / edges_g_hi:
    the power-law window in each variable; plateau_*: the plateau-aware law and its
    window. seeds_fit: the seeds with a fit in the window. one_law: whether one power law
    describes the window (if not, alpha is NaN and the note says why). n_stalled: flagged
    stages (optimality_columns) in either window.
    """

    task: str
    family: str
    series: str
    primary: bool
    variable: str
    n_runs: int
    n_seeds: int
    n_points: int
    n_window: int = 0
    n_lo: float = math.nan
    n_hi: float = math.nan
    edges_g_lo: float = math.nan
    edges_g_hi: float = math.nan
    alpha: float = math.nan
    alpha_lo: float = math.nan
    alpha_hi: float = math.nan
    A: float = math.nan
    alpha_grid: float = math.nan
    alpha_grid_lo: float = math.nan
    alpha_grid_hi: float = math.nan
    A_grid: float = math.nan
    seeds_fit: int = 0
    interval: str = ""
    one_law: bool = True
    plateau_n_window: int = 0
    plateau_n_lo: float = math.nan
    plateau_n_hi: float = math.nan
    plateau_edges_g_lo: float = math.nan
    plateau_edges_g_hi: float = math.nan
    plateau_alpha: float = math.nan
    plateau_alpha_lo: float = math.nan
    plateau_alpha_hi: float = math.nan
    plateau_A: float = math.nan
    plateau_E: float = math.nan
    plateau_alpha_grid: float = math.nan
    plateau_alpha_grid_lo: float = math.nan
    plateau_alpha_grid_hi: float = math.nan
    plateau_A_grid: float = math.nan
    plateau_E_grid: float = math.nan
    plateau_seeds_fit: int = 0
    plateau_interval: str = ""
    n_stalled: int = 0
    note: str = ""

    @property
    def fitted(self) -> bool:
        """Whether the power law was fitted (alpha is a number)."""
        return math.isfinite(self.alpha)

    def primary_alpha(self, plateau: bool = False) -> tuple[float, float, float]:
        """(alpha, low, high) of the law in the series' own variable."""
        prefix = "plateau_alpha" if plateau else "alpha"
        suffix = "_grid" if self.variable == GRID_VARIABLE else ""
        return tuple(getattr(self, f"{prefix}{suffix}{end}") for end in ("", "_lo", "_hi"))


@dataclass(frozen=True)
class _Estimate:
    alpha: float
    low: float
    high: float
    scale: float  # A
    floor: float  # E (NaN for the power law)
    seeds: int
    text: str
    at_bound: bool = False


def _spread_text(seeds: int, n_seeds: int, min_seeds: int) -> str:
    if n_seeds <= 1:
        return "one seed, so it ignores seed-to-seed spread"
    return (
        f"{seeds} of {n_seeds} seeds with a fit (fewer than min_seeds {min_seeds}), so it "
        f"ignores seed-to-seed spread"
    )


def _seed_text(seeds: int, n_seeds: int, what: str, level: float) -> str:
    text = (
        f"t-interval over {seeds} per-seed {what}: mean ± t({0.5 + level / 2:g}, {seeds - 1})"
        f"·sd/√{seeds}"
    )
    return text + (f" ({seeds} of {n_seeds} seeds fitted)" if seeds < n_seeds else "")


def _power_estimate(pooled, per_seed, n_seeds, min_seeds, level) -> _Estimate:
    """alpha of l = A x^-alpha over the window: the mean over seeds with its t-interval,
    or the pooled fit's residual t-interval."""
    alphas = [fit_power_law(x, y).alpha for x, y in per_seed if np.unique(x).size >= MIN_POINTS]
    x, y = pooled
    if len(alphas) >= min_seeds:
        alpha, low, high = seed_interval(alphas, level)
        text = _seed_text(len(alphas), n_seeds, "slopes", level)
    else:
        fit = fit_power_law(x, y)
        alpha, (low, high) = fit.alpha, fit.t_interval(level)
        text = f"t-interval of the log-log slope (dof {fit.dof}); " + _spread_text(
            len(alphas), n_seeds, min_seeds
        )
    return _Estimate(alpha, low, high, power_law_scale(x, y, alpha), math.nan, len(alphas), text)


def _plateau_estimate(pooled, per_seed, n_seeds, min_seeds, level) -> _Estimate:
    """alpha of l = A x^-alpha + E over its window, as _power_estimate; A and E: the
    pooled fit at that alpha."""
    x, y = pooled
    fit = fit_plateau(x, y)
    start = (fit.A, fit.alpha, fit.E)
    fits = []
    for xs, ys in per_seed:
        if np.unique(xs).size >= MIN_POINTS + 1:
            try:
                fits.append(fit_plateau(xs, ys, start))
            except ValueError:
                continue
    at_bound = fit.at_bound or any(f.at_bound for f in fits)
    if len(fits) >= min_seeds:
        alpha, low, high = seed_interval([f.alpha for f in fits], level)
        text = _seed_text(len(fits), n_seeds, "fits", level)
        fixed = fit_plateau(x, y, start, alpha=alpha)
        scale, floor = fixed.A, fixed.E
    else:
        alpha, (low, high), scale, floor = fit.alpha, fit.t_interval(level), fit.A, fit.E
        if fit.dof >= 1:
            text = f"t-interval from the Jacobian (dof {fit.dof}); " + _spread_text(
                len(fits), n_seeds, min_seeds
            )
        else:
            text = "none (no degree of freedom left)"
    return _Estimate(alpha, low, high, scale, floor, len(fits), text, at_bound)


def _range(values: np.ndarray) -> str:
    return f"{values.min():.4g}-{values.max():.4g}" if values.size else "empty"


def fit_series(
    spec: SeriesSpec,
    window: Window | None = None,
    bins_per_decade: int = DEFAULT_BINS_PER_DECADE,
    min_seeds: int = DEFAULT_MIN_SEEDS,
    level: float = 0.95,
    plateau: bool = True,
) -> SeriesFit:
    """Fit both laws to a series inside its windows, with alpha's interval at `level`.

    The windows are chosen once, from the pooled points of every seed, in the series' own
    variable (fit_variable); every seed's own points (its own frontier for a frontier
    series) inside them are fitted alone. With at least `min_seeds` seeds fitted, alpha is
    the mean of their alphas with the t-interval over seeds; else the pooled fit's residual
    t-interval, which ignores seed-to-seed spread (its text says so). Staged families are
    fitted in edges x G and in N over the same points. Fewer than MIN_POINTS distinct sizes
    in the window, or a window that one power law does not describe (kanbench.fits.one_law):
    alpha NaN and the reason in `note`. The plateau-aware law needs MIN_POINTS + 1 distinct
    sizes in its window; plateau=False skips it.
    """
    window = window or Window()
    members = prepared_members(spec.members)
    variable = series_variable(spec.family, members)
    columns = [("", "N")] + ([("_grid", "edges_g")] if variable == GRID_VARIABLE else [])
    primary_suffix = columns[-1][0]
    points = series_points(members, spec.kind, bins_per_decade)
    x = points[VARIABLE_COLUMNS[variable]].to_numpy(dtype=float)
    n = points["N"].to_numpy(dtype=float)
    rmse = points["test_rmse"].to_numpy(dtype=float)
    choice = window.choose(x, rmse, n)
    power, flat = choice.power_mask(x, n), choice.plateau_mask(x, n)
    seeds = (
        members["seed"].astype("Float64").fillna(-1)
        if "seed" in members
        else pd.Series(-1, index=members.index)
    )
    seed_points = [
        series_points(group, spec.kind, bins_per_decade) for _, group in members.groupby(seeds)
    ]
    fit = SeriesFit(
        task=spec.task,
        family=spec.family,
        series=spec.name,
        primary=spec.primary,
        variable=variable,
        n_runs=int(members["run_id"].nunique()),
        n_seeds=len(seed_points),
        n_points=len(points),
        n_window=int(power.sum()),
        plateau_n_window=int(flat.sum()),
    )
    for prefix, mask in (("", power), ("plateau_", flat)):
        for suffix, column in (("n", "N"), ("edges_g", "edges_g")):
            values = points.loc[mask, column].to_numpy(dtype=float)
            if values.size and np.all(np.isfinite(values)):
                setattr(fit, f"{prefix}{suffix}_lo", float(values.min()))
                setattr(fit, f"{prefix}{suffix}_hi", float(values.max()))
    notes: list[str] = []

    def windowed(frame: pd.DataFrame, column: str, plateau_window: bool):
        xs = frame[VARIABLE_COLUMNS[variable]].to_numpy(dtype=float)
        ns = frame["N"].to_numpy(dtype=float)
        mask = choice.plateau_mask(xs, ns) if plateau_window else choice.power_mask(xs, ns)
        return (
            frame[column].to_numpy(dtype=float)[mask],
            frame["test_rmse"].to_numpy(dtype=float)[mask],
        )

    distinct = np.unique(x[power]).size
    if distinct < MIN_POINTS:
        notes.append(f"no fit: {distinct} distinct N in the window (a fit needs {MIN_POINTS})")
    else:
        law = one_law(x[power], rmse[power], level)
        fit.one_law = law.holds
        if not law.holds:
            notes.append(_one_law_note(law, variable, x, n))
        else:
            for suffix, column in columns:
                estimate = _power_estimate(
                    windowed(points, column, False),
                    [windowed(s, column, False) for s in seed_points],
                    fit.n_seeds,
                    min_seeds,
                    level,
                )
                _store(fit, "", suffix, estimate)
                fit.seeds_fit, fit.interval = estimate.seeds, estimate.text
    if plateau:
        distinct = np.unique(x[flat]).size
        if distinct < MIN_POINTS + 1:
            notes.append(
                f"no plateau-aware fit: {distinct} distinct N in its window "
                f"(it needs {MIN_POINTS + 1})"
            )
        else:
            try:
                for suffix, column in columns:
                    estimate = _plateau_estimate(
                        windowed(points, column, True),
                        [windowed(s, column, True) for s in seed_points],
                        fit.n_seeds,
                        min_seeds,
                        level,
                    )
                    _store(fit, "plateau_", suffix, estimate)
                    fit.plateau_seeds_fit, fit.plateau_interval = estimate.seeds, estimate.text
                    if estimate.at_bound and suffix == primary_suffix:
                        notes.append(f"plateau-aware alpha at its bound {ALPHA_BOUNDS[1]:g}")
            except ValueError as error:
                notes.append(f"no plateau-aware fit: {error}")
    stalled = points.loc[power | flat, "stall"].astype(str) != ""
    fit.n_stalled = int(stalled.sum())
    if fit.n_stalled:
        stages = "stage" if fit.n_stalled == 1 else "stages"
        notes.append(
            f"{fit.n_stalled} stalled {stages} in the window: the slope measures the optimiser"
        )
    fit.note = "; ".join(notes)
    return fit


def _store(fit: SeriesFit, prefix: str, suffix: str, estimate: _Estimate) -> None:
    """Set a law's alpha, interval, A (and E) on fit: prefix '' or 'plateau_', suffix ''
    (in N) or '_grid' (in edges x G)."""
    setattr(fit, f"{prefix}alpha{suffix}", estimate.alpha)
    setattr(fit, f"{prefix}alpha{suffix}_lo", estimate.low)
    setattr(fit, f"{prefix}alpha{suffix}_hi", estimate.high)
    setattr(fit, f"{prefix}A{suffix}", estimate.scale)
    if prefix:
        setattr(fit, f"{prefix}E{suffix}", estimate.floor)


def _one_law_note(law: OneLaw, variable: str, x: np.ndarray, n: np.ndarray) -> str:
    """Why one power law does not describe a window: its parts' slopes and ranges."""

    def where(span) -> str:
        inside = span.contains(x)
        text = f"N {_range(n[inside])}"
        if variable == GRID_VARIABLE:
            text += f" (edges·G {_range(x[inside])})"
        return text

    return (
        f"no single power law in the window: α in {variable} is {law.first:.2f} over "
        f"{where(law.first_span)} but {law.second:.2f} over {where(law.second_span)}"
    )
