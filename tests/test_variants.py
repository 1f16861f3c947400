"""The RBF, Chebyshev and grouped KAN families: their bases against independent references,
size-ups that keep the function, parameter counts, and a few training steps each through
the runner."""

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanbench.config import register_library_tasks
from kanbench.models import KAN, count_trainable, kan_size, match_mlp_width
from kanbench.models.chebyshev import ChebyKAN, ChebyKANLayer, chebyshev_t
from kanbench.models.grouped import GroupedKAN, GroupedKANLayer, group_index
from kanbench.models.rbf import RBFKAN, RBFKANLayer, gaussian_bases
from kanbench.models.size import cheby_kan_size, grouped_kan_size, rbf_kan_size
from kanbench.run import run

F64 = torch.float64


@pytest.fixture
def x3():
    torch.manual_seed(0)
    return torch.rand(400, 3, dtype=F64) * 2 - 1


def _relative_rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().pow(2).mean().sqrt() / b.detach().std())


# --------------------------------------------------------------------------- RBF


def test_gaussian_bases_match_the_formula_centre_by_centre():
    z = torch.linspace(-1.3, 1.2, 50, dtype=F64)[:, None].repeat(1, 2)
    lo, hi = torch.tensor([-1.0, 0.0], dtype=F64), torch.tensor([1.0, 2.0], dtype=F64)
    bases = gaussian_bases(z, lo, hi, 5)
    for i in range(2):
        h = (hi[i] - lo[i]) / 4
        for m in range(5):
            centre = lo[i] + m * h
            expected = torch.exp(-(((z[:, i] - centre) / h) ** 2))
            torch.testing.assert_close(bases[:, i, m], expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("g, g_new", [(3, 5), (5, 10), (10, 20), (20, 50), (50, 200)])
def test_rbf_size_up_keeps_the_layer_within_one_percent(x3, g, g_new):
    """Least squares cannot keep a sum of wide Gaussians exactly with narrower ones: the
    stated tolerance is a relative RMS change below 1% on the layer's range (measured
    0.14-0.9% from random coefficients)."""
    torch.manual_seed(g)
    layer = RBFKANLayer(3, 4, g, dtype=F64)
    before = layer(x3)
    layer.refine(g_new)
    assert layer.size == g_new and layer.coef.shape == (4, 3, g_new)
    assert _relative_rms(layer(x3), before) < 1e-2


def test_rbf_grid_update_spreads_the_centres_over_the_samples_and_keeps_the_function():
    torch.manual_seed(1)
    layer = RBFKANLayer(2, 3, 10, dtype=F64)
    x = torch.rand(500, 2, dtype=F64) * torch.tensor([1.0, 0.5], dtype=F64) - 0.25
    before = layer(x)
    layer.update_grid(x, margin=0.1)
    span = x.amax(0) - x.amin(0)
    torch.testing.assert_close(layer.lo, x.amin(0) - 0.1 * span)
    torch.testing.assert_close(layer.hi, x.amax(0) + 0.1 * span)
    assert _relative_rms(layer(x), before) < 1e-2


def test_rbf_layernorm_needs_two_inputs_and_normalises_them():
    with pytest.raises(ValueError, match="layernorm"):
        RBFKANLayer(1, 2, 5, layernorm=True)
    layer = RBFKANLayer(3, 2, 5, layernorm=True, dtype=F64)
    x = torch.randn(10, 3, dtype=F64)
    shifted = layer(x + 7.0) - torch.nn.functional.silu(x + 7.0) @ layer.scale_base.t()
    plain = layer(x) - torch.nn.functional.silu(x) @ layer.scale_base.t()
    torch.testing.assert_close(shifted, plain)  # the RBF branch sees x only after LayerNorm


# --------------------------------------------------------------------------- Chebyshev


def test_chebyshev_polynomials_match_numpy_and_have_finite_slopes_at_the_ends():
    z = torch.linspace(-1, 1, 101, dtype=F64, requires_grad=True)
    t = chebyshev_t(z, 12)
    expected = np.polynomial.chebyshev.chebvander(z.detach().numpy(), 12)
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=0, atol=1e-12)
    weights = torch.randn(13, dtype=F64)
    (grad,) = torch.autograd.grad((t * weights).sum(), z)
    slope = np.polynomial.chebyshev.chebder(weights.numpy())
    np.testing.assert_allclose(
        grad.numpy(), np.polynomial.chebyshev.chebval(z.detach().numpy(), slope), atol=1e-9
    )
    assert torch.isfinite(grad).all()  # cos(n acos z) has an infinite slope at ±1


def test_chebyshev_gradients_pass_gradcheck():
    layer = ChebyKANLayer(2, 2, 6, dtype=F64)
    x = (torch.rand(7, 2, dtype=F64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: layer(x), (x,))


@pytest.mark.parametrize("input_map", ["tanh", "range"])
def test_chebyshev_size_up_is_exact(x3, input_map):
    model = ChebyKAN([3, 4, 1], 3, input_map=input_map, dtype=F64)
    before = model(x3)
    model.refine(10)
    assert model.size == 10
    torch.testing.assert_close(model(x3), before, rtol=1e-12, atol=1e-12)


def test_chebyshev_range_update_maps_the_samples_onto_minus_one_one_exactly():
    torch.manual_seed(2)
    layer = ChebyKANLayer(2, 3, 8, input_map="range", dtype=F64)
    x = torch.rand(300, 2, dtype=F64) * 0.6 - 0.1
    before = layer(x)
    layer.update_grid(x)
    z = layer.mapped(x)
    torch.testing.assert_close(z.amin(0), -torch.ones(2, dtype=F64))
    torch.testing.assert_close(z.amax(0), torch.ones(2, dtype=F64))
    torch.testing.assert_close(layer(x), before, rtol=1e-10, atol=1e-10)


def test_tanh_input_map_ignores_grid_updates():
    layer = ChebyKANLayer(2, 1, 4, dtype=F64)
    coef = layer.coef.detach().clone()
    layer.update_grid(torch.rand(20, 2, dtype=F64) * 5)
    torch.testing.assert_close(layer.coef.detach(), coef)


# --------------------------------------------------------------------------- grouped


def test_groups_split_the_inputs_contiguously_and_none_is_empty():
    assert group_index(5, 2).tolist() == [0, 0, 0, 1, 1]
    for n_in in range(1, 9):
        for groups in range(1, n_in + 1):
            assert set(group_index(n_in, groups).tolist()) == set(range(groups))


def test_one_group_per_input_with_full_rank_is_a_kan(x3):
    """With R = G + k and a_i the identity, c_jim = w_jim: any KAN's coefficients."""
    torch.manual_seed(3)
    kan = KAN([3, 2], 5, 3, dtype=F64)
    layer = GroupedKANLayer(3, 2, 5, 3, groups=None, rank=8, dtype=F64)
    kan_layer = kan.layers[0]
    with torch.no_grad():
        layer.basis_coef.copy_(torch.eye(8, dtype=F64).expand(3, 8, 8))
        layer.mixing.copy_(kan_layer.coef * kan_layer.scale_spline[..., None])
        layer.scale_base.copy_(kan_layer.scale_base)
    torch.testing.assert_close(layer(x3), kan(x3), rtol=1e-12, atol=1e-12)


def test_one_group_of_rank_one_is_a_linear_map_of_one_shared_activation(x3):
    layer = GroupedKANLayer(3, 4, 5, 3, groups=1, rank=1, bias=True, dtype=F64)
    psi = layer.group_splines(x3)  # (batch, 3, 1): the same function at every input
    expected = (
        torch.nn.functional.silu(x3) @ layer.scale_base.t()
        + psi[..., 0] @ layer.mixing[..., 0].t()
        + layer.bias
    )
    torch.testing.assert_close(layer(x3), expected)
    coefficients = layer.coefficients()  # (out, in, G + k): every edge a multiple of a
    direction = layer.basis_coef[0, 0]
    ratios = coefficients / direction
    torch.testing.assert_close(ratios, ratios[..., :1].expand_as(ratios))


def test_grouped_size_up_is_exact_once_the_grids_cover_the_inputs(x3):
    model = GroupedKAN([3, 4, 1], 5, groups=2, rank=2, dtype=F64)
    model.update_grid(x3, hidden_margin=0.05)
    before = model(x3)
    model.refine(10)
    model.refine(20)  # new knots contain the old ones: exact, as for the KAN
    assert model.size == 20
    torch.testing.assert_close(model(x3), before, rtol=1e-10, atol=1e-10)


def test_grouped_grid_update_gives_a_groups_inputs_one_grid(x3):
    layer = GroupedKANLayer(3, 2, 6, groups=2, rank=1, dtype=F64)
    x = x3 * torch.tensor([1.0, 0.3, 0.5], dtype=F64)
    layer.update_grid(x)
    per_input = layer.knots.grid
    torch.testing.assert_close(per_input[0], per_input[1])  # inputs 0, 1 in group 0
    assert per_input[0, 3] == pytest.approx(float(x[:, :2].min()))  # pooled range


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("widths", [[1, 1], [2, 1, 1], [4, 2, 1, 1], [3, 7, 2]])
def test_parameter_counts_match_the_formulas(widths):
    for bias in (False, True):
        assert count_trainable(RBFKAN(widths, 7, bias=bias)) == rbf_kan_size(widths, 7, bias=bias)
        assert count_trainable(ChebyKAN(widths, 6, bias=bias)) == cheby_kan_size(widths, 6, bias)
        for groups, rank in ((1, 1), (2, 3), (None, 2)):
            model = GroupedKAN(widths, 5, 3, groups=groups, rank=rank, bias=bias)
            assert count_trainable(model) == grouped_kan_size(widths, 5, 3, groups, rank, bias)
    if min(widths[:-1]) >= 2:
        model = RBFKAN(widths, 7, layernorm=True)
        assert count_trainable(model) == rbf_kan_size(widths, 7, layernorm=True)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RBFKANLayer(2, 1, 1), "n_centres"),
        (lambda: ChebyKANLayer(2, 1, 0), "degree"),
        (lambda: ChebyKANLayer(2, 1, 3, input_map="acos"), "input_map"),
        (lambda: GroupedKANLayer(2, 1, 5, groups=3), "groups"),
        (lambda: GroupedKANLayer(2, 1, 5, rank=0), "rank"),
        (lambda: RBFKAN([2, 1], 5).refine(3), "new_size"),
        (lambda: ChebyKAN([2, 1], 5).refine(3), "new_size"),
        (lambda: GroupedKAN([2, 1], 5).refine(3), "new_grid_size"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# --------------------------------------------------------------------------- runner


def _config(tmp_path, family: str, *overrides: str) -> dict:
    """The family's conf/model file, composed as kanbench-train does, made tiny."""
    register_library_tasks()
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"model={family}",
                "task=exp_sin_y2",
                "model.grid_schedule=[3,5]",
                "model.steps_per_grid=3",
                "model.restarts=1",
                "data.n_train=200",
                "data.n_test=200",
                "progress=false",
                f"out_dir={tmp_path}",
                *overrides,
            ],
        )
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize(
    "model, size",
    [
        (["rbfkan"], lambda g: rbf_kan_size([2, 1, 1], g)),
        (["rbfkan", "model.shape=[2,3,1]", "model.layernorm=true"], None),
        (["chebykan"], lambda d: cheby_kan_size([2, 1, 1], d)),
        (["chebykan", "model.input_map=range"], lambda d: cheby_kan_size([2, 1, 1], d)),
        (["grouped"], lambda g: grouped_kan_size([2, 1, 1], g, 3, 1, 1)),
        (
            ["grouped", "model.groups=null", "model.rank=2"],
            lambda g: grouped_kan_size([2, 1, 1], g, 3, None, 2),
        ),
    ],
)
def test_every_family_trains_through_the_runner(tmp_path, model, size):
    result = run(_config(tmp_path, *model))
    assert result.status == "complete"
    assert [r["grid_size"] for r in result.records] == [3, 5]
    assert all(r["family"] == model[0] for r in result.records)
    for r in result.records:
        assert np.isfinite(r["test_rmse"]) and r["test_rmse"] < 5
        if size is not None:
            assert r["n_params"] == size(r["grid_size"]) == r["n_params_paper"]


@pytest.mark.parametrize(
    "model, match",
    [
        (["rbfkan", "model.layernorm=true"], "layernorm"),
        (["rbfkan", "model.grid_schedule=[1,3]"], "grid_schedule"),
        (["chebykan", "model.input_map=cos"], "input_map"),
        (["grouped", "model.groups=0"], "groups"),
        (["grouped", "model.rank=0"], "rank"),
        (["grouped", "+model.init=pykan"], "init"),
        (["chebykan", "+model.spline_order=3"], "spline_order"),
    ],
)
def test_bad_variant_configs_fail_before_any_work_with_one_line(tmp_path, model, match):
    with pytest.raises(ValueError, match=match) as error:
        run(_config(tmp_path, *model))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "records").exists()


# --------------------------------------------------------------------------- bench


def test_bench_sizes_the_variants_to_the_kans_count_and_records_and_reports_them(tmp_path):
    from kanbench import analysis, bench, report

    widths = (3, 5, 1)
    for family in ("rbfkan", "chebykan"):
        model = bench.build_variant(family, widths, 7, 3, F64)
        assert count_trainable(model) == kan_size(widths, 7, 3)
    grouped = bench.build_variant("grouped", widths, 7, 3, F64)
    others = [grouped_kan_size(widths, 7, 3, 1, r) for r in range(1, 12)]
    gap = abs(count_trainable(grouped) - kan_size(widths, 7, 3))
    assert gap == min(abs(n - kan_size(widths, 7, 3)) for n in others)

    case = bench.Case(
        "custom", widths, 7, 3, 32, families=("kan", "rbfkan", "chebykan", "grouped", "mlp"),
        metrics=("fwd_bwd",), memory=False, min_time=0.01, rounds=2,
    )  # fmt: skip
    (run,) = bench.run_study([case], tmp_path / "runs")
    rows = {row["family"]: row for row in run["rows"]}
    assert set(rows) == {"kan", "rbfkan", "chebykan", "grouped", "mlp"}
    assert rows["rbfkan"]["n_params"] == rows["kan"]["n_params"]
    assert all(row["fwd_bwd_ms"] > 0 for row in rows.values())
    frame = analysis.load_bench(tmp_path / "runs")
    ratios = frame.set_index("family")["fwd_bwd_ms_ratio"]
    assert ratios["mlp"] == 1 and ratios["grouped"] > 0
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0


def test_time_against_the_matched_mlp_matches_the_models_size():
    from kanbench.bench import time_against_matched_mlp

    model = GroupedKAN([3, 4, 1], 5, groups=None, rank=2, dtype=F64)
    timed = time_against_matched_mlp(model, batch=16, min_time=0.01, rounds=2)
    assert timed["n_params"] == count_trainable(model)
    best = match_mlp_width(timed["n_params"], 3, 2, 1)
    assert (timed["mlp_width"], timed["mlp_n_params"]) == (best.width, best.size)
    assert timed["ratio"] == pytest.approx(timed["fwd_bwd_ms"] / timed["mlp_fwd_bwd_ms"])


@pytest.mark.parametrize("groups, rank", [(1, 1), (2, 3), (None, 2)])
def test_grouped_dense_and_sparse_forms_agree_in_values_and_gradients(groups, rank):
    torch.manual_seed(4)
    layer = GroupedKANLayer(3, 2, 7, 3, groups=groups, rank=rank, dtype=F64)
    x = torch.rand(50, 3, dtype=F64) * 2.4 - 1.2  # some inputs outside the grid
    results = []
    for form in ("dense", "sparse"):
        layer.form = form
        xr = x.clone().requires_grad_()
        y = layer(xr)
        grads = torch.autograd.grad(
            (y * torch.arange(1.0, 3.0, dtype=F64)).sum(), [xr, *layer.parameters()]
        )
        results.append((y, grads))
    (y_dense, g_dense), (y_sparse, g_sparse) = results
    torch.testing.assert_close(y_sparse, y_dense, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_sparse, g_dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "family, extra",
    [("rbfkan", []), ("chebykan", []), ("grouped", ["model.kan_groups=null", "model.kan_rank=2"])],
)
def test_an_mlp_ladder_is_matched_to_a_variants_counts(family, extra):
    from kanbench.config import run_config
    from kanbench.ladder import mlp_targets
    from kanbench.models.size import cheby_kan_size, grouped_kan_size, rbf_kan_size

    def mlp_config(*overrides):
        register_library_tasks()
        with initialize_config_module("kanbench.conf", version_base="1.3"):
            cfg = compose("train", overrides=["model=mlp", "task=exp_sin_y2", *overrides])
        return run_config(OmegaConf.to_container(cfg, resolve=True))

    model = mlp_config(f"model.kan_family={family}", "model.kan_grids=[3,5,10]", *extra).model
    counts = {
        "rbfkan": lambda g: rbf_kan_size([2, 1, 1], g),
        "chebykan": lambda g: cheby_kan_size([2, 1, 1], g),
        "grouped": lambda g: grouped_kan_size([2, 1, 1], g, 3, groups=None, rank=2),
    }
    expected = [counts[family](g) for g in (3, 5, 10)]
    assert mlp_targets(model) == expected
    with pytest.raises(ValueError, match="kan_family"):
        mlp_config("model.kan_family=pykan")
