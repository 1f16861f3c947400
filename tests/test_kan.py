"""The KAN layer and network: gradients, grid update and extension, fitting, bad input."""

import pytest
import torch

import kanbench.models.forms as forms
from kanbench.models import KAN, KANLayer, bspline, count_trainable, grids, kan_size

pytestmark = pytest.mark.usefixtures("float64")


def _parameters_gradcheck(model, x):
    names = [name for name, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())

    def call(inputs, *values):
        return torch.func.functional_call(model, dict(zip(names, values, strict=True)), (inputs,))

    return torch.autograd.gradcheck(call, (x.clone().requires_grad_(),) + params)


@pytest.mark.parametrize("init", ["paper", "pykan"])
@pytest.mark.parametrize("form", ["dense", "sparse"])
@pytest.mark.parametrize("adapted", [False, True], ids=["uniform-grid", "adapted-grid"])
def test_network_gradients_pass_gradcheck(init, form, adapted):
    torch.manual_seed(0)
    model = KAN([2, 3, 2], grid_size=4, init=init, bias=True, form=form)
    x = torch.rand(30, 2) * 2.4 - 1.2  # some inputs fall outside the grid range
    if adapted:
        model.update_grid(x[:20])
    assert _parameters_gradcheck(model, x)


def _outputs_and_gradients(form, x, widths=(3, 4, 2), grid_size=6):
    torch.manual_seed(1)
    model = KAN(list(widths), grid_size=grid_size, form=form, bias=True)
    model.update_grid(x[: len(x) // 2])  # non-uniform knots; some inputs fall outside them
    x = x.clone().requires_grad_()
    y = model(x)
    y.pow(2).sum().backward()
    return [y.detach(), x.grad] + [p.grad for p in model.parameters()]


@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_gradients_are_the_same_when_the_batch_is_split_into_chunks(form, monkeypatch):
    x = torch.rand(200, 3) * 2.2 - 1.1
    whole = _outputs_and_gradients(form, x)
    monkeypatch.setattr(forms, "CHUNK_BYTES", 1024)  # a few samples per chunk
    assert len(forms._chunks(200, 9 * 3 * 8)) > 10
    for a, b in zip(whole, _outputs_and_gradients(form, x), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("grid_size", [3, 40])
def test_sparse_and_dense_forms_agree(grid_size):
    x = torch.rand(300, 3) * 2.2 - 1.1
    dense = _outputs_and_gradients("dense", x, grid_size=grid_size)
    sparse = _outputs_and_gradients("sparse", x, grid_size=grid_size)
    for a, b in zip(dense, sparse, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [None, 1024], ids=["one-chunk", "chunks"])
def test_compiled_sparse_backward_agrees_with_eager_and_dense(monkeypatch, chunk_bytes):
    """The scatter-add compiled by torch.compile gives the eager and dense gradients."""
    x = torch.rand(200, 3) * 2.2 - 1.1
    dense = _outputs_and_gradients("dense", x, grid_size=40)
    if chunk_bytes:
        monkeypatch.setattr(forms, "KEPT_BYTES", chunk_bytes)
    monkeypatch.setattr(forms, "COMPILE_MIN_ELEMENTS", 0)  # every layer compiled
    monkeypatch.setattr(forms, "compiled_row_sums", forms.CompiledKernel(forms._selected_row_sums))
    compiled = _outputs_and_gradients("sparse", x, grid_size=40)
    assert forms.compiled_row_sums._compiled is not None
    if forms.compiled_row_sums.failed:
        pytest.skip("torch.compile does not work on this machine")
    for a, b in zip(dense, compiled, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_sparse_backward_falls_back_to_eager_when_compiling_fails(monkeypatch):
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    x = torch.rand(100, 3) * 2 - 1
    eager = _outputs_and_gradients("sparse", x)
    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(forms, "COMPILE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(forms, "compiled_row_sums", forms.CompiledKernel(forms._selected_row_sums))
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        fallback = _outputs_and_gradients("sparse", x)
    assert forms.compiled_row_sums.failed
    for a, b in zip(eager, fallback, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("k", [1, 3])
def test_compiled_dense_form_agrees_with_the_scattered_one(monkeypatch, k):
    """Bases and chain rule computed pointwise by compiled kernels, on uniform knots."""
    x = torch.rand(200, 3) * 2.4 - 1.2  # some inputs fall outside the knots
    widths = (3, 4, 2)

    def run():
        torch.manual_seed(1)
        model = KAN(list(widths), grid_size=6, spline_order=k, form="dense", bias=True)
        xx = x.clone().requires_grad_()
        y = model(xx)
        y.pow(2).sum().backward()
        return [y.detach(), xx.grad] + [p.grad for p in model.parameters()]

    scattered = run()
    monkeypatch.setattr(forms, "POINTWISE_MIN_ELEMENTS", 0)
    for name in ("compiled_dense_bases", "compiled_chain"):
        kernel = getattr(forms, name)
        monkeypatch.setattr(forms, name, forms.CompiledKernel(kernel.fn))
    assert (
        forms._dense_bases_kind(x, bspline.prepare_knots(grids.uniform_grid(3, 6, k), k))
        is forms._PointwiseBases
    )
    compiled = run()
    if forms.compiled_dense_bases.failed or forms.compiled_chain.failed:
        pytest.skip("torch.compile does not work on this machine")
    assert forms.compiled_dense_bases._compiled is not None
    for a, b in zip(scattered, compiled, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_auto_form_is_sparse_for_large_grids_and_tiny_layers():
    assert forms.choose_form(5, 3, 64, 64) == "dense"
    assert forms.choose_form(5, 3, 64, 1) == "dense"
    assert forms.choose_form(1000, 3, 64, 64) == "sparse"
    assert forms.choose_form(5, 3, 2, 1) == "sparse"


@pytest.mark.parametrize("size", [(2, 5), (16, 64), (64, 1), (64, 64), (256, 256)])
def test_auto_form_switches_to_sparse_once_and_between_g_10_and_30(size):
    """Measured crossovers (forms.py) lie at G = 10-20 for every layer that is not tiny."""
    sparse = [forms.choose_form(g, 3, *size) == "sparse" for g in range(1, 1001)]
    switch = sparse.index(True) + 1
    assert 10 <= switch <= 30
    assert all(sparse[switch - 1 :])  # once sparse, sparse for every larger grid


def test_layer_computes_the_paper_formula():
    torch.manual_seed(2)
    layer = KANLayer(2, 3, grid_size=5, bias=True)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.rand(10, 2) * 2 - 1
    splines = layer.edge_splines(x)  # (batch, in, out)
    phi = layer.scale_base.t() * torch.nn.functional.silu(x)[:, :, None] + (
        layer.scale_spline.t() * splines
    )
    torch.testing.assert_close(layer(x), phi.sum(1) + layer.bias)


def test_parameter_count_matches_the_formula():
    model = KAN([3, 5, 2], grid_size=7, spline_order=2, bias=True)
    assert count_trainable(model) == kan_size([3, 5, 2], 7, 2, bias=True)
    assert kan_size([3, 5, 2], 7, 2, convention="paper") == (15 + 10) * 7


def test_refine_with_nested_knots_keeps_the_output():
    torch.manual_seed(3)
    model = KAN([2, 5, 1], grid_size=5)
    x = torch.rand(500, 2) * 2 - 1
    model.update_grid(x)  # grids now cover every layer's inputs
    before = model(x)
    model.refine(10)
    model.refine(30)
    assert model.grid_size == 30 and model.layers[1].coef.shape[-1] == 33
    torch.testing.assert_close(model(x), before, atol=1e-9, rtol=0)


def test_refine_with_other_knots_stays_close():
    torch.manual_seed(4)
    model = KAN([2, 1], grid_size=10)
    x = torch.rand(500, 2) * 2 - 1
    before = model(x)
    model.refine(17)
    change = (model(x) - before).abs().max() / before.abs().max()
    assert change < 0.05


def test_update_grid_keeps_a_smooth_function_and_covers_the_samples():
    torch.manual_seed(5)
    layer = KANLayer(1, 1, grid_size=20)
    x = torch.linspace(-1, 1, 400)[:, None]
    with torch.no_grad():  # a smooth edge function: the spline fitted to sin(3x)
        design = bspline.bspline_basis(x, layer.grid, layer.spline_order)[:, 0]
        fit = torch.linalg.lstsq(design, torch.sin(3 * x), driver="gelsd").solution
        layer.coef.copy_(fit.t()[None])
    samples = torch.rand(1000, 1) ** 2 * 1.6 - 0.8  # skewed, inside the range
    before = layer(samples)
    layer.update_grid(samples)
    assert layer.grid[0, 3] == samples.min() and layer.grid[0, -4] == samples.max()
    # stated tolerance: 1e-4 of the output scale for a smooth function at G = 20
    assert (layer(samples) - before).abs().max() < 1e-4


def test_update_grid_keeps_the_grid_of_a_constant_input():
    layer = KANLayer(2, 1, grid_size=4)
    grid = layer.grid.clone()
    samples = torch.stack([torch.rand(50), torch.full((50,), 0.3)], dim=1)
    layer.update_grid(samples)
    torch.testing.assert_close(layer.grid[1], grid[1])
    assert not torch.equal(layer.grid[0], grid[0])


def test_fits_the_paper_function_to_high_precision():
    """[2,1,1] on exp(sin(pi x) + y^2), float64, LBFGS, G = 5 then 10 (KAN paper §3.1).

    Training from some initialisations stalls near RMSE 0.5 (pykan's does too, for about
    one seed in three); this seed's does not.
    """
    target = lambda x: torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)  # noqa: E731
    data = torch.Generator().manual_seed(0)
    x_train = torch.rand(1000, 2, generator=data) * 2 - 1
    x_test = torch.rand(1000, 2, generator=data) * 2 - 1
    torch.manual_seed(0)
    model = KAN([2, 1, 1], grid_size=5)
    for grid_size in (5, 10):
        model.refine(grid_size)
        optimizer = torch.optim.LBFGS(
            model.parameters(),
            lr=1,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-32,
            tolerance_change=1e-32,
        )
        for step in range(20):
            if step % 5 == 0:
                model.update_grid(x_train)

            def closure(optimizer=optimizer):
                optimizer.zero_grad()
                loss = (model(x_train) - target(x_train)).pow(2).mean()
                loss.backward()
                return loss

            optimizer.step(closure)
    with torch.no_grad():
        rmse = (model(x_test) - target(x_test)).pow(2).mean().sqrt()
    assert rmse < 1e-3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"widths": [3]}, "widths"),
        ({"widths": [2, 0, 1]}, r"widths\[1\]"),
        ({"widths": [2, -3]}, r"widths\[1\]"),
        ({"widths": [2, 1], "spline_order": 0}, "spline_order"),
        ({"widths": [2, 1], "grid_size": 0}, "grid_size"),
        ({"widths": [2, 1], "grid_range": (1.0, -1.0)}, "grid_range"),
        ({"widths": [2, 1], "grid_eps": 1.5}, "grid_eps"),
        ({"widths": [2, 1], "init": "he"}, "init"),
        ({"widths": [2, 1], "form": "banded"}, "form"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        KAN(**kwargs)


def test_refine_to_a_smaller_grid_is_refused():
    model = KAN([2, 1], grid_size=10)
    with pytest.raises(ValueError, match="new_grid_size"):
        model.refine(5)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(3, 5))


def test_update_grid_can_cover_a_known_input_domain():
    model = KAN([1, 2, 1], grid_size=6)
    x = torch.rand(300, 1) * 1.7 - 0.9  # samples on [-0.9, 0.8] of the domain [-1, 1]
    model.update_grid(x, input_bounds=(torch.tensor([-1.0]), torch.tensor([1.0])))
    points = grids.grid_points(model.layers[0].grid, 3)
    assert points[0, 0] == -1.0 and points[0, -1] == 1.0
    assert (points.diff(dim=1) > 0).all()
    hidden = model.layers[0](x)
    inner = grids.grid_points(model.layers[1].grid, 3)  # hidden layers follow their samples
    torch.testing.assert_close(inner[:, 0], hidden.min(dim=0).values)


@pytest.mark.parametrize("batch", [100, 20_000])  # one chunk; several chunks
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_input_cache_changes_nothing_and_follows_the_grid_and_the_data(form, batch):
    torch.manual_seed(6)
    cached, fresh = KAN([2, 3, 1], 5, form=form), KAN([2, 3, 1], 5, form=form)
    fresh.load_state_dict(cached.state_dict())
    for layer in fresh.layers:
        layer.input_cache = None
    x = torch.rand(batch, 2) * 2 - 1

    def same():
        for model in (cached, fresh):
            model.zero_grad()
            model(x).pow(2).sum().backward()
        torch.testing.assert_close(cached(x), fresh(x), rtol=0, atol=0)
        for a, b in zip(cached.parameters(), fresh.parameters(), strict=True):
            torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)

    same()
    same()  # the second pass reuses the first layer's bases
    cached.update_grid(x)
    fresh.update_grid(x)
    same()  # new knots: new bases
    with torch.no_grad():
        x.mul_(0.5)  # the same tensor, changed in place
    same()


@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_parameters_and_gradients_stay_contiguous_through_grid_changes(form):
    """Optimisers such as LBFGS view parameters and gradients as flat vectors."""
    model = KAN([2, 3, 2], grid_size=3, form=form)
    x = torch.rand(50, 2) * 2 - 1
    model.update_grid(x)
    model.refine(7)
    model(x).pow(2).sum().backward()
    for p in model.parameters():
        assert p.is_contiguous() and p.grad.is_contiguous()
