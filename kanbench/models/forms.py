"""The two evaluations of a KAN layer y = silu(x) w_b^T + sum_i sum_m W[:, m, i] B_m(x_i).

dense: the bases (batch, G + k, in) meet the scaled coefficients W (out, G + k, in) in one
matrix multiply (efficient-kan's form; REFERENCE.md §1). Its cost grows with G.
sparse: only the k + 1 non-zero bases of each input are used, as weights of a sum over
the coefficient rows they select (an embedding bag), so its cost does not grow with G.

Both work through the batch in chunks sized so that their temporaries stay in cache, and
keep for autograd only the input and, when the batch is one chunk, its local bases;
backward recomputes anything else chunk by chunk. choose_form picks one, from forward +
backward timings of single layers on this project's 2-core CPU (one thread, float32,
batch 1024, k = 3; both forms timed side by side, kanbench.bench). The sparse form's
gathers and scatter-adds cost far more per multiply-add than a matrix multiply, so it
pays only once the dense form does many times its multiply-adds; where that happens
depends on the layer's width out. Measured time sparse / dense:

    layer      G = 20   60     120    250    500
    64 x 64      10.1   3.2    2.1    0.52   0.24
    256 x 256     5.4   2.3    1.2    0.33   0.17
    16 x 64       2.9   1.35   0.75   0.45   0.26
    64 x 1        1.5   0.87   0.58   0.41   0.23

So: sparse when in * out <= TINY_LAYER (the paper's [2, 1, 1] toy layers, where the cost
is the number of tensor operations), or when G + k exceeds factor (k + 1) with factor
WIDE_FACTOR = 32 for layers of out >= NARROW_OUT outputs and NARROW_FACTOR = 12 for
narrower ones (a thin matrix product, which BLAS runs less well); dense otherwise. For
k = 3 the switch is at G = 126 (wide) and G = 46 (narrow); the worst choice in the table
above is then 16 x 64 at G = 120 (dense, 1.3x the sparse form's time), against 2.1x
(64 x 64 at G = 120) with the earlier single threshold G + k > 16 (k + 1).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.nn import functional

from kanbench.models import bspline

FORMS = ("auto", "dense", "sparse")
WIDE_FACTOR = 32
NARROW_FACTOR = 12
NARROW_OUT = 16
TINY_LAYER = 4
# bytes of temporaries per chunk of samples: small enough to stay in cache
CHUNK_BYTES = 1 << 21


def choose_form(grid_size: int, spline_order: int, in_features: int, out_features: int) -> str:
    """'sparse' or 'dense' for a layer of this size (see the module docstring)."""
    factor = WIDE_FACTOR if out_features >= NARROW_OUT else NARROW_FACTOR
    if in_features * out_features <= TINY_LAYER:
        return "sparse"
    return "sparse" if grid_size + spline_order > factor * (spline_order + 1) else "dense"


def _chunks(batch: int, row_bytes: int) -> list[slice]:
    """Row slices of the batch whose temporaries of row_bytes per sample fit CHUNK_BYTES."""
    rows = max(1, CHUNK_BYTES // max(row_bytes, 1))
    return [slice(start, min(start + rows, batch)) for start in range(0, batch, rows)]


def _silu_slope(x: Tensor) -> Tensor:
    sig = torch.sigmoid(x)
    return sig * (1 + x * (1 - sig))


def _split_weight_grad(
    grad_weight: Tensor, scale_spline: Tensor, coef: Tensor, need_scale: bool, need_coef: bool
) -> tuple[Tensor | None, Tensor | None]:
    """Gradients of w_s (out, in) and c (out, in, G + k) from that of W = w_s c."""
    grad_weight = grad_weight.contiguous()  # optimisers such as LBFGS view grads flat
    grad_scale = (grad_weight * coef).sum(-1) if need_scale else None
    grad_coef = grad_weight * scale_spline.unsqueeze(-1) if need_coef else None
    return grad_scale, grad_coef


class InputCache:
    """The local bases of a layer's last input, while that input needs no gradient.

    Full-batch training evaluates the first layer on the same tensor at every loss
    evaluation (about 28 per LBFGS step); its bases change only with the grid. An entry
    holds the input itself, so its memory cannot be taken by another tensor, and is
    valid while the input's version and the knots are the same.
    """

    def __init__(self):
        self._entry: tuple | None = None

    def get(self, x: Tensor, knots: bspline.Knots, form: str, compute):
        entry = self._entry
        if (
            entry is not None
            and entry[0] is x
            and entry[1] == x._version
            and entry[2] is knots
            and entry[3] == form
        ):
            return entry[4]
        value = compute()
        self._entry = (x, x._version, knots, form, value)
        return value

    def clear(self) -> None:
        self._entry = None


def _cached_locals(cache, x, knots, form, chunks, locals_of, ctx) -> list | None:
    """Per-chunk local bases of an input that needs no gradient, from the cache (or None).

    They depend only on the input and the knots, so full-batch training computes them for
    the first layer once per grid, however many chunks the batch takes.
    """
    if cache is None or ctx.needs_input_grad[0]:
        return None
    return cache.get(x, knots, form, lambda: [locals_of(x[rows], knots, False) for rows in chunks])


def _dense_locals(x: Tensor, knots: bspline.Knots, derivative: bool):
    """(local bases, their padded start indices) of x for the dense form."""
    local = bspline.local_bases(x, knots, derivative=derivative)
    return local, bspline.padded_start(local.cell, knots.spline_order, knots.n_bases)


class _Dense(torch.autograd.Function):
    """Dense form; the padded bases of a chunk live in a reused scratch buffer."""

    @staticmethod
    def forward(ctx, x, knots, scale_base, scale_spline, coef, cache):
        # W[j, m, i] = w_s[j, i] c[j, i, m]: (out, G + k, in)
        weight = (scale_spline.unsqueeze(-1) * coef).transpose(1, 2).contiguous()
        k, n_bases, n_in = knots.spline_order, knots.n_bases, x.shape[1]
        y = functional.linear(functional.silu(x), scale_base)  # (batch, out)
        chunks = _chunks(x.shape[0], (n_bases + 2 * k) * n_in * x.element_size())
        keep = len(chunks) == 1
        ctx.cached = _cached_locals(cache, x, knots, "dense", chunks, _dense_locals, ctx)
        for i, rows in enumerate(chunks):
            if ctx.cached is not None:
                local, start = ctx.cached[i]
            else:
                local, start = _dense_locals(x[rows], knots, keep and ctx.needs_input_grad[0])
            bases = bspline.scatter_dense(local.values, start, n_bases, scratch_slot=0)
            y[rows].addmm_(bases.flatten(1), weight.flatten(1).t())  # (rows, (G + k) in) @ W^T
        kept = (local.values, local.derivative, start) if keep else (None, None, None)
        ctx.save_for_backward(x, scale_base, scale_spline, coef, weight, *kept)
        ctx.knots = knots
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x, scale_base, scale_spline, coef, weight, values, derivative, start = ctx.saved_tensors
        knots, k = ctx.knots, ctx.knots.spline_order
        need_x, need_base = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        need_weight = ctx.needs_input_grad[3] or ctx.needs_input_grad[4]
        n_bases, n_in = weight.shape[1], x.shape[1]
        grad_x = torch.empty_like(x) if need_x else None
        grad_weight = torch.zeros_like(weight).flatten(1) if need_weight else None
        grad_base = grad_y.t() @ functional.silu(x) if need_base else None  # (out, in)
        chunks = _chunks(x.shape[0], (n_bases + 2 * k) * n_in * x.element_size())
        for i, rows in enumerate(chunks):
            if ctx.cached is not None:
                local, start = ctx.cached[i]
            elif values is None:
                local, start = _dense_locals(x[rows], knots, need_x)
            else:
                local = bspline.LocalBases(values, derivative, None)
            if need_weight:
                bases = bspline.scatter_dense(local.values, start, n_bases, scratch_slot=0)
                grad_weight.addmm_(grad_y[rows].t(), bases.flatten(1))  # (out, (G + k) in)
            if need_x:
                grad_bases = bspline.scratch((start.shape[0], n_bases * n_in), x, 1)
                torch.mm(grad_y[rows], weight.flatten(1), out=grad_bases)  # dL/dB
                grad_x[rows] = bspline.chain_through_bases(
                    grad_bases.view(-1, n_bases, n_in), local, start
                )
        if need_x:
            grad_x += (grad_y @ scale_base) * _silu_slope(x)
        grad_scale = grad_coef = None
        if need_weight:
            grad_scale, grad_coef = _split_weight_grad(
                grad_weight.view_as(weight).transpose(1, 2),
                scale_spline,
                coef,
                *ctx.needs_input_grad[3:5],
            )
        return grad_x, None, grad_base, grad_scale, grad_coef, None


def _coefficient_rows(scale_spline: Tensor, coef: Tensor, spline_order: int) -> Tensor:
    """W = w_s c as rows (in (G + 3k), out), k zero rows padding each input's."""
    k = spline_order
    weight = (scale_spline.unsqueeze(-1) * coef).permute(1, 2, 0)  # (in, G + k, out)
    return functional.pad(weight, (0, 0, k, k)).reshape(-1, coef.shape[0])


@functools.lru_cache(maxsize=256)
def _row_offsets(count: int, stride: int, device: torch.device) -> Tensor:
    """0, stride, ..., (count - 1) stride: where each input's rows start in a table."""
    return torch.arange(0, count * stride, stride, device=device)


def _sparse_locals(x: Tensor, knots: bspline.Knots, derivative: bool):
    """(weights, slopes, index), each (batch, in (k + 1)): the local bases as an embedding bag.

    index[b, i (k+1) + r] is the row of W's padded table that basis r of input i selects.
    """
    k, n_in = knots.spline_order, x.shape[1]
    local = bspline.local_bases(x, knots, derivative=derivative)
    start = local.cell + _row_offsets(n_in, knots.n_bases + 2 * k, x.device)  # (batch, in)
    index = (start.unsqueeze(-1) + _row_offsets(k + 1, 1, x.device)).flatten(1)

    def bag(planes: Tensor) -> Tensor:  # (k + 1, batch, in) -> (batch, in (k + 1))
        return planes.permute(1, 2, 0).reshape(x.shape[0], -1)

    slopes = bag(local.derivative) if derivative else None
    return bag(local.values), slopes, index


class _Sparse(torch.autograd.Function):
    """Sparse form: y = silu(x) w_b^T + sum over the rows of W the local bases select.

    The selected rows (batch, in (k + 1), out) are gathered once per chunk and weighted by
    the bases in a batched matrix product (an embedding bag); when the batch is a single
    chunk they are kept for backward, which needs them again.
    """

    @staticmethod
    def forward(ctx, x, knots, scale_base, scale_spline, coef, cache):
        k, n_out = knots.spline_order, coef.shape[0]
        table = _coefficient_rows(scale_spline, coef, k)
        y = functional.linear(functional.silu(x), scale_base)  # (batch, out)
        chunks = _chunks(x.shape[0], x.shape[1] * (k + 1) * (n_out + 4) * x.element_size())
        keep = len(chunks) == 1
        ctx.cached = _cached_locals(cache, x, knots, "sparse", chunks, _sparse_locals, ctx)
        for i, rows in enumerate(chunks):
            if ctx.cached is not None:
                weights, slopes, index = ctx.cached[i]
            else:
                weights, slopes, index = _sparse_locals(
                    x[rows], knots, keep and ctx.needs_input_grad[0]
                )
            selected = table.index_select(0, index.flatten()).view(*index.shape, n_out)
            y[rows] += torch.bmm(weights.unsqueeze(1), selected).squeeze(1)
        kept = (weights, slopes, index, selected) if keep else (None, None, None, None)
        ctx.save_for_backward(x, scale_base, scale_spline, coef, table, *kept)
        ctx.knots = knots
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x, scale_base, scale_spline, coef, table, weights, slopes, index, selected = (
            ctx.saved_tensors
        )
        knots, k = ctx.knots, ctx.knots.spline_order
        need_x, need_base = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        need_weight = ctx.needs_input_grad[3] or ctx.needs_input_grad[4]
        n_out, n_in, n_bases = coef.shape
        grad_x = torch.empty_like(x) if need_x else None
        grad_table = torch.zeros_like(table) if need_weight else None
        grad_base = grad_y.t() @ functional.silu(x) if need_base else None  # (out, in)
        kept = weights is not None
        chunks = _chunks(x.shape[0], n_in * (k + 1) * (n_out + 4) * x.element_size())
        for i, rows in enumerate(chunks):
            if ctx.cached is not None and not kept:  # an input without gradient: no slopes
                weights, slopes, index = ctx.cached[i]
            elif not kept:
                weights, slopes, index = _sparse_locals(x[rows], knots, need_x)
                selected = table.index_select(0, index.flatten()).view(*index.shape, n_out)
            g = grad_y[rows]
            if need_weight:
                # every selected row r gets weight * dL/dy of its sample
                contributions = weights.unsqueeze(-1) * g.unsqueeze(1)  # (rows, in (k+1), out)
                grad_table.index_add_(0, index.flatten(), contributions.reshape(-1, n_out))
            if need_x:
                grad_weights = torch.bmm(selected, g.unsqueeze(-1)).squeeze(-1)  # dL/dB
                grad_x[rows] = (grad_weights * slopes).view(-1, n_in, k + 1).sum(-1)
        if need_x:
            grad_x += (grad_y @ scale_base) * _silu_slope(x)
        grad_scale = grad_coef = None
        if need_weight:
            table_3d = grad_table.view(n_in, n_bases + 2 * k, n_out)
            grad_weight = table_3d[:, k : k + n_bases].permute(2, 0, 1)  # (out, in, G + k)
            grad_scale, grad_coef = _split_weight_grad(
                grad_weight, scale_spline, coef, *ctx.needs_input_grad[3:5]
            )
        return grad_x, None, grad_base, grad_scale, grad_coef, None


def kan_linear(
    x: Tensor,
    knots: bspline.Knots,
    scale_base: Tensor,
    scale_spline: Tensor,
    coef: Tensor,
    form: str = "auto",
    cache: InputCache | None = None,
) -> Tensor:
    """y_j = sum_i w_b[j, i] silu(x_i) + w_s[j, i] sum_m c[j, i, m] B_m(x_i) (paper Eq. 2.10).

    x (batch, in), w_b and w_s (out, in), c (out, in, G + k) -> (batch, out), in the form
    asked for ("auto": choose_form). With a cache, the bases of an input that needs no
    gradient are reused while the same tensor comes back (see InputCache).
    """
    if form == "auto":
        form = choose_form(
            knots.n_bases - knots.spline_order, knots.spline_order, x.shape[1], coef.shape[0]
        )
    evaluate = _Sparse if form == "sparse" else _Dense
    return evaluate.apply(x, knots, scale_base, scale_spline, coef, cache)
