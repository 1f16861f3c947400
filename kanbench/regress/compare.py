"""The comparison of metrics with their baseline, per metric, with b the baseline and x the
value now:

- test_rmse passes when x <= rmse_factor * b;
- alpha passes when x >= b - alpha_drop (a rise passes);
- speed_ratio passes when x <= speed_factor * b;
- a value now that is not finite (a diverged or failed stage) fails;
- a baseline metric that is absent now is "missing" and fails (a run or stage that
  vanished is a regression); a metric absent from the baseline is "new": shown, not a
  failure, and `update=true` adds it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import pandas as pd

from kanbench.regress.metrics import Metric

PASS, FAIL, MISSING, NEW = "pass", "FAIL", "missing", "new"


@dataclass(frozen=True)
class Tolerances:
    """How far a metric may move from its baseline (module docstring)."""

    rmse_factor: float = 1.5
    alpha_drop: float = 0.3
    speed_factor: float = 1.5

    def __post_init__(self) -> None:
        for name in ("rmse_factor", "speed_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
                raise ValueError(f"tolerances.{name} must be a number >= 1, got {value!r}")
        value = self.alpha_drop
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"tolerances.alpha_drop must be a number >= 0, got {value!r}")

    def allows(self, kind: str, baseline: float, now: float) -> bool:
        """Whether `now` is within tolerance of `baseline` for a metric of this kind."""
        if not math.isfinite(now):
            return False
        if kind == "alpha":
            return now >= baseline - self.alpha_drop
        factor = self.rmse_factor if kind == "test_rmse" else self.speed_factor
        return now <= factor * baseline

    def describe(self, kind: str) -> str:
        if kind == "alpha":
            return f">= base - {self.alpha_drop:g}"
        factor = self.rmse_factor if kind == "test_rmse" else self.speed_factor
        return f"<= {factor:g} x base"


@dataclass(frozen=True)
class Row:
    """One line of the comparison table."""

    kind: str
    metric: str
    baseline: float
    now: float
    tolerance: str
    status: str  # PASS, FAIL, MISSING or NEW
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in (FAIL, MISSING)


def compare(
    baseline: Sequence[Metric], current: Sequence[Metric], tolerances: Tolerances
) -> list[Row]:
    """One row per metric of either side, baseline order first, then the new ones."""
    now = {m.key: m for m in current}
    base = {m.key: m for m in baseline}
    rows = []
    for key, b in base.items():
        tolerance = tolerances.describe(b.kind)
        m = now.get(key)
        if m is None:
            rows.append(Row(b.kind, b.label, b.value, math.nan, tolerance, MISSING, "absent now"))
            continue
        ok = tolerances.allows(b.kind, b.value, m.value)
        rows.append(Row(b.kind, b.label, b.value, m.value, tolerance, PASS if ok else FAIL, m.note))
    for key, m in now.items():
        if key not in base:
            tolerance = tolerances.describe(m.kind)
            rows.append(Row(m.kind, m.label, math.nan, m.value, tolerance, NEW, "not in baseline"))
    return rows


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _change(row: Row) -> str:
    if not (math.isfinite(row.baseline) and math.isfinite(row.now)):
        return "-"
    if row.kind == "alpha":
        return f"{row.now - row.baseline:+.3f}"
    return f"x{row.now / row.baseline:.3f}" if row.baseline else "-"


def format_rows(rows: Sequence[Row]) -> str:
    """The comparison as an aligned text table: status, kind, metric, values, tolerance."""
    header = ("status", "kind", "metric", "baseline", "now", "change", "tolerance", "note")
    cells = [
        (r.status, r.kind, r.metric, _number(r.baseline), _number(r.now), _change(r), r.tolerance,
         r.note)
        for r in rows
    ]  # fmt: skip
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *cells]]  # fmt: skip
    return "\n".join(lines)


def rows_frame(rows: Sequence[Row]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows], columns=[f.name for f in fields(Row)])
