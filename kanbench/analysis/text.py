"""How the tables print one value: numbers, intervals, a fit's window, the stalled mark,
and a frame as a Markdown table."""

from __future__ import annotations

import math

import pandas as pd

from kanbench.analysis.series import GRID_VARIABLE

STALLED_MARK = "⚠"  # marks an alpha whose window holds flagged stages


def format_interval(value: float, low: float, high: float, digits: int = 2) -> str:
    """'3.12 [2.80, 3.45]', or the value alone when there is no interval, '' when NaN."""
    if not finite(value):
        return ""
    text = f"{value:.{digits}f}"
    if finite(low) and finite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def finite(value) -> bool:
    """Whether value is a finite number (False for text, None and NA)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def number(value, kind: str = "g") -> str:
    """A table cell: 3 significant digits ('g'), '1.23e-04' ('e') or an integer ('int');
    text as it is, '' when missing."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if kind == "e":
        return f"{float(value):.2e}"
    if kind == "int":
        return f"{int(value)}"
    return f"{float(value):.3g}"


def span_text(low, high) -> str:
    """'24-315', or 'empty' when either end is missing."""
    return f"{float(low):.4g}-{float(high):.4g}" if finite(low) and finite(high) else "empty"


def window_text(fit, plateau: bool = False) -> str:
    """'N 24-315 (edges·G 9-300)': a window's range in N, and in edges x G when fitted in it."""
    prefix = "plateau_" if plateau else ""
    text = f"N {span_text(fit[f'{prefix}n_lo'], fit[f'{prefix}n_hi'])}"
    if fit["variable"] == GRID_VARIABLE:
        grid = span_text(fit[f"{prefix}edges_g_lo"], fit[f"{prefix}edges_g_hi"])
        text += f" ({GRID_VARIABLE} {grid})"
    return text


def stalled_mark(text: str, stalled) -> str:
    """An alpha's text with STALLED_MARK when stalled stages lie in its window."""
    return f"{text} {STALLED_MARK}" if text and finite(stalled) and int(stalled) > 0 else text


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a frame (cells as text; '|' escaped)."""

    def cell(value) -> str:
        if isinstance(value, float):
            text = "" if math.isnan(value) else f"{value:.4g}"
        elif value is None or value is pd.NA:
            text = ""
        else:
            text = str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for values in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"
