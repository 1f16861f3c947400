"""The series of a stage frame and their points: which stages make one scaling curve, its
frontier, and the variable its primary alpha is in.

The families are those the registry reports (kanbench.families: Family.reported), in its
order. A run of a staged family (the KAN and its variants: Family.staged) gives one point
per stage of its size knob, and each shape of a staged family is a series; the runs of a
family that is not staged (the MLP) give a series per depth. A family run at several
shapes or depths also gets a *frontier*: in each log-spaced bin of N (Yu et al. 2024) the
run of lowest TRAIN RMSE (test RMSE only for a record without one), drawn and fitted by
its test RMSE, so the test set selects nothing. N follows a convention: "trainable"
(``n_params``) or "paper" (``n_params_paper``). Staged points also carry the grid
variable edges x G (edges = sum_l w_l w_{l+1} of the shape, G the family's size knob),
the variable of a staged series' primary alpha; the others' is N.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kanbench.analysis.stages import (
    grid_variable,
    is_staged,
    optimality_columns,
    param_count,
    usable,
)
from kanbench.families import FAMILIES
from kanbench.fits import Window

GRID_VARIABLE = "edges·G"  # the variable of a staged family's primary alpha
N_VARIABLE = "N"
VARIABLE_COLUMNS = {N_VARIABLE: "N", GRID_VARIABLE: "edges_g"}  # each variable's column
DEFAULT_BINS_PER_DECADE = 5


def family_labels() -> dict[str, str]:
    """The families the analysis reports, name -> label, in the registry's order (the
    registry's Family.reported and Family.label)."""
    return {name: f.label for name, f in FAMILIES.items() if f.reported}


FAMILY_NAMES = family_labels()  # as the registry was at import (the plots' and report's)


def log_bins(n: np.ndarray, bins_per_decade: int = DEFAULT_BINS_PER_DECADE) -> np.ndarray:
    """The log-spaced bin of each N: floor(bins_per_decade * log10 N) (edges 10^(j/b))."""
    # a small tolerance keeps an N that sits on an edge (10, 100, ...) in its own bin
    return np.floor(bins_per_decade * np.log10(np.asarray(n, dtype=float)) + 1e-9).astype(int)


def frontier_indices(
    n: np.ndarray, rmse: np.ndarray, bins_per_decade: int = DEFAULT_BINS_PER_DECADE
) -> np.ndarray:
    """Indices of the frontier points: the lowest `rmse` in each log-spaced N bin.

    Ties go to the smaller N, then to the earlier index. The result is sorted by N.
    """
    n = np.asarray(n, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    if n.size == 0:
        return np.zeros(0, dtype=int)
    bins = log_bins(n, bins_per_decade)
    order = np.lexsort((np.arange(n.size), n, rmse, bins))  # by bin, then rmse, n, index
    first = np.ones(order.size, dtype=bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    chosen = order[first]
    return chosen[np.argsort(n[chosen], kind="stable")]


def selection_rmse(points: pd.DataFrame) -> np.ndarray:
    """What a frontier picks by: each point's train RMSE, or its test RMSE when it has no
    finite positive train RMSE (so the test set picks nothing it need not)."""
    test = points["test_rmse"].to_numpy(dtype=float)
    if "train_rmse" not in points:
        return test
    train = pd.to_numeric(points["train_rmse"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(train) & (train > 0), train, test)


def frontier(points: pd.DataFrame, bins_per_decade: int = DEFAULT_BINS_PER_DECADE) -> pd.DataFrame:
    """The rows of points (columns N, test_rmse and train_rmse) on the frontier: in each
    log-spaced N bin the row of lowest train RMSE (selection_rmse)."""
    idx = frontier_indices(points["N"].to_numpy(), selection_rmse(points), bins_per_decade)
    return points.iloc[idx]


@dataclass(frozen=True)
class SeriesSpec:
    """A series of one task: its name, its family, the rows of the stage frame it is built
    from (`members`, with N) and how: 'all' (every member is a point) or 'frontier'."""

    task: str
    family: str
    name: str
    kind: str  # 'all' | 'frontier'
    primary: bool
    members: pd.DataFrame = field(repr=False)


def series_specs(stages: pd.DataFrame, convention: str = "trainable") -> list[SeriesSpec]:
    """The series of every task: each staged family (KAN and its variants) per (shape, k,
    variant), a family that is not staged (the MLP) per depth, and the frontiers.

    The primary series of a family, the one the summary reports, is its single series or,
    with several, its frontier; for a family that is not staged always its frontier.
    Only usable stages (complete, finite test RMSE) take part; N is by `convention`,
    edges_g the grid variable, and the optimality columns come along.
    """
    frame = optimality_columns(stages)
    frame = frame[usable(frame)].copy()
    frame["N"] = param_count(frame, convention)
    frame["edges_g"] = grid_variable(frame)
    if "variant" not in frame:
        frame["variant"] = None
    specs: list[SeriesSpec] = []
    for task in sorted(frame["task"].unique()):
        of_task = frame[frame["task"] == task]
        for family, label in family_labels().items():
            series = _staged_series if is_staged(family) else _depth_series
            specs += series(task, family, label, of_task[of_task["family"] == family])
    return specs


def _depth_series(task: str, family: str, label: str, rows: pd.DataFrame) -> list[SeriesSpec]:
    """The series of one task of a family that is not staged: one per depth, and their
    frontier (its primary series)."""
    if rows.empty:
        return []
    specs = []
    for depth in sorted(rows["depth"].dropna().unique()):
        members = rows[rows["depth"] == depth]
        specs.append(SeriesSpec(task, family, f"{label} depth {depth}", "all", False, members))
    specs.append(SeriesSpec(task, family, f"{label} frontier", "frontier", True, rows))
    return specs


def _staged_series(task: str, family: str, label: str, rows: pd.DataFrame) -> list[SeriesSpec]:
    """A staged family's series of one task: one per (shape, k, variant), and with several
    of them their frontier."""
    if rows.empty:
        return []
    parts = rows[["shape", "spline_order", "variant"]].map(str)
    keys = parts.agg(" ".join, axis=1)
    orders = rows["spline_order"].dropna().unique()
    groups = sorted(keys.unique())
    specs = []
    for key in groups:
        members = rows[keys == key]
        first = members.iloc[0]
        name = f"{label} {_shape_text(first['shape'])}"
        if len(orders) > 1:
            name += f" k={first['spline_order']}"
        if isinstance(first["variant"], str) and first["variant"]:
            name += f" ({first['variant']})"
        specs.append(SeriesSpec(task, family, name, "all", len(groups) == 1, members))
    if len(groups) > 1:
        specs.append(SeriesSpec(task, family, f"{label} frontier", "frontier", True, rows))
    return specs


def _shape_text(shape) -> str:
    if isinstance(shape, str):
        try:
            shape = json.loads(shape)
        except ValueError:
            return shape
    if isinstance(shape, list | tuple):
        return "[" + ",".join(str(w) for w in shape) + "]"
    return str(shape)


def prepared_members(members: pd.DataFrame) -> pd.DataFrame:
    """Members with the columns the fits read (edges_g, the optimality columns), added
    when a caller built them without (N must be there)."""
    if "stall" not in members:
        members = optimality_columns(members)
    if "edges_g" not in members:
        members = members.assign(edges_g=grid_variable(members))
    return members


def series_points(members: pd.DataFrame, kind: str, bins_per_decade: int) -> pd.DataFrame:
    """The points of a series from its members: all of them, or their frontier; by N."""
    if kind == "frontier":
        return frontier(members, bins_per_decade)
    return members.iloc[np.argsort(members["N"].to_numpy(dtype=float), kind="stable")]


def fit_variable(spec: SeriesSpec) -> str:
    """The variable a series' primary alpha is in: GRID_VARIABLE (edges x G) for a staged
    family whose every member has one, else N_VARIABLE."""
    return series_variable(spec.family, prepared_members(spec.members))


def series_variable(family: str, members: pd.DataFrame) -> str:
    """The variable of a family's series of these (prepared) members (fit_variable)."""
    if not is_staged(family):
        return N_VARIABLE
    grid = members["edges_g"].to_numpy(dtype=float)
    return GRID_VARIABLE if grid.size and np.all(np.isfinite(grid) & (grid > 0)) else N_VARIABLE


def build_series(
    spec: SeriesSpec, window: Window | None = None, bins_per_decade: int = DEFAULT_BINS_PER_DECADE
) -> pd.DataFrame:
    """The points of a series (its members, or their frontier), sorted by N, with
    in_window (the power law's) and in_plateau_window (the plateau-aware law's)."""
    window = window or Window()
    members = prepared_members(spec.members)
    points = series_points(members, spec.kind, bins_per_decade).copy()
    x = points[VARIABLE_COLUMNS[series_variable(spec.family, members)]].to_numpy(dtype=float)
    n = points["N"].to_numpy(dtype=float)
    choice = window.choose(x, points["test_rmse"].to_numpy(dtype=float), n)
    points.insert(0, "series", spec.name)
    points.insert(1, "primary", spec.primary)
    points["in_window"] = choice.power_mask(x, n)
    points["in_plateau_window"] = choice.plateau_mask(x, n)
    return points
