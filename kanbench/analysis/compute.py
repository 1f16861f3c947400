"""Compute scaling: test RMSE against training cost, per family and across families.

Cost axes (COST_AXES): "flops", the cumulative training FLOPs (cum_train_flops), and
"seconds", the cumulative training seconds (cum_wall_s), of kanbench.cost. A point is a
usable stage (complete, finite test RMSE > 0) with a finite positive cost: a staged
family's run gives one per stage at its cumulative cost, an MLP one per size.

Frontiers select by train RMSE (selection_rmse: test RMSE only for a record without
one) and show test RMSE, as the N frontier does, so the test set selects nothing:

- Pareto frontier (`pareto_indices`): the points that no other point dominates in (cost,
  train RMSE), none being as cheap or cheaper and as low or lower, one of the two
  strictly. Hence, for every RMSE level r, the cheapest point of train RMSE <= r is on it
  (the least compute per RMSE level), and along it the cost rises as the RMSE falls. Per
  family, and across the families of a task.
- binned frontier (kanbench.analysis.series.frontier_indices on the cost): in each
  log-spaced cost bin the point of lowest train RMSE (the best run per compute bin). The
  compute fits l = A C^-gamma (and + E) are made over it, with the window and interval
  machinery of the fits in N (kanbench.analysis.fitting.fit_series: per seed, each seed's
  own frontier), C in place of N.

Who leads at equal compute (`leaders`): with a budget C a family can run any of its points
of cost <= C, and picks, as its Pareto frontier does, the one of lowest train RMSE; the
test RMSE of that point is the family's at C. From the budget at which every family has a
run, at each budget where some family's frontier steps, the family of lowest test RMSE at
that budget leads; consecutive budgets with one leader form a segment, and
`lead_sentence` says them in words, with the families that alone have runs below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from kanbench.analysis.fitting import fit_series
from kanbench.analysis.series import (
    SeriesSpec,
    build_series,
    family_labels,
    frontier_indices,
    selection_rmse,
)
from kanbench.analysis.stages import optimality_columns, param_count, usable
from kanbench.analysis.tables import Settings
from kanbench.fits import Window

COST_AXES = {"flops": "cum_train_flops", "seconds": "cum_wall_s"}
AXIS_WORDS = {"flops": "training FLOPs", "seconds": "training seconds"}
COST_VARIABLE = "C"


@dataclass(frozen=True)
class ComputeAnalysis:
    """Everything the compute section shows, made from a stage frame (compute_analysis).

    Attributes:
        points: every point (task, family, run_id, seed, stage, N, train_rmse, test_rmse,
            the cost columns, cost_derived) with, per axis, on_pareto_<axis> (the task's
            frontier across families) and on_family_pareto_<axis> (its family's).
        frontier: the binned frontier points of each (task, family, axis) with cost,
            in_window and in_plateau_window (the fits' windows); the plots draw these.
        fits: one row per (task, axis, family): gamma of l = A C^-gamma with its interval,
            the plateau-aware law's, the window in cost and the note.
        reach: the least cost of any point of a family reaching each test RMSE threshold
            (NaN: not reached), per (task, axis, family, threshold).
        leaders: the segments of budgets with one leader, per (task, axis).
        sentences: per (task, axis) the lead in words.
        settings: the analysis settings (thresholds, bins, window, seeds, level).
    """

    points: pd.DataFrame
    frontier: pd.DataFrame
    fits: pd.DataFrame
    reach: pd.DataFrame
    leaders: pd.DataFrame
    sentences: pd.DataFrame
    settings: Settings = field(default_factory=Settings)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.points["task"].unique()) if not self.points.empty else []


def pareto_indices(cost, rmse) -> np.ndarray:
    """Indices of the points (cost, rmse) that no other point dominates, sorted by cost:
    after sorting by cost (ties: lower rmse, then the earlier index), a point is kept when
    its rmse is below that of every point before it. Points with a NaN are left out."""
    cost = np.asarray(cost, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    valid = np.flatnonzero(np.isfinite(cost) & np.isfinite(rmse))
    order = valid[np.lexsort((valid, rmse[valid], cost[valid]))]
    kept, best = [], math.inf
    for i in order:
        if rmse[i] < best:
            kept.append(i)
            best = rmse[i]
    return np.array(kept, dtype=int)


def pareto_frontier(points: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows of points on the Pareto frontier in (points[column], train RMSE)."""
    return points.iloc[pareto_indices(points[column], selection_rmse(points))]


def binned_frontier(points: pd.DataFrame, column: str, bins_per_decade: int) -> pd.DataFrame:
    """The rows of points on the binned frontier: the lowest train RMSE in each
    log-spaced bin of points[column]."""
    idx = frontier_indices(points[column].to_numpy(), selection_rmse(points), bins_per_decade)
    return points.iloc[idx]


def at_budget(frontier: pd.DataFrame, column: str, budgets) -> np.ndarray:
    """The test RMSE a family's Pareto frontier gives at each budget: that of its point of
    largest cost <= the budget (NaN below its cheapest point)."""
    cost = frontier[column].to_numpy(dtype=float)
    test = frontier["test_rmse"].to_numpy(dtype=float)
    where = np.searchsorted(cost, np.asarray(budgets, dtype=float), side="right") - 1
    return np.where(where >= 0, test[np.clip(where, 0, None)], math.nan)


def compute_points(stages: pd.DataFrame, convention: str = "trainable") -> pd.DataFrame:
    """The points of the compute analysis: usable stages of the reported families with a
    finite positive cost on at least one axis; N by `convention`."""
    frame = stages if "stall" in stages else optimality_columns(stages)
    frame = frame[usable(frame) & frame["family"].isin(list(family_labels()))].copy()
    for column in COST_AXES.values():
        if column not in frame:
            frame[column] = math.nan
        cost = pd.to_numeric(frame[column], errors="coerce").astype(float)
        frame[column] = cost.where(cost > 0)
    frame = frame[frame[list(COST_AXES.values())].notna().any(axis=1)]
    frame["N"] = param_count(frame, convention)
    return frame.reset_index(drop=True)


def leaders(points: pd.DataFrame, column: str) -> pd.DataFrame:
    """The segments of budgets with one leader among the families of one task's points,
    from the budget at which every family has a run (module docstring): leader, start
    (the first budget it leads at), end (the next segment's start; NaN for the last), its
    test RMSE at start, and the runner-up's."""
    columns = ["leader", "start", "end", "leader_rmse", "runner_up", "runner_up_rmse"]
    points = points[np.isfinite(points[column].to_numpy(dtype=float))]
    names = [f for f in family_labels() if f in set(points["family"])]
    frontiers = {f: pareto_frontier(points[points["family"] == f], column) for f in names}
    if not names:
        return pd.DataFrame(columns=columns)
    costs = np.unique(np.concatenate([f[column].to_numpy(dtype=float) for f in frontiers.values()]))
    budgets = costs[costs >= max(f[column].iloc[0] for f in frontiers.values())]
    rmse = np.array([at_budget(frontiers[f], column, budgets) for f in names])  # (family, budget)
    lead = np.argmin(rmse, axis=0)
    rows = []
    for j, budget in enumerate(budgets):
        if rows and rows[-1]["leader"] == names[lead[j]]:
            continue
        others = [i for i in np.argsort(rmse[:, j], kind="stable") if i != lead[j]]
        rows.append(
            {
                "leader": names[lead[j]],
                "start": float(budget),
                "end": math.nan,
                "leader_rmse": float(rmse[lead[j], j]),
                "runner_up": names[others[0]] if others else None,
                "runner_up_rmse": float(rmse[others[0], j]) if others else math.nan,
            }
        )
    for before, after in zip(rows[:-1], rows[1:], strict=False):
        before["end"] = after["start"]
    return pd.DataFrame(rows, columns=columns)


def amount(value: float, axis: str) -> str:
    """A cost as text: '3.1e9 FLOPs' or '2.4 s' (two significant digits)."""
    if not math.isfinite(value):
        return "-"
    if axis == "flops":
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa}e{int(exponent)} FLOPs"
    return f"{value:.2g} s" if value < 1e4 else f"{value:.2e} s"


def lead_sentence(task: str, axis: str, segments: pd.DataFrame, points: pd.DataFrame) -> str:
    """One sentence: which family is ahead at equal cost on `axis` and from which budget
    on (segments from `leaders`; points: the task's, which tell where each family's runs
    start and what each reaches with every run's budget)."""
    labels = family_labels()
    column = COST_AXES[axis]
    if segments.empty:
        return f"{task}: no run has a {AXIS_WORDS[axis]} cost."

    def name(family: str) -> str:
        return f"the {labels.get(family, family)}"

    starts, parts = segments["start"].tolist(), []
    for i, s in enumerate(segments.itertuples()):
        if len(segments) == 1:
            parts.append(f"{name(s.leader)} is ahead at every budget")
        elif i == 0:
            parts.append(f"{name(s.leader)} is ahead below {amount(starts[1], axis)}")
        elif i == len(segments) - 1:
            parts.append(f"{name(s.leader)} from {amount(s.start, axis)} on")
        else:
            parts.append(f"{name(s.leader)} from {amount(s.start, axis)} to {amount(s.end, axis)}")
    lead = ", ".join(parts)
    first = points.groupby("family")[column].min()
    alone = [f for f in labels if f in first and first[f] < starts[0]]
    text = f"{task}, at equal {AXIS_WORDS[axis]}: "
    if segments["runner_up"].isna().all():
        text += f"only {name(segments['leader'].iloc[0])} has runs"
    elif alone:
        has = "has" if len(alone) == 1 else "have"
        cheap = " and ".join(name(f) for f in alone)
        text += f"below {amount(starts[0], axis)} only {cheap} {has} runs; from there {lead}"
    else:
        text += lead
    last = segments.iloc[-1]
    if isinstance(last["runner_up"], str):
        (a, rmse_a), (b, rmse_b) = (
            (f, at_largest(points, column, f)) for f in (last["leader"], last["runner_up"])
        )
        text += (
            f"; at the largest budget {name(a)}'s test RMSE is {_rmse(rmse_a)}, "
            f"{name(b)}'s {_rmse(rmse_b)}"
        )
    return text + "."


def _rmse(value: float) -> str:
    return f"{value:.1e}" if math.isfinite(value) else "-"


def at_largest(points: pd.DataFrame, column: str, family: str) -> float:
    """The test RMSE a family's Pareto frontier gives with every run's budget."""
    rows = points[(points["family"] == family) & np.isfinite(points[column].to_numpy(float))]
    frontier = pareto_frontier(rows, column)
    return float(frontier["test_rmse"].iloc[-1]) if not frontier.empty else math.nan


def _cost_words(note: str) -> str:
    """A fit note of kanbench.analysis.fitting with its N read as the cost C."""
    for old, new in (("distinct N", "distinct C"), ("α in N", "γ in C"), ("over N ", "over C ")):
        note = note.replace(old, new)
    return note


def _fit_rows(task, axis, family, members, settings: Settings, window: Window):
    """(fits row, frontier points) of one family's binned compute frontier on one axis."""
    column = COST_AXES[axis]
    label = family_labels()[family]
    members = members[np.isfinite(members[column].to_numpy(dtype=float))]
    members = members.assign(N_params=members["N"], N=members[column], edges_g=math.nan)
    spec = SeriesSpec(task, family, f"{label} compute frontier", "frontier", True, members)
    fit = fit_series(spec, window, settings.bins_per_decade, settings.min_seeds, settings.level)
    points = build_series(spec, window, settings.bins_per_decade)
    points = points.rename(columns={"N": "cost"}).rename(columns={"N_params": "N"})
    points.insert(0, "axis", axis)
    row = {
        "task": task,
        "axis": axis,
        "family": family,
        "series": spec.name,
        "n_runs": fit.n_runs,
        "n_seeds": fit.n_seeds,
        "n_points": fit.n_points,
        "n_window": fit.n_window,
        "cost_lo": fit.n_lo,
        "cost_hi": fit.n_hi,
        "gamma": fit.alpha,
        "gamma_lo": fit.alpha_lo,
        "gamma_hi": fit.alpha_hi,
        "A": fit.A,
        "plateau_cost_lo": fit.plateau_n_lo,
        "plateau_cost_hi": fit.plateau_n_hi,
        "plateau_gamma": fit.plateau_alpha,
        "plateau_gamma_lo": fit.plateau_alpha_lo,
        "plateau_gamma_hi": fit.plateau_alpha_hi,
        "plateau_A": fit.plateau_A,
        "plateau_E": fit.plateau_E,
        "seeds_fit": fit.seeds_fit,
        "interval": fit.interval,
        "one_law": fit.one_law,
        "n_stalled": fit.n_stalled,
        "note": _cost_words(fit.note),
    }
    return row, points


def compute_analysis(stages: pd.DataFrame, settings: Settings | None = None) -> ComputeAnalysis:
    """Points, frontiers, fits, costs to reach each threshold and leaders of every task
    on both cost axes (module docstring). The fits use the settings' window, except
    'range' (its bounds are in N), for which they use 'descent'."""
    settings = settings or Settings()
    window = settings.window if settings.window.rule != "range" else Window()
    points = compute_points(stages, settings.convention)
    fits, frontier, reach, segments, sentences = [], [], [], [], []
    for axis, column in COST_AXES.items():
        points[f"on_pareto_{axis}"] = False
        points[f"on_family_pareto_{axis}"] = False
        for task, of_task in points.groupby("task"):
            on_axis = of_task[np.isfinite(of_task[column].to_numpy(dtype=float))]
            points.loc[pareto_frontier(on_axis, column).index, f"on_pareto_{axis}"] = True
            for family, members in on_axis.groupby("family"):
                points.loc[pareto_frontier(members, column).index, f"on_family_pareto_{axis}"] = (
                    True
                )
                row, drawn = _fit_rows(task, axis, family, members, settings, window)
                fits.append(row)
                frontier.append(drawn)
                for threshold in settings.thresholds:
                    reached = members.loc[members["test_rmse"] <= threshold, column]
                    reach.append(
                        {
                            "task": task,
                            "axis": axis,
                            "family": family,
                            "threshold": threshold,
                            "cost": float(reached.min()) if not reached.empty else math.nan,
                        }
                    )
            lead = leaders(on_axis, column)
            segments.append(lead.assign(task=task, axis=axis))
            sentences.append(
                {"task": task, "axis": axis, "sentence": lead_sentence(task, axis, lead, on_axis)}
            )
    order = {f: i for i, f in enumerate(family_labels())}
    fits_frame = pd.DataFrame(fits)
    if not fits_frame.empty:
        fits_frame = fits_frame.sort_values(
            ["task", "axis", "family"], key=lambda c: c.map(order) if c.name == "family" else c
        ).reset_index(drop=True)
    leaders_frame = pd.concat(segments, ignore_index=True) if segments else pd.DataFrame()
    if not leaders_frame.empty:
        leaders_frame = leaders_frame[["task", "axis", *leaders_frame.columns[:-2]]]
    return ComputeAnalysis(
        points,
        pd.concat(frontier, ignore_index=True) if frontier else pd.DataFrame(),
        fits_frame,
        pd.DataFrame(reach, columns=["task", "axis", "family", "threshold", "cost"]),
        leaders_frame,
        pd.DataFrame(sentences, columns=["task", "axis", "sentence"]),
        replace(settings, window=window),
    )
