"""Bench records (``<folder>/**/bench/<bench_id>.json``, written by kanbench-bench) into a
frame: one row per case and family with every ratio to the case's MLP (`load_bench`), and
the study's goals measured (`bench_goals`)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from kanbench.analysis.records import SUPPORTED_SCHEMAS, as_folders
from kanbench.families import FAMILIES

log = logging.getLogger(__name__)

# bench-only forms (kanbench.bench): the KAN forced into one form, and pykan
_BENCH_FORMS = ("kan_dense", "kan_sparse")
_REFERENCES = ("pykan", "pykan_speed")
BENCH_TIMES = ("fwd_ms", "fwd_bwd_ms", "adam_ms", "lbfgs_ms")
BENCH_VALUES = (*BENCH_TIMES, "peak_mb", "samples_per_s")
BENCH_GOALS = {
    "fwd_bwd_ratio_hidden64": 1.5,
    "grid1000_over_grid5": 1.5,
    "memory_ratio_batch65536": 2.0,
}


def find_bench_files(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Every bench record ``bench/*.json`` under each folder (searched recursively), sorted."""
    found: list[Path] = []
    for folder in as_folders(folders):
        if not folder.is_dir():
            raise ValueError(f"folder {str(folder)!r} does not exist or is not a folder")
        found += sorted(p for p in folder.rglob("*.json") if p.parent.name == "bench")
    return found


def load_bench(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per (bench case, family) of the bench records under the folders.

    Columns: the case (ladder, shape, grid_size, spline_order, batch, dtype, device,
    threads, rounds, min_time, bench_id), the family's row (family, status, note, form,
    n_params, flops_dense / flops_sparse / flops_pykan, each metric of BENCH_VALUES and
    its *_spread), provenance (git_commit, torch_version, device_name), width (the
    KAN's largest hidden width) and, for every value of BENCH_VALUES, <value>_ratio: the
    family's value over that of the case's MLP; fwd_bwd_over_kan: the family's
    forward+backward time over that of the case's KAN (automatic form). Rows come in
    ladder order, then by N, G, batch and family (the KAN, its forced forms, the
    registry's other families, pykan). Unreadable files are skipped with a warning; a
    file of an unknown schema raises ValueError, as does finding no record.
    """
    rows = []
    for path in find_bench_files(folders):
        try:
            run = json.loads(path.read_text())
            case, families = run["case"], run["rows"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("skipped unreadable bench file %s (%s)", path, error)
            continue
        if run.get("schema") not in SUPPORTED_SCHEMAS:
            raise ValueError(
                f"bench file {str(path)!r} has schema version {run.get('schema')!r}; this "
                f"kanbench reads versions {list(SUPPORTED_SCHEMAS)}"
            )
        provenance = run.get("provenance") or {}
        widths = [int(w) for w in str(case["shape"]).split(",")]
        for family in families:
            rows.append(
                {
                    **{k: v for k, v in case.items() if k not in ("widths", "families")},
                    "width": max(widths[1:-1], default=0),
                    "bench_id": run.get("bench_id"),
                    **family,
                    **{k: provenance.get(k) for k in ("git_commit", "torch_version")},
                    "device_name": provenance.get("device_name"),
                    "file": str(path),
                }
            )
    if not rows:
        raise ValueError("no bench records (bench/*.json) under the folders given")
    frame = pd.DataFrame.from_records(rows).drop_duplicates(["bench_id", "family"])
    for column in BENCH_VALUES:
        if column not in frame:
            frame[column] = math.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    baseline = frame[frame["family"] == "mlp"].set_index("bench_id")
    for column in BENCH_VALUES:
        reference = frame["bench_id"].map(baseline[column]).where(lambda v: v > 0)
        frame[f"{column}_ratio"] = frame[column] / reference  # NaN where the MLP's is 0
    frame["mlp_n_params"] = frame["bench_id"].map(baseline["n_params"])
    kan = frame[frame["family"] == "kan"].set_index("bench_id")["fwd_bwd_ms"]
    frame["fwd_bwd_over_kan"] = frame["fwd_bwd_ms"] / frame["bench_id"].map(kan)
    order = {name: i for i, name in enumerate(("n", "grid", "batch", "custom"))}
    frame["_order"] = frame["ladder"].map(order).fillna(len(order))
    families = ("kan", *_BENCH_FORMS, *(f for f in FAMILIES if f != "kan"), *_REFERENCES)
    frame["_family"] = frame["family"].map({f: i for i, f in enumerate(families)})
    keys = ["_order", "mlp_n_params", "grid_size", "batch", "bench_id", "_family"]
    frame = frame.sort_values(keys, kind="stable")
    return frame.drop(columns=["_order", "_family"]).reset_index(drop=True)


def bench_goals(frame: pd.DataFrame) -> pd.DataFrame:
    """The study's goals, measured: one row per goal with its value, target and verdict.

    - fwd_bwd_ratio_hidden64: the largest forward+backward KAN / MLP over the N ladder's
      KANs whose hidden widths reach 64 (target <= 1.5);
    - grid1000_over_grid5: forward+backward time of the KAN (automatic form) at G = 1000
      over G = 5 in the G ladder (target <= 1.5); sparse_grid1000_over_grid5 the same for
      the KAN forced into the sparse form (no target: how far its cost is from growing);
    - memory_ratio_batch65536: peak memory KAN / MLP at batch 65536 (target <= 2);
    - pykan_over_kanbench_min / _max (and pykan_speed_...): pykan's forward+backward time
      over kanbench's KAN, the smallest and largest over the cases that have both.
    A goal whose cases were not measured has value NaN and verdict 'not measured'.
    """
    ok = frame[frame["status"] == "ok"]
    kan = ok[ok["family"] == "kan"]

    def grid_ratio(family: str) -> float:
        rows = ok[(ok["family"] == family) & (ok["ladder"] == "grid")]
        times = rows.groupby("grid_size")["fwd_bwd_ms"].median()
        return times.get(1000, math.nan) / times.get(5, math.nan)

    hidden = kan[(kan["ladder"] == "n") & (kan["width"] >= 64)]
    goals = [
        ("fwd_bwd_ratio_hidden64", hidden["fwd_bwd_ms_ratio"].max()),
        ("grid1000_over_grid5", grid_ratio("kan")),
        ("sparse_grid1000_over_grid5", grid_ratio("kan_sparse")),
        ("memory_ratio_batch65536", kan[kan["batch"] == 65536]["peak_mb_ratio"].max()),
    ]
    for family in ("pykan", "pykan_speed"):
        both = ok[ok["family"] == family].merge(kan, on="bench_id", suffixes=("", "_kan"))
        ratio = both["fwd_bwd_ms"] / both["fwd_bwd_ms_kan"]
        goals += [(f"{family}_over_kanbench_min", ratio.min())]
        goals += [(f"{family}_over_kanbench_max", ratio.max())]
    rows = []
    for name, value in goals:
        target = BENCH_GOALS.get(name)
        if not np.isfinite(value):
            verdict = "not measured"
        elif target is None:
            verdict = "measured"
        else:
            verdict = "met" if value <= target else "not met"
        rows.append(
            {
                "goal": name,
                "value": value,
                "target": f"<= {target}" if target else "",
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)
