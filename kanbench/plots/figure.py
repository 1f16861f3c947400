"""What every figure shares: the record of what a plot drew (Layer, Drawn), saving it, log
axes with plain tick labels, the marker cycle and the colour a family is shown with (from
the family registry, kanbench.families).

Every figure draws on its own matplotlib Figure (no pyplot, no global backend switch;
saving renders through Agg).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from kanbench.families import FAMILIES

FORMATS = ("png", "pdf")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">")


@dataclass(frozen=True)
class Layer:
    """One thing a plot drew: kind is 'points', 'stalled', 'fit', 'plateau-fit', 'window'
    (x: the shaded window's ends, y: NaN), 'theory', 'guide', 'history' or 'boundary';
    panel names the axes (a task, or a panel's title)."""

    panel: str
    kind: str
    label: str
    x: np.ndarray
    y: np.ndarray
    series: str | None = None


@dataclass
class Drawn:
    """A figure and the record of what it shows."""

    figure: Figure
    layers: list[Layer] = field(default_factory=list)

    def data(self, kind: str | None = None, panel: str | None = None) -> pd.DataFrame:
        """The drawn data as a frame (panel, kind, label, series, x, y), one row per point."""
        rows = [
            {
                "panel": layer.panel,
                "kind": layer.kind,
                "label": layer.label,
                "series": layer.series,
                "x": x,
                "y": y,
            }
            for layer in self.layers
            if (kind is None or layer.kind == kind) and (panel is None or layer.panel == panel)
            for x, y in zip(layer.x, layer.y, strict=True)
        ]
        return pd.DataFrame(rows, columns=["panel", "kind", "label", "series", "x", "y"])


def save(drawn: Drawn, out_dir: str | os.PathLike, stem: str, formats=FORMATS) -> list[Path]:
    """Write the figure as out_dir/stem.<format> for each format; returns the paths."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"formats must be among {FORMATS}, got {unknown}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        drawn.figure.savefig(path, dpi=150 if fmt == "png" else None)
        paths.append(path)
    return paths


def log_axes(ax, x: bool = True, y: bool = True) -> None:
    """Log scales with plain-text tick labels (1e-05, 0.01: faster than mathtext)."""
    for use, axis, set_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if use:
            set_scale("log")
            axis.set_major_formatter(LogFormatter(labelOnlyBase=True))
            axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def family_colour(name: str) -> str:
    """The colour a family's points and lines are drawn in: its registry entry's (C7 for a
    name the registry does not know)."""
    return FAMILIES[name].colour if name in FAMILIES else "C7"
