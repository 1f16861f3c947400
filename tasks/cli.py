"""`kanbench-tasks`: list the task library as a table.

Usage:

    kanbench-tasks                   # every task
    kanbench-tasks --group special   # one group: toy, special or feynman
    kanbench-tasks exp_sin_y2        # every field of the named tasks, nothing shortened
    python -m kanbench.tasks         # the same without the console script
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .library import GROUPS, get_task, list_tasks
from .task import Task

__all__ = ["describe", "format_table", "main"]

_FORMULA_WIDTH = 60
_DOMAIN_WIDTH = 44


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of library tasks (or the named tasks in full); returns 0.

    An unknown name or group exits with status 2 and a one-line message.
    """
    parser = argparse.ArgumentParser(
        prog="kanbench-tasks",
        description="List the kanbench task library: name, group, input dimension, "
        "KAN shape, domain and formula.",
    )
    parser.add_argument("names", nargs="*", help="show these tasks in full")
    parser.add_argument("--group", choices=GROUPS, help="show only this group")
    args = parser.parse_args(argv)
    if args.names:
        try:
            tasks = [get_task(name) for name in args.names]
        except ValueError as exc:
            parser.error(str(exc))
        print("\n\n".join(describe(task) for task in tasks))
    else:
        print(format_table(list_tasks(args.group)))
    return 0


def format_table(tasks: Sequence[Task]) -> str:
    """A plain-text table, one row per task; long formulas are shortened with '...'."""
    header = ("name", "group", "d", "KAN shape", "domain", "formula")
    rows = [
        (
            task.name,
            task.group,
            str(task.input_dim),
            "-" if task.kan_shape is None else "[" + ",".join(map(str, task.kan_shape)) + "]",
            _shorten(_domain(task), _DOMAIN_WIDTH),
            _shorten(task.formula, _FORMULA_WIDTH),
        )
        for task in tasks
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def describe(task: Task) -> str:
    """Every field of one task, one per line, with each variable's range."""
    shape = "unknown" if task.kan_shape is None else list(task.kan_shape)
    lines = [
        f"name:          {task.name}",
        f"group:         {task.group}",
        f"description:   {task.description}",
        f"reference:     {task.reference}",
        f"formula:       {task.formula}",
        f"elementary:    {task.elementary}",
        f"input dim:     {task.input_dim}",
        f"intrinsic dim: {task.intrinsic_dim}",
        f"KAN shape:     {shape}",
        "variables:",
    ]
    lines += [f"  {v}: {_interval(r)}" for v, r in zip(task.variables, task.ranges, strict=True)]
    return "\n".join(lines)


def _domain(task: Task) -> str:
    """'[-1,1]^2' when all ranges agree, else 'x:[1,5] y:[1,3] ...'."""
    if len(set(task.ranges)) == 1:
        box = _interval(task.ranges[0])
        return box if task.input_dim == 1 else f"{box}^{task.input_dim}"
    return " ".join(f"{v}:{_interval(r)}" for v, r in zip(task.variables, task.ranges, strict=True))


def _interval(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0]:.4g},{bounds[1]:.4g}]"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
