"""Scaling-law fits on arrays: fit windows, the two laws, the one-law check, intervals.

Every function here takes plain arrays of sizes x (N, or edges x G) and losses l (test
RMSE), so it knows nothing of records or families; kanbench.analysis builds the arrays.

- Laws: the power law l = A x^-alpha, by least squares on log l = log A - alpha log x;
  the plateau-aware law l = A x^-alpha + E, by least squares on the log residuals
  r_i = log(A x_i^-alpha + E) - log l_i with A > 0, alpha in ALPHA_BOUNDS, E >= 0.
- Windows (`Window`), on the medians m_j of l at each distinct x_j (x_1 < x_2 < ...):

  * "descent" (default). The band is m <= m_min (m_max / m_min)^DESCENT_SHARE (the lowest
    DESCENT_SHARE = 10% of the log range). The power-law window ends at the descent end
    x_e, the first x in the band, or earlier: while more than MIN_POINTS distinct x remain
    and one law does not describe the window (`one_law`), its last x is dropped (a curve
    bending into its floor keeps its straight descent). Its start x_s drops a
    pre-asymptotic start: while more
    than MIN_POINTS distinct x remain, the first point is dropped when the local slope of
    the first segment, -(log m_{s+1} - log m_s) / (log x_{s+1} - log x_s), is below
    START_RATIO (1/2) of the log-log slope of the rest of the window (x_{s+1} .. x_e),
    that slope being > 0. The plateau-aware law gets descent plus plateau: from x_s to
    the last x of the contiguous run of points in the band after x_e, so a tail that
    rises out of the band (overfitting, a U shape) is left out and a plateau is kept.
  * "min-test": x_1 .. the x of the lowest median (both laws); "none": every point;
    "range": n_min <= N <= n_max, in N whatever variable is fitted.

- One law (`one_law`): a power law is fitted to the first and to the last third of the
  window's k distinct x (max(2, ceil(k/3)) of them each; for k = 3 they share the middle).
  One law describes the window unless the shallower part's slope is below ONE_LAW_RATIO
  (1/2) of the steeper's (the steeper falling) and the difference is significant:
  |a_1 - a_2| > t_{0.975, dof_1 + dof_2} sqrt(se_1^2 + se_2^2) (when both parts have a
  standard error; else the ratio alone decides). An exact power law's parts agree to
  rounding, so it never trips.
- Intervals: over seeds, mean +- t_{0.975, S-1} sd / sqrt(S) of S per-seed estimates
  (`seed_interval`); for one fit, alpha +- t_{0.975, dof} se (`PowerLawFit.t_interval`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

WINDOWS = ("min-test", "descent", "none", "range")
MIN_POINTS = 3  # distinct x a power-law fit needs inside its window (the plateau law: + 1)
DESCENT_SHARE = 0.1  # the band: this share of a series' log range above its lowest median
START_RATIO = 0.5  # a first segment shallower than this share of the rest's slope is dropped
ONE_LAW_RATIO = 0.5  # end thirds whose slopes differ by more than this factor: not one law
ALPHA_BOUNDS = (0.0, 20.0)  # alpha of the plateau-aware fit


# --------------------------------------------------------------------------- helpers


def _check_points(x, rmse) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    if x.shape != rmse.shape or x.ndim != 1:
        raise ValueError(f"n and rmse must be 1-D of one length, got {x.shape} and {rmse.shape}")
    if np.unique(x).size < 2:
        raise ValueError(f"a fit needs at least 2 distinct N, got {np.unique(x).size}")
    if not (np.all(x > 0) and np.all(rmse > 0)):
        raise ValueError("n and rmse must be positive (their logs are fitted)")
    return x, rmse


def medians(x, rmse) -> tuple[np.ndarray, np.ndarray]:
    """The distinct x, sorted, and the median of rmse at each."""
    x = np.asarray(x, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    distinct = np.unique(x)
    return distinct, np.array([np.median(rmse[x == value]) for value in distinct])


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Span:
    """A closed range lo <= x <= hi (empty when either end is NaN)."""

    lo: float
    hi: float

    def contains(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return (x >= self.lo) & (x <= self.hi)  # False throughout when NaN


EMPTY = Span(math.nan, math.nan)


@dataclass(frozen=True)
class Choice:
    """The chosen windows of a series: `power` (the power law) and `plateau` (the
    plateau-aware law), spans in the fitted variable x, or in N when `in_n` ('range')."""

    power: Span
    plateau: Span
    in_n: bool = False

    def power_mask(self, x, n=None) -> np.ndarray:
        return self.power.contains(n if self.in_n and n is not None else x)

    def plateau_mask(self, x, n=None) -> np.ndarray:
        return self.plateau.contains(n if self.in_n and n is not None else x)


def descent_indices(distinct: np.ndarray, m: np.ndarray) -> tuple[int, int, int]:
    """(start, descent end, plateau end): indices into the distinct x of the 'descent'
    rule (module docstring) for medians m."""
    top = m.min() * (m.max() / m.min()) ** DESCENT_SHARE
    end = int(np.flatnonzero(m <= top)[0])
    stop = end
    while stop + 1 < m.size and m[stop + 1] <= top:
        stop += 1
    start = 0
    logx, logm = np.log(distinct), np.log(m)
    while end - start + 1 > MIN_POINTS:
        first = -(logm[start + 1] - logm[start]) / (logx[start + 1] - logx[start])
        rest = -np.polyfit(logx[start + 1 : end + 1], logm[start + 1 : end + 1], 1)[0]
        if rest > 0 and first < START_RATIO * rest:
            start += 1
        else:
            break
    return start, end, stop


@dataclass(frozen=True)
class Window:
    """A fit-window rule: 'descent', 'min-test', 'none' or 'range' (with n_min, n_max)."""

    rule: str = "descent"
    n_min: float | None = None
    n_max: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.rule!r}")
        for name in ("n_min", "n_max"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if self.rule == "range" and self.n_min is None and self.n_max is None:
            raise ValueError("window 'range' needs n_min and/or n_max")
        if self.rule != "range" and (self.n_min is not None or self.n_max is not None):
            raise ValueError(f"n_min / n_max go with window 'range', not with window {self.rule!r}")
        if self.n_min is not None and self.n_max is not None and self.n_min > self.n_max:
            raise ValueError(f"n_min ({self.n_min}) must not exceed n_max ({self.n_max})")

    @classmethod
    def asked(cls, rule: str | None, n_min=None, n_max=None) -> Window:
        """The window a user asks for: rule, else 'range' when N bounds are given, else
        'descent'."""
        bounded = n_min is not None or n_max is not None
        return cls(rule or ("range" if bounded else "descent"), n_min, n_max)

    def describe(self) -> str:
        """The rule in words, for tables and the report."""
        if self.rule == "min-test":
            return (
                "min-test: each series up to and including the size of its lowest test RMSE "
                "(median over seeds at each size), for both laws"
            )
        if self.rule == "descent":
            return (
                f"descent: the band is the lowest {DESCENT_SHARE:.0%} of a series' range of "
                f"log test RMSE (medians over seeds at each size). The power law is fitted up "
                f"to the first size in the band (shortened from its end while one power law "
                f"does not describe it), from a start that drops leading points while "
                f"the first segment's log-log slope is below {START_RATIO:g} of the slope of "
                f"the rest (at least {MIN_POINTS} sizes kept); the plateau-aware law from the "
                f"same start to the last size of the run of points that stay in the band "
                f"(a plateau is kept, a tail rising out of the band is not). Sizes are "
                f"edges·G for KAN-like families and N for MLPs"
            )
        if self.rule == "none":
            return "none: every point of each series, for both laws"
        low = "-inf" if self.n_min is None else f"{self.n_min:g}"
        high = "inf" if self.n_max is None else f"{self.n_max:g}"
        return f"range: {low} <= N <= {high}, for both laws"

    def choose(self, x, rmse, n=None) -> Choice:
        """The windows of points (x, rmse), x the fitted variable; n: their N (the 'range'
        rule is in N; default x)."""
        x = np.asarray(x, dtype=float)
        rmse = np.asarray(rmse, dtype=float)
        if self.rule == "range":
            low = -math.inf if self.n_min is None else float(self.n_min)
            high = math.inf if self.n_max is None else float(self.n_max)
            return Choice(Span(low, high), Span(low, high), in_n=True)
        if x.size == 0:
            return Choice(EMPTY, EMPTY)
        distinct, m = medians(x, rmse)
        if self.rule == "none":
            span = Span(distinct[0], distinct[-1])
            return Choice(span, span)
        if self.rule == "min-test":
            span = Span(distinct[0], distinct[int(np.argmin(m))])
            return Choice(span, span)
        start, end, stop = descent_indices(distinct, m)
        while end - start + 1 > MIN_POINTS:  # shorten a window that bends towards its end
            inside = (x >= distinct[start]) & (x <= distinct[end])
            if one_law(x[inside], rmse[inside]).holds:
                break
            end -= 1
        return Choice(Span(distinct[start], distinct[end]), Span(distinct[start], distinct[stop]))

    def mask(self, x, rmse, n=None) -> np.ndarray:
        """Which of the points lie inside the power-law window."""
        return self.choose(x, rmse, n).power_mask(x, n)

    def plateau_mask(self, x, rmse, n=None) -> np.ndarray:
        """Which of the points lie inside the plateau-aware law's window."""
        return self.choose(x, rmse, n).plateau_mask(x, n)


# --------------------------------------------------------------------------- laws


def _t_interval(value: float, se: float, dof: int, level: float) -> tuple[float, float]:
    if dof < 1 or not math.isfinite(se):
        return (math.nan, math.nan)
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    return (value - half, value + half)


@dataclass(frozen=True)
class PowerLawFit:
    """l = A x^-alpha fitted on log l = log A - alpha log x; se and dof of the slope."""

    alpha: float
    A: float
    se: float
    dof: int

    def t_interval(self, level: float = 0.95) -> tuple[float, float]:
        """alpha +- t_{(1+level)/2, dof} se (NaN when dof < 1)."""
        return _t_interval(self.alpha, self.se, self.dof, level)

    def __call__(self, x):
        return self.A * np.asarray(x, dtype=float) ** -self.alpha


@dataclass(frozen=True)
class PlateauFit:
    """l = A x^-alpha + E fitted on log residuals; se of alpha from the Jacobian."""

    alpha: float
    A: float
    E: float
    se: float
    dof: int
    cost: float

    def t_interval(self, level: float = 0.95) -> tuple[float, float]:
        """alpha +- t_{(1+level)/2, dof} se (NaN when dof < 1)."""
        return _t_interval(self.alpha, self.se, self.dof, level)

    @property
    def at_bound(self) -> bool:
        return self.alpha >= ALPHA_BOUNDS[1] - 1e-6

    def __call__(self, x):
        return self.A * np.asarray(x, dtype=float) ** -self.alpha + self.E


def fit_power_law(n: Sequence[float], rmse: Sequence[float]) -> PowerLawFit:
    """Least squares fit of log l = log A - alpha log x (ordinary least squares in log-log).

    Raises:
        ValueError: n and rmse of different lengths, not positive, or < 2 distinct x.
    """
    n, rmse = _check_points(n, rmse)
    x, y = np.log(n), np.log(rmse)
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    intercept = float(y.mean() - slope * x.mean())
    dof = n.size - 2
    se = math.nan
    if dof >= 1:
        residual = y - intercept - slope * x
        se = math.sqrt(float(residual @ residual) / dof / float(dx @ dx))
    return PowerLawFit(alpha=-slope, A=math.exp(intercept), se=se, dof=dof)


def power_law_scale(n: Sequence[float], rmse: Sequence[float], alpha: float) -> float:
    """A of l = A x^-alpha with alpha given: exp(mean(log l_i + alpha log x_i)), the
    least-squares intercept in log-log."""
    n, rmse = _check_points(n, rmse)
    return float(np.exp(np.mean(np.log(rmse) + alpha * np.log(n))))


def fit_plateau(
    n: Sequence[float],
    rmse: Sequence[float],
    start: tuple[float, float, float] | None = None,
    alpha: float | None = None,
) -> PlateauFit:
    """Least squares fit of l = A x^-alpha + E on the log residuals.

    Minimises sum_i (log(A x_i^-alpha + E) - log l_i)^2 over log A, alpha in ALPHA_BOUNDS
    and E >= 0 (E in units of min l, so every parameter is of order one) with
    scipy.optimize.least_squares, from several starts (the power-law fit with E = 0 and
    with E near the lowest point, or `start` = (A, alpha, E) alone). With `alpha` given,
    only A and E are fitted (se NaN). The standard error of alpha is
    sqrt(s^2 [(J^T J)^-1]_alpha), s^2 = sum r_i^2 / (n - 3).

    Raises:
        ValueError: as fit_power_law, or when the fit fails from every start.
    """
    n, rmse = _check_points(n, rmse)
    x, y = np.log(n), np.log(rmse)
    scale = float(rmse.min())
    free = [0, 2] if alpha is not None else [0, 1, 2]

    def full(theta):
        if alpha is None:
            return theta
        return np.array([theta[0], alpha, theta[1]])

    def model(theta):
        power = np.exp(theta[0] - theta[1] * x)
        return power, power + theta[2] * scale

    def residuals(theta):
        return np.log(model(full(theta))[1]) - y

    def jacobian(theta):
        power, total = model(full(theta))
        columns = (power / total, -x * power / total, scale / total)
        return np.column_stack([columns[i] for i in free])

    if start is None:
        base = fit_power_law(n, rmse)
        alpha0 = float(np.clip(base.alpha if alpha is None else alpha, 0.05, 19.0))
        log_a = math.log(base.A) if alpha is None else math.log(power_law_scale(n, rmse, alpha0))
        starts = [
            (log_a, alpha0, 0.0),
            (log_a, alpha0, 0.5),
            (log_a + 1.0, min(2 * alpha0, 19.0), 0.9),
        ]
    else:
        starts = [(math.log(start[0]), float(np.clip(start[1], 0.0, 19.0)), start[2] / scale)]
    lower = np.array((-np.inf, ALPHA_BOUNDS[0], 0.0))[free]
    upper = np.array((np.inf, ALPHA_BOUNDS[1], np.inf))[free]
    best = None
    for theta0 in starts:
        theta0 = np.clip(np.array(theta0, dtype=float)[free], lower, upper)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                result = optimize.least_squares(
                    residuals, theta0, jac=jacobian, bounds=(lower, upper), method="trf"
                )
        except (ValueError, FloatingPointError):
            continue
        if not np.isfinite(result.cost):
            continue
        if best is None or result.cost < best.cost:
            best = result
    if best is None:
        raise ValueError("the plateau-aware fit failed from every start")
    dof = n.size - 3
    se = math.nan
    if dof >= 1 and alpha is None:
        s2 = 2.0 * best.cost / dof
        try:
            covariance = s2 * np.linalg.pinv(best.jac.T @ best.jac)
            se = float(math.sqrt(max(covariance[1, 1], 0.0)))
        except np.linalg.LinAlgError:
            pass
    log_a, fitted_alpha, e = full(best.x)
    return PlateauFit(
        alpha=float(fitted_alpha),
        A=float(math.exp(log_a)),
        E=float(e * scale),
        se=se,
        dof=dof,
        cost=float(best.cost),
    )


# --------------------------------------------------------------------------- one law


@dataclass(frozen=True)
class OneLaw:
    """The one-law check of a window: the power-law slopes of its first and last thirds
    (`first` over `first_span`, `second` over `second_span`) and whether one law
    describes it."""

    holds: bool
    first: float = math.nan
    second: float = math.nan
    first_span: Span = EMPTY
    second_span: Span = EMPTY


def one_law(x, rmse, level: float = 0.95) -> OneLaw:
    """Whether one power law describes the points (module docstring); fewer than 3
    distinct x cannot be split and pass."""
    x = np.asarray(x, dtype=float)
    rmse = np.asarray(rmse, dtype=float)
    distinct = np.unique(x)
    k = distinct.size
    if k < 3:
        return OneLaw(True)
    part = max(2, math.ceil(k / 3))
    first_span = Span(distinct[0], distinct[part - 1])
    second_span = Span(distinct[k - part], distinct[-1])
    first = fit_power_law(x[first_span.contains(x)], rmse[first_span.contains(x)])
    second = fit_power_law(x[second_span.contains(x)], rmse[second_span.contains(x)])
    steeper = max(first.alpha, second.alpha)
    differ = steeper > 0 and min(first.alpha, second.alpha) < ONE_LAW_RATIO * steeper
    significant = True
    if math.isfinite(first.se) and math.isfinite(second.se):
        dof = first.dof + second.dof
        half_width = stats.t.ppf(0.5 + level / 2, dof) * math.hypot(first.se, second.se)
        significant = abs(first.alpha - second.alpha) > half_width
    return OneLaw(not (differ and significant), first.alpha, second.alpha, first_span, second_span)


# --------------------------------------------------------------------------- intervals


def seed_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): mean +- t_{(1+level)/2, S-1} sd / sqrt(S) of S >= 2 per-seed
    estimates (sd with S - 1 in the denominator).

    Raises:
        ValueError: fewer than 2 finite values.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        raise ValueError(f"a t-interval over seeds needs at least 2 estimates, got {values.size}")
    mean = float(values.mean())
    half = (
        stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    )
    return mean, mean - float(half), mean + float(half)


__all__ = [
    "ALPHA_BOUNDS",
    "DESCENT_SHARE",
    "MIN_POINTS",
    "ONE_LAW_RATIO",
    "START_RATIO",
    "WINDOWS",
    "Choice",
    "OneLaw",
    "PlateauFit",
    "PowerLawFit",
    "Span",
    "Window",
    "descent_indices",
    "fit_plateau",
    "fit_power_law",
    "medians",
    "one_law",
    "power_law_scale",
    "seed_interval",
]
