"""Tests of kanbench.data: seeded, uniform, float64 datasets with documented label noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kanbench.data import Dataset, make_dataset, to_torch
from kanbench.tasks import get_task, task_from_config

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _arrays(dataset: Dataset) -> list[np.ndarray]:
    return [getattr(dataset, name) for name in ARRAYS]


def test_same_seed_gives_identical_data():
    task = get_task("exp_sin_y2")
    a = make_dataset(task, n_train=50, n_test=30, noise=0.1, seed=7)
    b = make_dataset(task, n_train=50, n_test=30, noise=0.1, seed=7)
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_seed_gives_different_data():
    task = get_task("exp_sin_y2")
    a = make_dataset(task, n_train=50, n_test=30, seed=0)
    b = make_dataset(task, n_train=50, n_test=30, seed=1)
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        assert not np.any(x == y)


def test_train_and_test_are_drawn_independently():
    task = get_task("exp_sin_y2")
    base = make_dataset(task, n_train=40, n_test=40, seed=3)
    assert not np.any(base.x_train == base.x_test)
    # the training set does not depend on n_test or noise; the test set not on n_train
    other = make_dataset(task, n_train=80, n_test=10, noise=0.5, seed=3)
    np.testing.assert_array_equal(other.x_train[:40], base.x_train)
    np.testing.assert_array_equal(other.x_test, base.x_test[:10])
    np.testing.assert_array_equal(other.y_test, base.y_test[:10])


def test_shapes_dtype_and_read_only():
    task = get_task("feynman_I_9_18")
    data = make_dataset(task, n_train=13, n_test=7)
    assert data.x_train.shape == (13, 9) and data.y_train.shape == (13, 1)
    assert data.x_test.shape == (7, 9) and data.y_test.shape == (7, 1)
    assert (data.n_train, data.n_test, data.input_dim) == (13, 7, 9)
    for array in _arrays(data):
        assert array.dtype == np.float64
        assert not array.flags.writeable


def test_inputs_are_uniform_inside_the_ranges():
    task = get_task("feynman_I_9_18")  # ranges differ between variables
    data = make_dataset(task, n_train=4000, n_test=10)
    lo, hi = task.lows, task.highs
    assert np.all(data.x_train >= lo) and np.all(data.x_train <= hi)
    assert np.all(data.x_test >= lo) and np.all(data.x_test <= hi)
    # mean and std of U(lo, hi) are (lo + hi)/2 and (hi - lo)/sqrt(12); 4000 samples
    # put the sample mean within 4 standard errors
    width = hi - lo
    assert np.all(
        np.abs(data.x_train.mean(axis=0) - (lo + hi) / 2) < 4 * width / np.sqrt(12 * 4000)
    )
    np.testing.assert_allclose(data.x_train.std(axis=0), width / np.sqrt(12), rtol=0.05)


def test_clean_labels_are_the_task_values():
    task = get_task("jv")
    data = make_dataset(task, n_train=20, n_test=20)
    np.testing.assert_array_equal(data.y_train[:, 0], task(data.x_train))
    np.testing.assert_array_equal(data.y_test[:, 0], task(data.x_test))


@pytest.mark.parametrize("noise", [0.05, 0.5])
def test_noise_std_is_noise_times_std_of_clean_train_labels(noise):
    task = get_task("exp_sin_y2")
    data = make_dataset(task, n_train=20000, n_test=100, noise=noise, seed=5)
    clean = task(data.x_train)
    residual = data.y_train[:, 0] - clean
    np.testing.assert_allclose(residual.std(), noise * clean.std(), rtol=0.03)
    assert abs(residual.mean()) < 4 * noise * clean.std() / np.sqrt(20000)
    # test labels stay clean
    np.testing.assert_array_equal(data.y_test[:, 0], task(data.x_test))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_train": -1}, "n_train"),
        ({"n_train": 0}, "n_train"),
        ({"n_train": 2.5}, "n_train"),
        ({"n_train": True}, "n_train"),
        ({"n_test": -5}, "n_test"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"noise": float("inf")}, "noise"),
        ({"noise": "0.1"}, "noise"),
        ({"seed": -1}, "seed"),
        ({"seed": None}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument} must be"):
        make_dataset(get_task("exp_sin_y2"), **kwargs)


def test_non_finite_labels_raise_naming_the_task():
    task = task_from_config({"name": "bad_log", "formula": "log(x)", "variables": {"x": [-1, 1]}})
    with pytest.raises(ValueError, match="task 'bad_log' gives .* non-finite labels"):
        make_dataset(task, n_train=100, n_test=100)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(torch.float64, torch.float64), ("float32", torch.float32), (torch.float32, torch.float32)],
)
def test_to_torch_copies_values_and_shapes(dtype, expected):
    data = make_dataset(get_task("exp_sin_4d"), n_train=11, n_test=6)
    tensors = to_torch(data, dtype=dtype, device="cpu")
    for name, tensor in zip(ARRAYS, tensors, strict=True):
        array = getattr(data, name)
        assert tensor.dtype == expected and tuple(tensor.shape) == array.shape
        np.testing.assert_allclose(tensor.double().numpy(), array, rtol=1e-6)
    assert tensors.x_train is tensors[0]


@pytest.mark.parametrize("dtype", ["float", torch.int64])
def test_to_torch_rejects_non_float_dtypes(dtype):
    data = make_dataset(get_task("product_xy"), n_train=2, n_test=2)
    with pytest.raises(ValueError, match="dtype must be"):
        to_torch(data, dtype=dtype)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("1/x", "extreme magnitude, -6.65e\\+03 at \\(-0.0001505, "),
        ("x/(y - 0.3)", "interquartile ranges from the median \\(a pole in the domain\\?\\)"),
        ("lpmv(2, 1e7, x)", "task 't': lpmv: argument v must lie within \\+-1000, got 1e\\+07"),
        ("sph_harm_y_re(5000, 1, x, y)", "argument n must lie within \\+-1000"),
    ],
)
def test_labels_with_a_pole_or_an_unbounded_order_are_refused(formula, message):
    task = task_from_config(
        {"name": "t", "formula": formula, "variables": {"x": [-1, 1], "y": [-1, 1]}}
    )
    with pytest.raises(ValueError, match=message):
        make_dataset(task, 1000, 1000, seed=0)


@pytest.mark.parametrize("formula", ["exp(10*x)", "1/(x**2 + 0.01)", "log(abs(x))", "0*x + 2"])
def test_steep_but_finite_functions_and_constants_pass_the_spread_check(formula):
    task = task_from_config({"name": "t", "formula": formula, "variables": {"x": [-1, 1]}})
    make_dataset(task, 1000, 1000, seed=0)


def test_every_library_task_passes_the_label_checks():
    from kanbench.tasks import list_tasks

    for task in list_tasks():
        make_dataset(task, 1000, 1000, seed=0)


def test_labels_that_would_take_too_long_are_refused_after_a_probe(monkeypatch):
    import time

    import kanbench.data as data

    task = task_from_config({"name": "slow", "formula": "sin(x)", "variables": {"x": [-1, 1]}})
    calls = []
    real = type(task).__call__

    def slow(self, x):
        calls.append(len(x))
        time.sleep(0.05)
        return real(self, x)

    monkeypatch.setattr(type(task), "__call__", slow)
    monkeypatch.setattr(data, "LABEL_TIME_LIMIT_S", 1.0)
    with pytest.raises(ValueError, match=r"task 'slow': its labels would take about \d+ s"):
        make_dataset(task, 100_000, 10)
    assert calls == [data.LABEL_PROBE]  # refused after the probe, the rest never evaluated
    monkeypatch.setattr(data, "LABEL_TIME_LIMIT_S", 120.0)
    dataset = make_dataset(task, 1000, 10)
    assert np.allclose(dataset.y_train[:, 0], np.sin(dataset.x_train[:, 0]))
