"""Datasets: seeded float64 samples of a task, split into independent train and test sets.

Inputs are uniform on the task's box prod_i [lo_i, hi_i] and labels y = f(x) are
computed in float64 (KAN paper §3.1: 1000 train and 1000 test points, no normalisation).
The data depend only on (task, sizes, noise, seed), never on the model family, so every
model in a comparison sees exactly the same samples.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from kanbench.tasks import Task

__all__ = ["Dataset", "TorchDataset", "make_dataset", "to_torch"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test samples of one task; the arrays are float64 and read-only.

    Attributes:
        x_train: inputs, shape (n_train, d).
        y_train: labels (noisy when noise > 0), shape (n_train, 1).
        x_test: inputs, shape (n_test, d).
        y_test: clean labels, shape (n_test, 1).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def n_test(self) -> int:
        return self.x_test.shape[0]

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]


class TorchDataset(NamedTuple):
    """The four arrays of a Dataset as torch tensors, same names and shapes."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def make_dataset(
    task: Task, n_train: int = 1000, n_test: int = 1000, noise: float = 0.0, seed: int = 0
) -> Dataset:
    """Sample a task: x ~ U(prod_i [lo_i, hi_i]), y = f(x), in float64.

    Train inputs, test inputs and the label noise come from three independent streams
    spawned from ``numpy.random.SeedSequence(seed)`` (the seed sequence behind
    ``numpy.random.default_rng(seed)``), so the same task and seed give
    exactly the same data, the training set does not depend on n_test or noise, and the
    test set does not depend on n_train or noise.

    Label noise (training labels only; test labels stay clean so that test error measures
    the distance to the true function): y_train = f(x) + eps, eps ~ N(0, s^2) independently
    per sample, with s = noise * std(f(x_train)) (population standard deviation of the clean
    training labels).

    Args:
        task: the target function and its domain.
        n_train: number of training samples, a positive integer.
        n_test: number of test samples, a positive integer.
        noise: relative noise level, a finite number >= 0 (0 means no noise).
        seed: a non-negative integer.

    Raises:
        ValueError: for a bad size, noise or seed (naming the argument), or when the task
            gives non-finite labels on its domain.
    """
    if not isinstance(task, Task):
        raise ValueError(f"task must be a kanbench.tasks.Task, got {type(task).__name__}")
    n_train = _positive_int(n_train, "n_train")
    n_test = _positive_int(n_test, "n_test")
    if isinstance(noise, bool) or not isinstance(noise, int | float | np.number):
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    noise = float(noise)
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if isinstance(seed, bool) or not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    train_stream, test_stream, noise_stream = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)
    )
    x_train = _uniform(train_stream, task, n_train)
    x_test = _uniform(test_stream, task, n_test)
    y_train = _labels(task, x_train)
    y_test = _labels(task, x_test)
    _check_spread(task, np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]))
    if noise > 0:
        scale = noise * float(np.std(y_train))
        y_train = y_train + scale * noise_stream.standard_normal(y_train.shape)

    arrays = [x_train, y_train, x_test, y_test]
    for array in arrays:
        array.flags.writeable = False
    return Dataset(*arrays)


def to_torch(
    dataset: Dataset, dtype: torch.dtype | str = torch.float64, device: torch.device | str = "cpu"
) -> TorchDataset:
    """Copy a Dataset to tensors of `dtype` ('float32', 'float64' or a torch dtype) on
    `device`; returns TorchDataset(x_train, y_train, x_test, y_test)."""
    if isinstance(dtype, str):
        allowed = {
            "float16": torch.float16,
            "bfloat16": torch.bfloat16,
            "float32": torch.float32,
            "float64": torch.float64,
        }
        if dtype not in allowed:
            raise ValueError(f"dtype must be one of {sorted(allowed)}, got {dtype!r}")
        dtype = allowed[dtype]
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch dtype, got {dtype!r}")
    return TorchDataset(
        *(
            torch.tensor(array, dtype=dtype, device=device)
            for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test)
        )
    )


def _uniform(rng: np.random.Generator, task: Task, n: int) -> np.ndarray:
    """n points uniform on the task's box, shape (n, d)."""
    return rng.uniform(task.lows, task.highs, size=(n, task.input_dim))


# labels farther than this many interquartile ranges from their median are refused: the
# library's tasks reach at most 25 (2000 samples); 1/x on [-1, 1] reaches 1.7e3, exp(10x)
# 152
EXTREME_SPREAD = 500
# labels are first evaluated on LABEL_PROBE samples; a task whose labels would then take
# longer than LABEL_TIME_LIMIT_S in all is refused before the rest is evaluated
LABEL_PROBE = 256
LABEL_TIME_LIMIT_S = 120.0


def _labels(task: Task, x: np.ndarray) -> np.ndarray:
    """f(x) as a column, shape (n, 1); non-finite labels are an error (raised below, so
    numpy's warnings for them are silenced)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        try:
            started = time.perf_counter()
            head = task(x[:LABEL_PROBE])
            expected = (time.perf_counter() - started) * len(x) / min(len(x), LABEL_PROBE)
            if expected > LABEL_TIME_LIMIT_S:
                raise ValueError(
                    f"its labels would take about {expected:.0f} s for {len(x)} samples "
                    f"(limit {LABEL_TIME_LIMIT_S:.0f} s); use fewer samples or cheaper "
                    f"function arguments"
                )
            y = np.concatenate([head, task(x[LABEL_PROBE:])]) if len(x) > LABEL_PROBE else head
        except ValueError as error:  # an argument out of a function's bounds, or too slow
            raise ValueError(f"task {task.name!r}: {error}") from None
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(
            f"task {task.name!r} gives {int(bad.sum())} non-finite labels out of {y.size} "
            f"on its domain; narrow its variable ranges"
        )
    return y[:, None]


def _check_spread(task: Task, x: np.ndarray, y: np.ndarray) -> None:
    """Refuse labels that reach EXTREME_SPREAD interquartile ranges from their median: a
    pole inside the domain, which would be trained silently and dominate every RMSE."""
    y = y.ravel()
    low, high = np.percentile(y, [25, 75])
    if not high > low:  # (nearly) constant labels: no spread to measure against
        return
    distance = np.abs(y - np.median(y)) / (high - low)
    worst = int(np.argmax(distance))
    if distance[worst] > EXTREME_SPREAD:
        point = ", ".join(f"{v:.4g}" for v in x[worst])
        raise ValueError(
            f"task {task.name!r} has a label of extreme magnitude, {y[worst]:.3g} at "
            f"({point}), {distance[worst]:.0f} interquartile ranges from the median (a pole "
            f"in the domain?); narrow its variable ranges"
        )


def _positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not _is_int(value) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    return int(value)


def _is_int(value) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True
