"""Interpretability: regularisation, pruning, symbolic edges and fits, formulas, plots."""

import copy
import math

import numpy as np
import pytest
import sympy
import torch
from scipy.interpolate import BSpline

from kanbench.interpret import netplot, prune, regularize, symbolic
from kanbench.models import KAN, KANLayer, functions

pytestmark = pytest.mark.usefixtures("float64")


def _random_layer(n_in=3, n_out=2, grid_size=4, seed=0):
    torch.manual_seed(seed)
    layer = KANLayer(n_in, n_out, grid_size, bias=False)
    with torch.no_grad():
        layer.coef.normal_()
        layer.scale_base.normal_()
        layer.scale_spline.normal_()
    return layer


def _naive_phi(layer, x):
    """phi_ji(x_s) (batch, in, out) from scipy's BSpline, edge by edge."""
    x, k = x.numpy(), layer.spline_order
    out = np.zeros((x.shape[0], layer.in_features, layer.out_features))
    for i in range(layer.in_features):
        t = layer.grid[i].numpy()
        for j in range(layer.out_features):
            spline = BSpline(t, layer.coef[j, i].detach().numpy(), k, extrapolate=False)
            s = np.nan_to_num(spline(x[:, i]))
            silu = x[:, i] / (1 + np.exp(-x[:, i]))
            w_b, w_s = layer.scale_base[j, i].item(), layer.scale_spline[j, i].item()
            out[:, i, j] = w_b * silu + w_s * s
    return out


def test_regularisation_of_a_hand_built_layer_equals_the_formula():
    layer = _random_layer()
    x = torch.rand(200, 3) * 2 - 1
    phi = _naive_phi(layer, x)
    l1 = np.abs(phi).mean(axis=0)  # (in, out)
    p = l1 / l1.sum()
    entropy = -(p * np.log(p)).sum()
    lam, mu1, mu2 = 0.3, 1.5, 0.7
    model = KAN([3, 2], grid_size=4)
    model.layers[0] = layer
    value = regularize.regularization(model, [x], lam, mu1, mu2)
    assert value.item() == pytest.approx(lam * (mu1 * l1.sum() + mu2 * entropy), rel=1e-12)
    np.testing.assert_allclose(regularize.edge_l1(layer, x).detach().numpy(), l1.T, rtol=1e-12)


def test_regularisation_in_chunks_matches_the_whole_batch(monkeypatch):
    layer = _random_layer(4, 3)
    x = (torch.rand(300, 4) * 2.2 - 1.1).requires_grad_()

    def value_and_grads():
        layer.zero_grad()
        x.grad = None
        l1 = regularize.edge_l1(layer, x)
        total = l1.sum() + regularize.entropy(l1)
        total.backward()
        return [total.detach(), x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]

    whole = value_and_grads()
    monkeypatch.setattr(regularize, "CHUNK_BYTES", 2048)  # a few samples per chunk
    assert regularize._chunk_rows(layer, x) < 20
    for a, b in zip(whole, value_and_grads(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_entropy_of_a_masked_edge_is_finite_with_finite_gradients():
    l1 = torch.tensor([[0.5, 0.0], [0.25, 0.25]], requires_grad=True)
    s = regularize.entropy(l1)
    s.backward()
    assert s.item() == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert torch.isfinite(l1.grad).all()


def test_penalty_uses_the_last_forward_and_adds_its_gradient():
    model = KAN([2, 3, 1], grid_size=5)
    x = torch.rand(50, 2) * 2 - 1
    penalty = regularize.penalty(model, 0.1, 1.0, 2.0)
    model(x)
    expected = regularize.regularization(model, regularize.layer_inputs(model, x), 0.1, 1.0, 2.0)
    value = penalty()
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    value.backward()
    assert model.layers[0].coef.grad.abs().sum() > 0


def _kan_with_dead_node(bias=False):
    torch.manual_seed(3)
    model = KAN([2, 3, 1], grid_size=5, bias=bias)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.normal_()
        # hidden node 1: every edge into and out of it is exactly zero
        for name in ("coef", "scale_base", "scale_spline"):
            getattr(model.layers[0], name)[1] = 0
            getattr(model.layers[1], name)[:, 1] = 0
    return model


def test_pruning_exactly_zero_parts_leaves_the_output_unchanged():
    model = _kan_with_dead_node()
    model.layers[1].fix_edge(2, 0, "sin", (2.0, 0.3, 0.5, 0.1))  # a symbolic edge survives
    x = torch.rand(100, 2) * 2 - 1
    pruned = prune.prune_nodes(model, x)
    assert pruned.widths == [2, 2, 1] and model.widths == [2, 3, 1]
    torch.testing.assert_close(pruned(x), model(x), atol=1e-13, rtol=0)
    assert pruned.layers[1].symbolic_edge(1, 0)[0] == "sin"
    assert prune.effective_params(pruned) == 5 * (5 + 3 + 2) + 1 * 4  # 5 spline, 1 fixed


def test_edge_masks_remove_edges_in_the_forward_pass():
    model = _kan_with_dead_node()
    x = torch.rand(100, 2) * 2 - 1
    before = model(x).detach()
    assert prune.prune_edges(model, x, threshold=0.0) == 3  # the edges of hidden node 1
    torch.testing.assert_close(model(x), before, atol=1e-13, rtol=0)
    assert prune.active_edges(model) == (6, 0)
    mask = torch.ones(1, 3)
    mask[0, 0] = 0
    model.layers[1].set_mask(mask)
    norms = prune.edge_norms(model, x)
    assert norms[1][0, 0] == 0 and norms[1][0, 2] > 0
    loss = model(x).sum()
    loss.backward()
    assert model.layers[1].coef.grad[0, 0].abs().sum() == 0  # a masked edge gets no gradient


def test_fix_symbolic_recovers_a_planted_sine_to_1e_6():
    model = KAN([1, 1], grid_size=5)
    a, b, c, d = 2.3, 0.7, 1.5, -0.4
    model.layers[0].fix_edge(0, 0, "sin", (a, b, c, d))
    x = torch.rand(500, 1) * 2 - 1
    # (a, b) and (-a, pi - b), or b + 2 pi, give the same function: the ranges hold one of them
    fit = symbolic.fix_symbolic(model, 0, 0, 0, "sin", x=x, a_range=(0.5, 5), b_range=(-1.5, 1.5))
    for got, want in zip(fit.affine, (a, b, c, d), strict=True):
        assert abs(got - want) < 1e-6
    assert fit.r2 > 1 - 1e-12
    assert model.layers[0].symbolic_edge(0, 0)[0] == "sin"


def test_grid_search_in_small_chunks_gives_the_same_fit(monkeypatch):
    x = torch.rand(400) * 2 - 1
    y = 0.7 * torch.tanh(1.7 * x - 0.2) + 0.3
    whole = symbolic.fit_affine(x, y, "tanh")
    monkeypatch.setattr(symbolic, "CHUNK_BYTES", 4096)
    assert symbolic.fit_affine(x, y, "tanh") == whole
    assert whole.r2 > 1 - 1e-10


def test_suggestions_rank_the_true_function_first_and_the_library_extends():
    x = torch.rand(200) * 2 - 1
    assert symbolic.suggest(x, 3 * x**2 + 1, grid=21)[0].name == "x^2"
    assert symbolic.suggest(x, torch.sin(math.pi * x), grid=21)[0].name == "sin"
    functions.register_function("cosh", torch.cosh, sympy.cosh, 2)
    try:
        best = symbolic.suggest(x, 2 * torch.cosh(1.5 * x) - 1, grid=21)[0]
        assert best.name == "cosh" and best.r2 > 1 - 1e-10
    finally:
        functions.library().pop("cosh")


def _spline_fitted_kan():
    """A [2, 1] KAN whose splines (G = 20) approximate sin(pi x) and x^2 by least squares."""
    model = KAN([2, 1], grid_size=20)
    layer = model.layers[0]
    x = torch.linspace(-1, 1, 400)[:, None].expand(-1, 2)
    bases = torch.stack([layer.edge_splines(x)], 0)  # force knots prepared
    del bases
    from kanbench.models import bspline

    basis = bspline.bspline_basis(x, layer.grid, layer.spline_order)  # (batch, in, G + k)
    with torch.no_grad():
        layer.scale_base.zero_()
        layer.scale_spline.fill_(1.0)
        for i, target in enumerate((torch.sin(math.pi * x[:, 0]), x[:, 1] ** 2)):
            layer.coef[0, i] = torch.linalg.lstsq(basis[:, i], target[:, None]).solution[:, 0]
    return model


def test_auto_symbolic_fixes_the_edges_that_fit_and_the_formula_follows():
    model = _spline_fitted_kan()
    x = torch.rand(300, 2) * 2 - 1
    rows = symbolic.auto_symbolic(model, x, threshold=0.999, grid=21)
    assert [(r["name"], r["fixed"]) for r in rows] == [("sin", True), ("x^2", True)]
    expression = symbolic.formula(model, ["x", "y"])[0]
    assert expression.has(sympy.sin) and not expression.atoms(sympy.core.function.AppliedUndef)
    assert symbolic.auto_symbolic(model, x) == []  # nothing left to fix


def test_formula_of_a_hand_fixed_kan_evaluates_equal_to_the_network():
    model = KAN([2, 3, 1], grid_size=5, bias=True)
    with torch.no_grad():
        model.layers[0].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        model.layers[1].bias.fill_(0.05)
    plan = [
        (0, 0, 0, "sin", (3.0, 0.2, 1.1, 0.1)),
        (0, 1, 0, "x^2", (1.0, 0.1, 0.8, -0.3)),
        (0, 0, 1, "exp", (0.7, -0.1, 0.5, 0.0)),
        (0, 1, 1, "gaussian", (1.2, 0.0, -0.6, 0.2)),
        (0, 0, 2, "tanh", (2.0, 0.5, 0.9, 0.0)),
        (0, 1, 2, "arctan", (1.5, -0.2, 0.4, 0.1)),
        (1, 0, 0, "cos", (1.3, 0.4, 0.7, 0.0)),
        (1, 1, 0, "x^3", (0.5, 0.1, 1.0, 0.2)),
        (1, 2, 0, "log", (0.5, 3.0, 1.0, -0.5)),
    ]
    for li, i, j, name, affine in plan:
        symbolic.fix_symbolic(model, li, i, j, name, affine=affine)
    x = torch.rand(200, 2) * 2 - 1
    expression = symbolic.formula(model, ["x", "y"])[0]
    evaluate = sympy.lambdify(sympy.symbols("x y", real=True), expression, "numpy")
    got = evaluate(x[:, 0].numpy(), x[:, 1].numpy())
    np.testing.assert_allclose(got, model(x)[:, 0].detach().numpy(), rtol=1e-12, atol=1e-12)
    mask = torch.ones(1, 3)
    mask[0, 1] = 0
    model.layers[1].set_mask(mask)
    assert not symbolic.formula(model)[0].has(sympy.Symbol("x_2", real=True) ** 3)


def test_a_fixed_edge_is_trained_through_its_affine_parameters():
    model = KAN([1, 1], grid_size=5)
    model.layers[0].fix_edge(0, 0, "sin", (2.0, 0.0, 1.0, 0.0))
    x = torch.rand(50, 1)
    model(x).pow(2).sum().backward()
    layer = model.layers[0]
    assert layer.symbolic_affine.grad.abs().min() > 0
    assert layer.coef.grad.abs().sum() == 0 and layer.scale_base.grad.abs().sum() == 0


def test_normalising_hidden_nodes_keeps_the_function():
    model = KAN([2, 2, 1], grid_size=5, bias=False)
    model.layers[0].fix_edge(0, 0, "sin", (3.0, 0.0, 0.05, 0.4))
    model.layers[1].fix_edge(0, 0, "exp", (12.0, 0.0, 0.01, 0.0))
    model.layers[1].fix_edge(1, 0, "x^2", (1.0, 0.0, 1.0, 0.0))
    x = torch.rand(300, 2) * 2 - 1
    before = model(x).detach()
    assert symbolic.normalize_hidden(model, x) == 2
    torch.testing.assert_close(model(x), before, atol=1e-12, rtol=1e-12)
    hidden = regularize.layer_inputs(model, x)[1]
    torch.testing.assert_close(hidden.std(0), torch.ones(2))


def test_network_plot_is_written_with_tanh_opacity(tmp_path):
    model = _kan_with_dead_node()
    model.layers[0].fix_edge(0, 0, "sin", (2.0, 0.0, 1.0, 0.0))
    path = netplot.plot_network(model, torch.rand(64, 2) * 2 - 1, tmp_path / "net.png", title="t")
    assert path.stat().st_size > 1000
    l1 = torch.tensor([0.0, 0.1, 1.0])
    torch.testing.assert_close(netplot.edge_opacity(l1), torch.tanh(3 * l1))


def _state(model):
    return copy.deepcopy(
        (
            [(k, v.clone()) for k, v in model.state_dict().items()],
            model.widths,
            [list(layer.symbolic_names) for layer in model.layers],
        )
    )


def _same(a, b):
    (sa, wa, na), (sb, wb, nb) = a, b
    return (
        wa == wb
        and na == nb
        and all(ka == kb and torch.equal(va, vb) for (ka, va), (kb, vb) in zip(sa, sb, strict=True))
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: symbolic.fix_symbolic(m, 2, 0, 0, "sin", x=x), "layer index l"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 2, 0, "sin", x=x), "edge index i"),
        (lambda m, x: symbolic.fix_symbolic(m, 1, 0, 1, "sin", x=x), "edge index j"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 0, 0, "sinc", x=x), "unknown symbolic function"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 0, 0, "sin"), "exactly one of x"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 0, 0, "sin", affine=(1, 2)), "affine must be 4"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 0, 0, "sin", x=x[:, :1]), "x must have shape"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 0, 0, "sin", x=x, a_range=(1, 0)), "a_range"),
        (lambda m, x: symbolic.fix_symbolic(m, 0, 0, 0, "sin", x=x, grid=2), "grid must be"),
        (lambda m, x: symbolic.auto_symbolic(m, x, threshold=1.5), "threshold must be"),
        (lambda m, x: symbolic.auto_symbolic(m, x, names=["sin", "nope"]), "unknown symbolic"),
        (lambda m, x: prune.prune_nodes(m, x, threshold=1e6), "would remove every node"),
        (lambda m, x: prune.prune_nodes(m, x, threshold=-1), "threshold must be"),
        (lambda m, x: prune.prune_edges(m, x[:, :1]), "x must have shape"),
        (lambda m, x: m.layers[0].set_mask(torch.ones(2, 2)), "mask must be a 0/1"),
        (lambda m, x: regularize.penalty(m, -1.0), "lambda must be"),
        (lambda m, x: regularize.regularization(m, [x], 1.0), "one tensor per layer"),
        (lambda m, x: regularize.edge_l1(m.layers[0], x[:, :1]), "x must have shape"),
        (lambda m, x: netplot.plot_network(m, x, "unused.png", beta=0), "beta must be"),
        (lambda m, x: symbolic.formula(m, ["x"]), "variables must name"),
    ],
)
def test_bad_input_gives_a_clear_error_and_changes_nothing(call, message):
    model = _kan_with_dead_node()
    x = torch.rand(40, 2) * 2 - 1
    before = _state(model)
    with pytest.raises(ValueError, match=message):
        call(model, x)
    assert _same(_state(model), before)


def test_functions_library_refuses_bad_entries():
    with pytest.raises(ValueError, match="complexity must be"):
        functions.register_function("f", torch.sin, sympy.sin, -1)
    with pytest.raises(ValueError, match="domain must be"):
        functions.register_function("f", torch.sin, sympy.sin, 1, domain=(1.0, 0.0))
    with pytest.raises(ValueError, match="name must be"):
        functions.register_function("", torch.sin, sympy.sin, 1)
    with pytest.raises(TypeError, match="must be callable"):
        functions.register_function("f", None, sympy.sin, 1)
    with pytest.raises(TypeError, match="model must be a kanbench KAN"):
        prune.prune_nodes(torch.nn.Linear(2, 1), torch.zeros(3, 2))
    assert "f" not in functions.library()


def test_library_functions_agree_with_their_sympy_forms_inside_their_domains():
    z = sympy.Symbol("z")
    points = torch.tensor([0.2, 0.5, 0.9])
    for f in functions.library().values():
        evaluate = sympy.lambdify(z, f.sympy_fn(z), "numpy")
        expected = np.broadcast_to(evaluate(points.numpy()), points.shape)
        np.testing.assert_allclose(f(points).numpy(), expected, rtol=1e-12, err_msg=f.name)
