"""Speed and memory of a KAN against the MLP matched to its parameter count (kanbench-bench).

For each KAN shape, grid size and batch: the median time of one forward + backward pass
(torch.utils.benchmark, repeated until min_time has passed), the peak memory that pass
adds (kanbench.memory), and the same for the MLP whose trainable-parameter count is
nearest the KAN's, with as many linear layers as the KAN has layers (at least 2). Both
run in one process, one after the other, so that their ratio is measured under the same
conditions.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils import benchmark

from kanbench import memory
from kanbench.models import KAN, MLP, bspline, count_trainable, kan_size, match_mlp_width

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# the shapes and batches of the model-core acceptance figures
DEFAULT_CASES = (("16,64,1", 1024), ("64,64,64,1", 1024), ("256,256", 512))


@dataclass(frozen=True)
class BenchRow:
    """One KAN shape at one batch size against its matched MLP."""

    widths: str
    grid_size: int
    spline_order: int
    batch: int
    dtype: str
    threads: int
    kan_params: int
    mlp_depth: int
    mlp_width: int
    mlp_params: int
    kan_ms: float
    mlp_ms: float
    kan_peak_mb: float | None
    mlp_peak_mb: float | None

    @property
    def time_ratio(self) -> float:
        return self.kan_ms / self.mlp_ms if self.mlp_ms else math.nan

    @property
    def memory_ratio(self) -> float | None:
        if self.kan_peak_mb is None or not self.mlp_peak_mb:
            return None
        return self.kan_peak_mb / self.mlp_peak_mb


def parse_widths(text: str) -> list[int]:
    """'16,64,1' -> [16, 64, 1], with a clear error for anything else."""
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"shape must be comma-separated integers such as 16,64,1, got {text!r}"
        ) from None
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"shape needs at least 2 positive widths, got {text!r}")
    return widths


def matched_mlp(
    widths: Sequence[int], grid_size: int, spline_order: int, dtype: torch.dtype
) -> MLP:
    """The MLP with max(2, len(widths) - 1) layers whose count is nearest the KAN's."""
    depth = max(2, len(widths) - 1)
    target = kan_size(widths, grid_size, spline_order)
    match = match_mlp_width(target, widths[0], depth, widths[-1])
    return MLP(widths[0], depth, match.width, widths[-1], dtype=dtype)


def _forward_backward(model: nn.Module, x: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()


def time_forward_backward(model: nn.Module, x: torch.Tensor, min_time: float) -> float:
    """Median seconds of one forward + backward pass."""
    timer = benchmark.Timer(
        "step(model, x)",
        globals={"step": _forward_backward, "model": model, "x": x},
        num_threads=torch.get_num_threads(),
    )
    return timer.blocked_autorange(min_run_time=min_time).median


def peak_forward_backward(model: nn.Module, x: torch.Tensor) -> float | None:
    """Peak MB that one forward + backward pass adds, or None where it cannot be probed.

    The KAN's reusable scratch buffers are freed first, so that the peak counts them.
    """

    def work() -> None:
        bspline.release_scratch()
        _forward_backward(model, x)

    peak = memory.peak_bytes(work)
    return None if peak is None else peak / 2**20


def bench_case(
    widths: Sequence[int],
    batch: int,
    grid_size: int = 5,
    spline_order: int = 3,
    dtype: str = "float32",
    min_time: float = 1.0,
    probe_memory: bool = True,
    seed: int = 0,
) -> BenchRow:
    """Time, or probe the memory of, a KAN and its matched MLP on one batch of inputs."""
    torch_dtype = DTYPES[dtype]
    torch.manual_seed(seed)
    kan = KAN(widths, grid_size, spline_order, dtype=torch_dtype)
    for layer in kan.layers:  # time every pass in full, as with a new minibatch each step
        layer.input_cache = None
    mlp = matched_mlp(widths, grid_size, spline_order, torch_dtype)
    x = torch.rand(batch, widths[0], dtype=torch_dtype) * 2 - 1
    if probe_memory:  # the probe pins glibc's allocator settings: no timing after it
        kan_s = mlp_s = math.nan
        peaks = [peak_forward_backward(m, x) for m in (kan, mlp)]
    else:
        kan_s, mlp_s = (time_forward_backward(m, x, min_time) for m in (kan, mlp))
        peaks = [None, None]
    return BenchRow(
        ",".join(map(str, widths)),
        grid_size,
        spline_order,
        batch,
        dtype,
        torch.get_num_threads(),
        count_trainable(kan),
        mlp.depth,
        mlp.width,
        count_trainable(mlp),
        kan_s * 1e3,
        mlp_s * 1e3,
        *peaks,
    )


def _number(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.{digits}f}"


def format_table(rows: Sequence[BenchRow]) -> str:
    """A fixed-width table of the rows with the KAN / MLP ratios."""
    header = (
        f"{'shape':>12} {'G':>4} {'batch':>6} {'N_kan':>8} {'mlp':>10} {'N_mlp':>8} "
        f"{'kan ms':>8} {'mlp ms':>8} {'t ratio':>7} {'kan MB':>7} {'mlp MB':>7} "
        f"{'m ratio':>7}"
    )
    lines = [header]
    for row in rows:
        mem = [
            f"{v:7.1f}" if v is not None else f"{'-':>7}"
            for v in (row.kan_peak_mb, row.mlp_peak_mb)
        ]
        ratio = f"{row.memory_ratio:7.2f}" if row.memory_ratio is not None else f"{'-':>7}"
        lines.append(
            f"{row.widths:>12} {row.grid_size:>4} {row.batch:>6} {row.kan_params:>8} "
            f"{f'{row.mlp_depth}x{row.mlp_width}':>10} {row.mlp_params:>8} "
            f"{_number(row.kan_ms, 8, 3)} {_number(row.mlp_ms, 8, 3)} "
            f"{_number(row.time_ratio, 7, 2)} {mem[0]} {mem[1]} {ratio}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kanbench-bench",
        description="Forward+backward time and peak memory of KANs against parameter-matched "
        "MLPs (median of repeated runs, one process).",
    )
    parser.add_argument(
        "--shape",
        action="append",
        help="KAN widths such as 16,64,1 (repeatable; default: the model-core acceptance shapes)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        action="append",
        help="batch sizes to time (repeatable; default 1024, 512 for 256,256)",
    )
    parser.add_argument(
        "--memory-batch",
        type=int,
        default=8192,
        help="batch at which peak memory is probed (0 to skip; default 8192)",
    )
    parser.add_argument("--grid", type=int, default=5, help="grid size G (default 5)")
    parser.add_argument("--order", type=int, default=3, help="spline order k (default 3)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--min-time",
        type=float,
        default=1.0,
        help="seconds of repeated runs per timing (default 1)",
    )
    parser.add_argument("--csv", help="also write the rows to this CSV file")
    args = parser.parse_args(argv)
    try:
        if args.threads < 1 or args.min_time <= 0 or args.memory_batch < 0:
            raise ValueError("--threads and --min-time must be positive, --memory-batch >= 0")
        if args.batch and min(args.batch) < 1:
            raise ValueError(f"--batch must be positive, got {args.batch}")
        if args.shape:
            cases = [(s, b) for s in args.shape for b in (args.batch or [1024])]
        else:
            cases = [(s, b) for s, b in DEFAULT_CASES for b in (args.batch or [b])]
        cases = [(parse_widths(s), b) for s, b in cases]
        KAN(cases[0][0], args.grid, args.order)  # checks G and k before any timing
    except ValueError as error:
        print(f"kanbench-bench: error: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    rows = [
        bench_case(w, b, args.grid, args.order, args.dtype, args.min_time, False) for w, b in cases
    ]
    print(
        f"forward+backward, median of repeated runs; {args.dtype}, {args.threads} thread(s), "
        f"torch {torch.__version__}"
    )
    print(format_table(rows))
    if args.memory_batch:
        shapes = list(dict.fromkeys(",".join(map(str, w)) for w, _ in cases))
        mem_rows = [
            bench_case(
                parse_widths(s),
                args.memory_batch,
                args.grid,
                args.order,
                args.dtype,
                min(args.min_time, 0.2),
                True,
            )
            for s in shapes
        ]
        print(
            f"\npeak memory of one forward+backward at batch {args.memory_batch} "
            f"(resident set, median of 3; not timed):"
        )
        print(format_table(mem_rows))
        rows += mem_rows
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=[*asdict(rows[0]), "time_ratio", "memory_ratio"]
            )
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {**asdict(row), "time_ratio": row.time_ratio, "memory_ratio": row.memory_ratio}
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
