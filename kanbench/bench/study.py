"""A bench study: every case's families measured side by side and stored as a record.

Per case, in one process: each family's model is built (kanbench.bench.models), timed for
each metric beside the others (kanbench.bench.timing), and described (trainable count,
form, FLOPs per sample in the three conventions of kanbench.flops); throughput is
batch / forward+backward time. All cases are timed before any memory probe, which pins
the allocator's settings. Each case is stored as <out>/bench/<bench_id>.json
(kanbench.store: atomic, with schema and provenance); a rerun skips the cases already
stored. kanbench.analysis.load_bench reads them back and kanbench-report draws them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from kanbench import store
from kanbench.bench import models
from kanbench.bench.cases import PYKAN_FORMS, Case
from kanbench.bench.timing import peak_memory_mb, time_side_by_side, workloads
from kanbench.config import DTYPES
from kanbench.models import count_trainable, kan_size
from kanbench.train import now_utc

log = logging.getLogger(__name__)


def _skip_reason(family: str, case: Case) -> str | None:
    if family not in PYKAN_FORMS:
        return None
    if not models.pykan_available():
        return "pykan not installed (pip install -e '.[reference]')"
    n = kan_size(case.widths, case.grid_size, case.spline_order)
    if n > case.pykan_max_params:
        return f"N = {n} > pykan_max_params = {case.pykan_max_params}"
    return None


def _inputs(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    dtype = DTYPES[case.dtype]
    x = torch.rand(case.batch, case.widths[0], generator=generator, dtype=dtype) * 2 - 1
    y = torch.zeros(case.batch, case.widths[-1], dtype=dtype)
    return x.to(case.device), y.to(case.device)


def time_case(case: Case) -> dict[str, dict]:
    """Sizes, FLOPs and times of every family of the case: family -> row."""
    torch.set_num_threads(case.threads)
    x, y = _inputs(case)
    rows: dict[str, dict] = {}
    works: dict[str, dict[str, Callable]] = {}
    for family in case.families:
        reason = _skip_reason(family, case)
        if reason:
            log.info("%s: %s skipped: %s", case.bench_id, family, reason)
            rows[family] = {"family": family, "status": "skipped", "note": reason}
            continue
        model = models.build_model(family, case)
        rows[family] = {
            "family": family,
            "status": "ok",
            "note": "",
            **models.describe(family, model, case),
        }
        works[family] = workloads(model, x, y)
    for metric in case.metrics:
        timed = time_side_by_side(
            {f: w[metric] for f, w in works.items()}, case.device, case.min_time, case.rounds
        )
        for family, (seconds, spread) in timed.items():
            rows[family][f"{metric}_ms"] = seconds * 1e3
            rows[family][f"{metric}_spread"] = spread
    for family in works:
        if "fwd_bwd_ms" in rows[family]:
            rows[family]["samples_per_s"] = case.batch / (rows[family]["fwd_bwd_ms"] / 1e3)
    return rows


def probe_case(case: Case, rows: dict[str, dict]) -> None:
    """Add each measured family's peak memory of one forward + backward to its row."""
    torch.set_num_threads(case.threads)
    x, y = _inputs(case)
    for family, row in rows.items():
        if row["status"] == "ok":
            work = workloads(models.build_model(family, case), x, y)["fwd_bwd"]
            row["peak_mb"] = peak_memory_mb(work, case.device)


def record(case: Case, rows: dict[str, dict], started: str) -> dict:
    """The stored form of a measured case (kanbench.store's layout)."""
    device_name = torch.cuda.get_device_name() if case.device == "cuda" else None
    return {
        "schema": store.SCHEMA_VERSION,
        "kind": "bench",
        "bench_id": case.bench_id,
        "status": "complete",
        "case": {**asdict(case), "shape": case.shape},
        "provenance": {**store.provenance(), "device_name": device_name},
        "started": started,
        "finished": now_utc(),
        "rows": list(rows.values()),
    }


def run_study(cases: Sequence[Case], out_dir: str | Path, resume: bool = True) -> list[dict]:
    """Measure every case not already stored under out_dir; returns every case's record.

    Cases on device cuda are skipped, with a warning, where torch sees no CUDA device.

    All timings run before any memory probe (the probe pins glibc's allocator settings,
    which changes later timings); each case's record is written once it is complete.
    """
    if not torch.cuda.is_available() and any(c.device == "cuda" for c in cases):
        log.warning("device cuda: skipped, torch sees no CUDA device")
        cases = [c for c in cases if c.device != "cuda"]
    records: dict[str, dict] = {}
    pending = []
    for case in cases:
        path = store.bench_path(out_dir, case.bench_id)
        stored = store.read_run(path) if resume else None
        if store.is_finished(stored) and stored.get("kind") == "bench":
            records[case.bench_id] = stored
        else:
            pending.append(case)
    if not pending:
        return [records[c.bench_id] for c in cases]
    started = now_utc()
    timed = []
    for index, case in enumerate(pending, 1):
        log.info("timing %d/%d: %s", index, len(pending), case.bench_id)
        timed.append(time_case(case))
    for case, rows in zip(pending, timed, strict=True):
        if case.memory:
            probe_case(case, rows)
        records[case.bench_id] = record(case, rows, started)
        store.write_run(store.bench_path(out_dir, case.bench_id), records[case.bench_id])
    return [records[c.bench_id] for c in cases]


def time_against_matched_mlp(
    model: nn.Module,
    batch: int,
    min_time: float = 0.5,
    rounds: int = 5,
    seed: int = 0,
) -> dict:
    """Forward + backward of any model against the MLP matched to its trainable count.

    The MLP has as many linear layers as the model has layers (at least 2) and the width
    whose count is nearest (models.mlp_of_size); both run side by side (time_side_by_side)
    on one batch of uniform inputs in the model's dtype and device. Returns the median
    milliseconds of each, their spreads, the MLP's width and size, and ratio = model / MLP.
    """
    parameter = next(model.parameters())
    widths = list(model.widths)
    n = count_trainable(model)
    torch.manual_seed(seed)
    mlp = models.mlp_of_size(n, widths, parameter.dtype, parameter.device)
    x = torch.rand(batch, widths[0], dtype=parameter.dtype, device=parameter.device) * 2 - 1
    y = torch.rand(batch, widths[-1], dtype=parameter.dtype, device=parameter.device)
    works = {name: workloads(m, x, y)["fwd_bwd"] for name, m in (("model", model), ("mlp", mlp))}
    timed = time_side_by_side(works, parameter.device.type, min_time, rounds)
    return {
        "n_params": n,
        "mlp_width": mlp.width,
        "mlp_n_params": count_trainable(mlp),
        "fwd_bwd_ms": timed["model"][0] * 1e3,
        "mlp_fwd_bwd_ms": timed["mlp"][0] * 1e3,
        "spread": max(timed["model"][1], timed["mlp"][1]),
        "ratio": timed["model"][0] / timed["mlp"][0],
    }
