"""Timing and peak memory of the callables a bench case measures.

- workloads: per metric, the callable timed: a forward pass (autograd on), a forward +
  backward pass, an Adam step (zero_grad, forward, MSE loss, backward, step) and one LBFGS
  iteration (max_iter 1, strong-Wolfe line search, as the trainer's LBFGS).
- time_side_by_side: every callable timed in turn in each of `rounds` rounds (the order
  reversed every other round); a round's block repeats a call until it has run
  min_time / (rounds x callables) seconds; the median per call over rounds is reported
  with its spread, (q75 - q25) / median. CPU: wall clock, with freed memory kept for reuse
  (kanbench.memory.reusing_malloc); CUDA: events around the block, then a synchronise.
- peak_memory_mb: the memory one call adds at its peak: CPU the resident-set probe of
  kanbench.memory (run after every timing, as it pins the allocator's settings); CUDA
  torch.cuda.max_memory_allocated after reset_peak_memory_stats, less what was allocated
  before.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from kanbench import memory
from kanbench.models import bspline


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.mean((model(x) - y) ** 2)


def workloads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable]:
    """The callables timed for each metric (see the module docstring)."""
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    lbfgs = torch.optim.LBFGS(
        model.parameters(), lr=1e-3, max_iter=1, history_size=10, line_search_fn="strong_wolfe"
    )

    def fwd_bwd() -> None:
        model.zero_grad(set_to_none=True)
        _loss(model, x, y).backward()

    def adam_step() -> None:
        adam.zero_grad(set_to_none=True)
        _loss(model, x, y).backward()
        adam.step()

    def closure() -> torch.Tensor:
        lbfgs.zero_grad(set_to_none=True)
        loss = _loss(model, x, y)
        loss.backward()
        return loss

    return {
        "fwd": lambda: model(x),
        "fwd_bwd": fwd_bwd,
        "adam": adam_step,
        "lbfgs": lambda: lbfgs.step(closure),
    }


def _clock(device: str) -> Callable[[Callable, int], float]:
    """Seconds that `repeats` calls take: wall clock on CPU, CUDA events on a GPU."""
    if device == "cuda":

        def cuda_clock(work: Callable, repeats: int) -> float:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            torch.cuda.synchronize()
            start.record()
            for _ in range(repeats):
                work()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return cuda_clock

    def cpu_clock(work: Callable, repeats: int) -> float:
        begin = time.perf_counter()
        for _ in range(repeats):
            work()
        return time.perf_counter() - begin

    return cpu_clock


def time_side_by_side(
    works: dict[str, Callable], device: str, min_time: float, rounds: int
) -> dict[str, tuple[float, float]]:
    """(median seconds per call, spread) of each callable, timed in turn in every round.

    spread = (q75 - q25) / median over the rounds: the noise of the measurement. Freed
    memory is kept for reuse meanwhile (memory.reusing_malloc).
    """
    with memory.reusing_malloc():
        samples = _interleaved_samples(works, _clock(device), min_time, rounds)
    result = {}
    for name, values in samples.items():
        median = statistics.median(values)
        q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (median,) * 3
        result[name] = (median, (q3 - q1) / median if median else math.nan)
    return result


def _interleaved_samples(
    works: dict[str, Callable], clock: Callable, min_time: float, rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each callable in each round, the order reversed every other one."""
    repeats = {}
    for name, work in works.items():
        work()  # warm-up (allocations, lazy initialisation)
        once = clock(work, 1)
        repeats[name] = max(1, math.ceil(min_time / (rounds * len(works)) / max(once, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in works}
    names = list(works)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            samples[name].append(clock(works[name], repeats[name]) / repeats[name])
    return samples


def peak_memory_mb(work: Callable[[], object], device: str) -> float | None:
    """Peak MiB that one call of work adds (module docstring), or None where unknown."""
    if device == "cuda":
        work()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        work()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20

    def fresh() -> None:  # the KAN's reusable scratch buffers count in its peak
        bspline.release_scratch()
        work()

    peak = memory.peak_bytes(fresh)
    return None if peak is None else peak / 2**20
