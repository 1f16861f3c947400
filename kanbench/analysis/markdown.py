"""The tables of an analysis formatted for reading: one text cell per quantity, as the
Markdown files of a report show them (the CSV files keep the numbers)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from kanbench.analysis.series import GRID_VARIABLE, N_VARIABLE, family_labels
from kanbench.analysis.stages import GAP_LIMIT, is_staged
from kanbench.analysis.tables import FLAGGED_COLUMNS, THEORY_KAN, THEORY_MLP
from kanbench.analysis.text import finite, format_interval, number, stalled_mark, window_text


def summary_markdown_frame(summary: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """The summary table with its numbers formatted for reading (one cell per quantity):
    a staged family's alpha in edges·G (the KAN's beside the theory k + 1), the others'
    in N (the MLP's beside 4/d)."""
    families = [(f, name) for f, name in family_labels().items() if f"alpha_{f}" in summary]
    rows = []
    for _, r in summary.iterrows():
        row = {"task": r["task"], "d": number(r["d"], "int")}
        for key, label in families:
            header = GRID_VARIABLE if is_staged(key) else N_VARIABLE
            other = "" if r[f"variable_{key}"] == header else f" (in {r[f'variable_{key}']})"
            alpha = format_interval(r[f"alpha_{key}"], r[f"alpha_lo_{key}"], r[f"alpha_hi_{key}"])
            alpha = stalled_mark(alpha + other if alpha else "", r[f"stalled_{key}"])
            row[f"{label} series"] = r[f"series_{key}"] or "-"
            row[f"α {label} in {header}"] = alpha or r[f"note_{key}"] or "no fit"
            if key == THEORY_KAN:
                row[f"theory KAN k+1 in {GRID_VARIABLE}"] = number(r["alpha_theory_kan"])
            if key == THEORY_MLP:
                row[f"theory MLP 4/d in {N_VARIABLE}"] = number(r["alpha_theory_mlp"])
            row[f"α {label} window"] = r[f"window_{key}"]
            row[f"α {label} interval"] = r[f"interval_{key}"]
            plateau = format_interval(
                r[f"plateau_alpha_{key}"],
                r[f"plateau_alpha_lo_{key}"],
                r[f"plateau_alpha_hi_{key}"],
            )
            row[f"α {label} with E in {header}"] = (
                f"{plateau}{other}, E={r[f'plateau_E_{key}']:.1e}" if plateau else "no fit"
            )
        for key, label in families:
            best = r[f"best_rmse_{key}"]
            row[f"best RMSE {label} (N)"] = (
                f"{best:.2e} ({int(r[f'best_n_{key}'])})" if finite(best) else "no runs"
            )
        for threshold in thresholds:
            for key, label in families:
                row[f"N to {threshold:g} {label}"] = number(r[f"n_to_{threshold:g}_{key}"], "int")
        rows.append(row)
    return pd.DataFrame(rows)


def fits_markdown_frame(fits: pd.DataFrame) -> pd.DataFrame:
    """The fits table formatted for reading: alpha in edges·G (staged families) and in N,
    each window's range in both variables, the interval methods and the notes."""
    rows = []
    for _, f in fits.iterrows():
        grid = f["variable"] == GRID_VARIABLE

        def alpha(prefix: str, suffix: str, f=f) -> str:
            text = format_interval(
                f[f"{prefix}alpha{suffix}"],
                f[f"{prefix}alpha{suffix}_lo"],
                f[f"{prefix}alpha{suffix}_hi"],
            )
            return stalled_mark(text, f["n_stalled"]) or "no fit"

        rows.append(
            {
                "task": f["task"],
                "series": f["series"] + (" *" if f["primary"] else ""),
                "runs": f["n_runs"],
                "seeds (fitted)": f"{f['n_seeds']} ({f['seeds_fit']})",
                "points (in window)": f"{f['n_points']} ({f['n_window']})",
                "window": window_text(f),
                f"α in {GRID_VARIABLE}": alpha("", "_grid") if grid else "-",
                f"α in {N_VARIABLE}": alpha("", ""),
                "interval": f["interval"],
                "plateau window": window_text(f, plateau=True),
                f"α with E in {GRID_VARIABLE}": alpha("plateau_", "_grid") if grid else "-",
                f"α with E in {N_VARIABLE}": alpha("plateau_", ""),
                "E": number(f["plateau_E"], "e"),
                "interval (with E)": f["plateau_interval"],
                "note": f["note"],
            }
        )
    return pd.DataFrame(rows)


def optimality_markdown_frame(optimality: pd.DataFrame) -> pd.DataFrame:
    """The optimality table formatted for reading."""
    rows = []
    for _, r in optimality.iterrows():
        largest = (
            f"{r['largest_gap']:.3g} (G={number(r['largest_gap_G'], 'int')})"
            if finite(r["largest_gap"])
            else "-"
        )
        rows.append(
            {
                "task": r["task"],
                "series": r["series"],
                "stages": r["stages"],
                f"within {GAP_LIMIT:g}x of the optimum (of those with one)": (
                    f"{r['within_limit']} of {r['with_optimum']}"
                ),
                "largest gap (G)": largest,
                "flagged": r["flagged"],
            }
        )
    return pd.DataFrame(rows)


def flagged_markdown_frame(flagged: pd.DataFrame) -> pd.DataFrame:
    """The flagged stages formatted for reading."""
    return pd.DataFrame(
        {
            "task": flagged["task"],
            "series": flagged["series"],
            "seed": flagged["seed"].map(lambda v: number(v, "int")),
            "G": flagged["G"].map(lambda v: number(v, "int")),
            "N": flagged["N"].map(lambda v: number(v, "int")),
            "train": flagged["train"].map(lambda v: number(v, "e")),
            "optimum": flagged["optimum"].map(lambda v: number(v, "e")),
            "gap": flagged["gap"].map(number),
            "flag": flagged["flag"],
        },
        columns=list(FLAGGED_COLUMNS),
    )
