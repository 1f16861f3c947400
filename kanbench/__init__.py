"""kanbench: scaling laws and costs of Kolmogorov-Arnold Networks against matched MLPs.

The notebook API (kanbench.notebook) is importable from here; `import kanbench` stays
cheap, as its names are imported when first used:

    import kanbench

    study = kanbench.load_study("results/default_study")  # Study: .stages, .history
    analysis = kanbench.fit(study)                         # Analysis: fits and tables
    kanbench.tables(analysis)["summary"]                   # dict of DataFrames
    kanbench.plot_scaling(analysis, "exp_sin_y2")          # matplotlib Figure

plot_history and plot_cost draw the other figures of a report.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "Study",
    "fit",
    "load_study",
    "plot_cost",
    "plot_history",
    "plot_scaling",
    "tables",
]

if TYPE_CHECKING:  # for editors and type checkers; at run time __getattr__ imports them
    from kanbench.notebook import (
        Analysis,
        Study,
        fit,
        load_study,
        plot_cost,
        plot_history,
        plot_scaling,
        tables,
    )


def __getattr__(name: str):
    if name in __all__:
        from kanbench import notebook

        value = getattr(notebook, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kanbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
