"""Staged training against the least-squares optimum of the same splines (kanbench.optimum).

A KAN layer is linear in its coefficients once its grid and inputs are fixed, so the best
a single-layer KAN's splines can do on the training points is a least-squares solve. These
tests hold the recorded optimum to an independent solve, and the staged trainer to it.
"""

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from scipy.interpolate import BSpline

import kanbench.optim as optim
import kanbench.train as train
from kanbench.config import register_library_tasks, run_config
from kanbench.data import make_dataset, to_torch
from kanbench.models import KAN, KANLayer
from kanbench.monitor import Progress
from kanbench.optimum import last_layer_optimum

pytestmark = pytest.mark.usefixtures("float64")
register_library_tasks()

ADDITIVE = {
    "name": "additive_test",
    "formula": "sin(pi*x) + exp(y) + z**3",
    "variables": {"x": [-1, 1], "y": [-1, 1], "z": [-1, 2]},
    "kan_shape": [3, 1],
}


def _config(task: dict | str, *overrides):
    name = task if isinstance(task, str) else "exp_sin_y2"
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"task={name}", "progress=false", *overrides])
    cfg = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(task, str):
        cfg["task"] = task
    return run_config(cfg)


def _direct_optimum(grid: torch.Tensor, k: int, x: np.ndarray, y: np.ndarray) -> float:
    """The same least squares, built from scipy's B-splines (extrapolated outside [a, b])
    and numpy's solver: columns B_m(x_i) for each input i and m, then silu(x_i)."""
    grid = grid.numpy()
    columns = []
    for i in range(x.shape[1]):
        n_bases = grid.shape[1] - k - 1
        for m in range(n_bases):
            columns.append(BSpline(grid[i], np.eye(n_bases)[m], k, extrapolate=True)(x[:, i]))
    columns += [x[:, i] / (1 + np.exp(-x[:, i])) for i in range(x.shape[1])]
    design = np.stack(columns, axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=-1)  # cutoff: machine precision
    return float(np.sqrt(np.mean((design @ solution - y) ** 2)))


def test_recorded_optimum_equals_a_direct_least_squares_solve(monkeypatch):
    config = _config(ADDITIVE, "model.grid_schedule=[3,10]", "model.steps_per_grid=5")
    data = to_torch(make_dataset(config.task, 200, 50, 0.0, 0), torch.float64)
    seen = []

    def spy(model, x, y):
        optimum = last_layer_optimum(model, x, y)
        seen.append((model.layers[0].grid.clone(), optimum))
        return optimum

    monkeypatch.setattr(train, "last_layer_optimum", spy)
    records = [record for record, _ in train.train_staged(config, data, Progress(False))]
    assert len(records) == 2
    for record, (grid, _) in zip(records, seen, strict=True):
        direct = _direct_optimum(grid, 3, data.x_train.numpy(), data.y_train.numpy())
        assert record["lsq_scope"] == "model"
        # silu lies within about 1e-4 of the spline space, so the design is ill-conditioned
        # and two solvers' cutoffs for small singular values differ at this level
        assert record["lsq_train_rmse"] == pytest.approx(direct, rel=1e-3)
        assert record["lsq_train_rmse"] <= record["train_rmse"] * (1 + 1e-9)


def test_last_layer_optimum_of_a_deeper_kan_is_never_above_its_train_rmse():
    torch.manual_seed(0)
    model = KAN([2, 3, 1], grid_size=6)
    x = torch.rand(300, 2) * 2 - 1
    y = torch.sin(3 * x[:, :1]) * x[:, 1:]
    model.update_grid(x)
    optimum = last_layer_optimum(model, x, y)
    with torch.no_grad():
        train_rmse = (model(x) - y).pow(2).mean().sqrt().item()
    assert optimum.scope == "last layer"
    assert optimum.rmse <= train_rmse
    # the last layer's own optimum is reached by least squares on its coefficients alone
    layer = model.layers[-1]
    with torch.no_grad():
        hidden = model.layers[0](x)
        features = layer.linear_features(hidden)
        solution, *_ = np.linalg.lstsq(features.numpy(), y.numpy(), rcond=-1)
        theta = torch.as_tensor(solution[:, 0])
        n_bases = layer.coef.shape[-1]
        layer.scale_spline.fill_(1.0)
        layer.coef.copy_(theta[: 3 * n_bases].view(1, 3, n_bases))
        layer.scale_base.copy_(theta[3 * n_bases :].view(1, 3))
        refitted = (model(x) - y).pow(2).mean().sqrt().item()
    assert refitted == pytest.approx(optimum.rmse, rel=1e-3)


def test_a_family_without_linear_features_has_no_optimum():
    from kanbench.models import GroupedKAN

    model = GroupedKAN([2, 1], 5, 3)
    optimum = last_layer_optimum(model, torch.rand(10, 2), torch.rand(10, 1))
    assert optimum.rmse is None and "not linear" in optimum.reason


def _fit(model, x, y, steps):
    optim = _config("exp_sin_y2").optim
    data = train.TorchDataset(x, y, x[:2], y[:2])
    return train.fit_stage(model, data, optim, steps, 0, Progress(False), "test")


def test_lbfgs_reaches_the_optimum_once_the_loss_is_tiny(monkeypatch):
    """A [2, 1] KAN at G = 30 fitted from scratch: its optimum (RMSE 1e-6) lies far below
    the loss where torch.optim.LBFGS's fixed curvature threshold (y.s > 1e-10) drops every
    pair; LossScale keeps that threshold relative to the current loss (kanbench.optim)."""

    def over_optimum() -> float:
        torch.manual_seed(0)
        model = KAN([2, 1], grid_size=30)
        x = torch.rand(500, 2) * 2 - 1
        y = torch.sin(3 * x[:, :1]) + torch.exp(x[:, 1:])
        history = _fit(model, x, y, steps=40).history
        return history[-1][1] / last_layer_optimum(model, x, y).rmse

    assert over_optimum() < 1.1
    monkeypatch.setattr(optim.LossScale, "follow", lambda self, loss: None)
    assert over_optimum() > 5  # the mechanism: torch's fixed threshold


def test_rescaling_the_history_keeps_the_lbfgs_iterates():
    """LBFGS on an objective scaled by 2^30 partway, with its history rescaled, takes the
    steps of the unscaled run (powers of two scale exactly)."""

    def run(rescale_at: int | None) -> torch.Tensor:
        torch.manual_seed(3)
        w = torch.nn.Parameter(torch.randn(6))
        a = torch.randn(40, 6)
        b = torch.randn(40)
        opt = torch.optim.LBFGS(
            [w],
            max_iter=3,
            history_size=4,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-32,
            tolerance_change=1e-32,
        )
        scale = optim.LossScale(opt)
        for step in range(6):
            if step == rescale_at:
                scale.follow(2.0**-31)  # normalise as if the loss were 2^-31: factor 2^30

            def closure():
                opt.zero_grad()
                loss = (a @ w - b).pow(2).mean() * scale.factor
                loss.backward()
                return loss

            opt.step(closure)
        return w.detach()

    assert torch.equal(run(3), run(None))


def test_grid_changes_fold_the_spline_scale_into_the_coefficients():
    torch.manual_seed(1)
    layer = KANLayer(2, 3, grid_size=5)
    with torch.no_grad():
        layer.scale_spline.copy_(torch.tensor([[3e-3, -2.0], [0.5, 7.0], [1.0, 1e-4]]))
    x = torch.rand(400, 2) * 2 - 1
    before = layer(x)
    layer.refine(10)  # nested knots: the function is kept exactly
    assert torch.equal(layer.scale_spline, torch.ones_like(layer.scale_spline))
    torch.testing.assert_close(layer(x), before, atol=1e-12, rtol=1e-12)


def test_nested_refine_keeps_the_function_outside_the_grid_range_too():
    """Outside [a, b] a spline extrapolates its boundary cell's polynomial, so grid
    extension onto knots that contain the old ones keeps it everywhere."""
    torch.manual_seed(2)
    model = KAN([2, 3, 1], grid_size=5)
    inside = torch.rand(500, 2) * 2 - 1
    model.update_grid(inside)
    outside = torch.rand(500, 2) * 6 - 3  # up to a range beyond the grid on either side
    before = model(outside)
    model.refine(20)
    # far out the pieces grow as u^3 (u up to 30 cells here), and so does their rounding;
    # a taper to zero, as in the paper's splines, changed them by O(1)
    torch.testing.assert_close(model(outside), before, atol=1e-7, rtol=1e-7)


@pytest.mark.parametrize("task", [ADDITIVE, "bessel_j0_20x"], ids=["additive-3d", "j0"])
def test_a_staged_single_layer_kan_stays_within_3x_of_its_optimum(task):
    config = _config(
        task,
        "model.grid_schedule=[3,5,10,20,50]",
        "model.steps_per_grid=60",
        "model.restarts=2",
        "data.n_train=500",
    )
    data = to_torch(make_dataset(config.task, 500, 100, 0.0, 0), torch.float64)
    records = [record for record, _ in train.train_staged(config, data, Progress(False))]
    for record in records:
        assert record["lsq_scope"] == "model"
        assert record["train_rmse"] <= 3 * record["lsq_train_rmse"], record["grid_size"]
    assert records[-1]["train_rmse"] < records[0]["train_rmse"] / 100


def test_a_fresh_model_starts_on_its_data_not_far_outside_its_first_grid():
    """jv's inputs lie in [0, 2] x [1, 5]; a [2, 5, 1] KAN's first grid is [-1, 1]. Without
    placing the grids, G = 50 splines are extrapolated 100 cells out (values of 1e6 and
    more), and the first grid update would keep that."""
    config = _config("jv", "model.grid_schedule=[50]")
    data = to_torch(make_dataset(config.task, 300, 10, 0.0, 0), torch.float64)
    placed = train.build_staged(config, 50, x=data.x_train)
    unplaced = train.build_staged(config, 50)
    with torch.no_grad():
        assert placed(data.x_train).abs().max() < 100
        assert unplaced(data.x_train).abs().max() > 1e4
    first = placed.layers[0].grid[:, 3:-3]
    torch.testing.assert_close(first[:, 0], data.x_train.amin(0))
    torch.testing.assert_close(first[:, -1], data.x_train.amax(0))
