"""The two evaluations of a KAN layer y = silu(x) w_b^T + sum_i sum_m W[:, m, i] B_m(x_i).

dense: the bases (batch, G + k, in) meet the scaled coefficients W (out, G + k, in) in one
matrix multiply (the form of efficient-kan and most fast KAN implementations). Its cost
grows with G.
sparse: only the k + 1 non-zero bases of each input are used, as weights of a sum over
the coefficient rows they select (an embedding bag), so its cost does not grow with G.

Both keep for autograd only the input and, when the batch is one chunk, its bases;
backward recomputes anything else chunk by chunk, in chunks that keep the temporaries in
cache. On uniform knots and large enough layers, the dense form computes its bases and its
chain rule pointwise (bspline.pointwise_dense_bases, pointwise_chain) in kernels compiled
by torch.compile: one pass each, where eager torch evaluates the local bases, zeroes a
padded tensor and scatters k + 1 planes into it (_ScatteredBases, used otherwise). The
sparse form runs its weight gradient, a scatter-add of batch x in (k + 1) rows, through a
compiled kernel once that is large, and in chunks of eager torch otherwise. Compiling
takes about 10 s per kernel, once per process; where it fails, eager torch is used
(CompiledKernel).

choose_form picks one, from forward + backward timings of single layers on this
project's 2-core CPU (one thread, float32, batch 1024, k = 3, uniform knots, input needing
its gradient; both forms timed side by side, kanbench.bench). Measured time sparse / dense:

    layer      G = 5    10     20     40     60     120    250
    64 x 64      1.60   0.97   0.61   0.37   0.26   0.15   0.09
    128 x 128    1.59   1.03   0.68   0.38   0.29   0.17   0.12
    256 x 256    1.88   1.24   0.73   0.46   0.45   0.32   0.20
    16 x 64      2.14   1.64   1.03   0.59   0.40   0.25   0.14
    64 x 1       2.60   1.32   0.86   0.48   0.35   0.18   0.09
    2 x 5        1.40   1.42   1.31   0.48   0.34   0.19   0.10

So: sparse when in * out <= TINY_LAYER (the paper's [2, 1, 1] toy layers, where both
cost the same number of tensor operations), or when G + k exceeds SPARSE_FACTOR (k + 1)
(k = 3: G >= 18); dense otherwise. The worst choice in the table is then 2 x 5 at G = 20
(sparse, 1.3x the dense form's time). Before the sparse form used an embedding bag, a
sampled product and the compiled scatter-add, it was 10x the dense form's time at
64 x 64, G = 20, and the switch was at G = 126 for wide layers.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor
from torch.nn import functional

from kanbench.models import bspline

FORMS = ("auto", "dense", "sparse")
SPARSE_FACTOR = 5
TINY_LAYER = 4
# bytes of temporaries per chunk of samples: small enough to stay in cache (4 MiB was
# 5-15% faster than 1-2 MiB at batch 1024 and widths 64-256, 16 MiB no better)
CHUNK_BYTES = 1 << 22
# bytes of local bases kept per chunk where the sparse form's scatter-add is compiled
KEPT_BYTES = 1 << 26
# dense bases (batch x (G + k) x in) from which they are computed by a compiled kernel
# (below it, at [2, 5, 1] and batch 1024, the compiled call was no faster)
POINTWISE_MIN_ELEMENTS = 1 << 16
# selected rows (samples x in (k + 1) x out) from which the sparse form's weight gradient
# is added up by a compiled kernel rather than chunk by chunk in eager torch
COMPILE_MIN_ELEMENTS = 1 << 20


def choose_form(grid_size: int, spline_order: int, in_features: int, out_features: int) -> str:
    """'sparse' or 'dense' for a layer of this size (see the module docstring)."""
    if in_features * out_features <= TINY_LAYER:
        return "sparse"
    return "sparse" if grid_size + spline_order > SPARSE_FACTOR * (spline_order + 1) else "dense"


def _chunks(batch: int, row_bytes: int, budget: int | None = None) -> list[slice]:
    """Row slices of the batch whose temporaries of row_bytes per sample fit the budget
    (CHUNK_BYTES unless given)."""
    rows = max(1, (budget or CHUNK_BYTES) // max(row_bytes, 1))
    return [slice(start, min(start + rows, batch)) for start in range(0, batch, rows)]


def _silu_slope(x: Tensor) -> Tensor:
    sig = torch.sigmoid(x)
    return sig * (1 + x * (1 - sig))


def _split_weight_grad(
    grad_weight: Tensor, scale_spline: Tensor, coef: Tensor, need_scale: bool, need_coef: bool
) -> tuple[Tensor | None, Tensor | None]:
    """Gradients of w_s (out, in) and c (out, in, G + k) from that of W = w_s c.

    grad_weight is a fresh view (out, in, G + k) of any layout; at large G every pass over
    it costs, so it is copied once into c's layout and scaled there in place.
    """
    grad = grad_weight.contiguous()  # optimisers such as LBFGS view grads flat
    grad_scale = torch.linalg.vecdot(grad, coef) if need_scale else None
    grad_coef = grad.mul_(scale_spline.unsqueeze(-1)) if need_coef else None
    return grad_scale, grad_coef


class CompiledKernel:
    """fn compiled by torch.compile (inductor, dynamic shapes, so new batch sizes and grids
    reuse it) on its first call, about 10 s once per process. Where compilation fails (no
    C++ compiler, say) it warns once and runs fn in eager torch from then on."""

    def __init__(self, fn):
        self.fn = fn
        self._compiled = None
        self.failed = False

    def __call__(self, *args):
        if not self.failed:
            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self.fn, dynamic=True)
                return self._compiled(*args)
            except Exception as error:  # any compiler failure: eager is always right
                self.failed = True
                warnings.warn(
                    f"kanbench: torch.compile of {self.fn.__name__} failed ({error!r:.200}); "
                    "using eager torch",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.fn(*args)


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


class _ScatteredBases:
    """A chunk's bases from its local bases, scattered into a padded scratch tensor: any
    knots, no compilation."""

    def __init__(self, x: Tensor, knots: bspline.Knots, slopes: bool):
        self.local = bspline.local_bases(x, knots, derivative=slopes)
        self.start = bspline.padded_start(self.local.cell, knots.spline_order, knots.n_bases)
        self.n_bases = knots.n_bases

    def dense(self) -> Tensor:
        """(rows, G + k, in), valid until the next dense() of any chunk."""
        return bspline.scatter_dense(self.local.values, self.start, self.n_bases, scratch_slot=0)

    def chain(self, grad_bases: Tensor) -> Tensor:
        return bspline.chain_through_bases(grad_bases, self.local, self.start)


class _PointwiseBases:
    """A chunk's bases on uniform knots, each entry computed on its own by a compiled
    kernel (bspline.pointwise_dense_bases): one pass instead of evaluating, zeroing and
    scattering, and the chain rule likewise (bspline.pointwise_chain)."""

    def __init__(self, x: Tensor, knots: bspline.Knots, slopes: bool):
        self.x, self.knots, self._dense = x, knots, None
        self.pieces = bspline.cardinal_piece_table(knots.spline_order, x.dtype, x.device)

    def dense(self) -> Tensor:
        """(rows, G + k, in), computed once."""
        if self._dense is None:
            knots = self.knots
            self._dense = compiled_dense_bases(
                self.x, knots.origin, knots.inv_width, self.pieces, knots.cells, knots.n_bases
            )
        return self._dense

    def chain(self, grad_bases: Tensor) -> Tensor:
        knots = self.knots
        return compiled_chain(
            self.x, grad_bases, knots.origin, knots.inv_width, self.pieces, knots.cells
        )


compiled_dense_bases = CompiledKernel(bspline.pointwise_dense_bases)
compiled_chain = CompiledKernel(bspline.pointwise_chain)


def _dense_bases_kind(x: Tensor, knots: bspline.Knots) -> type:
    """_PointwiseBases on uniform knots, for bases of at least POINTWISE_MIN_ELEMENTS
    entries (below that a compiled call saves nothing) and grids that choose_form gives
    the dense form (each entry evaluates k + 1 pieces, which at larger G costs more than
    scattering them: 17.5 against 11.4 ms at [16, 64, 1], G = 50); _ScatteredBases
    otherwise."""
    large = x.shape[0] * knots.n_bases * x.shape[1] >= POINTWISE_MIN_ELEMENTS
    small_grid = knots.n_bases <= SPARSE_FACTOR * (knots.spline_order + 1)
    compiles = not (compiled_dense_bases.failed or compiled_chain.failed)
    return (
        _PointwiseBases if knots.uniform and large and small_grid and compiles else _ScatteredBases
    )


class _Dense(torch.autograd.Function):
    """Dense form: the bases of each chunk (_PointwiseBases or _ScatteredBases) meet W in
    one matrix multiply, forward and backward."""

    @staticmethod
    def forward(ctx, x, knots, scale_base, scale_spline, coef, cache):
        # W[j, m, i] = w_s[j, i] c[j, i, m]: (out, G + k, in)
        weight = (scale_spline.unsqueeze(-1) * coef).transpose(1, 2).contiguous()
        k, n_bases, n_in = knots.spline_order, knots.n_bases, x.shape[1]
        y = functional.linear(functional.silu(x), scale_base)  # (batch, out)
        chunks = _chunks(x.shape[0], (n_bases + 2 * k) * n_in * x.element_size())
        keep = len(chunks) == 1
        kind = _dense_bases_kind(x, knots)
        ctx.cached = _cached_locals(cache, x, knots, kind.__name__, chunks, kind, ctx)
        for i, rows in enumerate(chunks):
            if ctx.cached is not None:
                bases = ctx.cached[i]
            else:
                bases = kind(x[rows], knots, keep and ctx.needs_input_grad[0])
            y[rows].addmm_(
                bases.dense().flatten(1), weight.flatten(1).t()
            )  # B (rows, (G + k) in) W^T
        ctx.kept = bases if keep else None
        ctx.save_for_backward(x, scale_base, scale_spline, coef, weight)
        ctx.knots, ctx.kind, ctx.chunks = knots, kind, chunks
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x, scale_base, scale_spline, coef, weight = ctx.saved_tensors
        need_x, need_base = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        need_weight = ctx.needs_input_grad[3] or ctx.needs_input_grad[4]
        n_bases, n_in = weight.shape[1], x.shape[1]
        grad_x = torch.empty_like(x) if need_x else None
        grad_weight = torch.zeros_like(weight).flatten(1) if need_weight else None
        grad_base = grad_y.t() @ functional.silu(x) if need_base else None  # (out, in)
        for i, rows in enumerate(ctx.chunks):
            if ctx.cached is not None:
                bases = ctx.cached[i]
            elif ctx.kept is not None:
                bases = ctx.kept
            else:
                bases = ctx.kind(x[rows], ctx.knots, need_x)
            if need_weight:
                grad_weight.addmm_(grad_y[rows].t(), bases.dense().flatten(1))  # (out, (G+k) in)
            if need_x:
                grad_bases = bspline.scratch((grad_y[rows].shape[0], n_bases * n_in), x, 1)
                torch.mm(grad_y[rows], weight.flatten(1), out=grad_bases)  # dL/dB
                grad_x[rows] = bases.chain(grad_bases.view(-1, n_bases, n_in))
        ctx.kept = ctx.cached = None
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
    k, (n_out, n_in, n_bases) = spline_order, coef.shape
    table = coef.new_empty(n_in, n_bases + 2 * k, n_out)
    table[:, :k] = 0
    table[:, k + n_bases :] = 0
    # one pass (at large G each costs), written straight into the table's layout
    torch.mul(scale_spline.t().unsqueeze(1), coef.permute(1, 2, 0), out=table[:, k : k + n_bases])
    return table.view(-1, n_out)


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


def _selected_products(index: Tensor, grad_y: Tensor, table: Tensor) -> Tensor:
    """dL/dB (batch, in (k + 1)): grad_y[b] . table[index[b, r]], only where the bases are
    non-zero (a sampled matrix product on the bag's pattern)."""
    batch, width = index.shape
    with warnings.catch_warnings():  # torch calls its sparse CSR support beta
        warnings.simplefilter("ignore", UserWarning)
        pattern = torch.sparse_csr_tensor(
            _row_offsets(batch + 1, width, index.device),
            index.flatten(),
            grad_y.new_zeros(batch * width),
            size=(batch, table.shape[0]),
        )
    products = torch.sparse.sampled_addmm(pattern, grad_y, table.t(), beta=0.0)
    return products.values().view(batch, width)


def _add_selected_rows(table: Tensor, index: Tensor, weights: Tensor, grad_y: Tensor) -> Tensor:
    """dL/dW into a table (rows, out): row index[b, r] gets weights[b, r] grad_y[b]."""
    contributions = weights.unsqueeze(-1) * grad_y.unsqueeze(1)  # (batch, in (k+1), out)
    return table.index_add_(0, index.flatten(), contributions.reshape(-1, grad_y.shape[1]))


def _selected_row_sums(index: Tensor, weights: Tensor, grad_y: Tensor, rows: int) -> Tensor:
    """_add_selected_rows into a new table of zeros (the form torch.compile gets)."""
    return _add_selected_rows(grad_y.new_zeros(rows, grad_y.shape[1]), index, weights, grad_y)


# the sparse form's weight gradient: inductor fuses the product into the scatter-add, so
# the (batch, in (k + 1), out) contributions are never stored (4-7x faster than eager)
compiled_row_sums = CompiledKernel(_selected_row_sums)


def _sparse_chunks(x: Tensor, spline_order: int, n_out: int) -> tuple[list[slice], bool]:
    """(chunks of the batch, whether the weight gradient is added up compiled).

    Eager, dL/dW stores the (rows, in (k + 1), out) contributions, so chunks keep those in
    cache. Compiled, nothing of that size is stored, and chunks only bound the local bases
    kept for backward (weights, slopes and index per selected row) to KEPT_BYTES.
    """
    selected = x.shape[1] * (spline_order + 1)
    compiled = (
        x.shape[0] * selected * n_out >= COMPILE_MIN_ELEMENTS and not compiled_row_sums.failed
    )
    if compiled:
        return _chunks(x.shape[0], selected * (2 * x.element_size() + 8), KEPT_BYTES), True
    return _chunks(x.shape[0], selected * (n_out + 4) * x.element_size()), False


class _Sparse(torch.autograd.Function):
    """Sparse form: y = silu(x) w_b^T + sum over the rows of W the local bases select.

    Forward is an embedding bag (the selected rows weighted by the bases, summed per
    sample, without storing them); backward gets dL/dB from a sampled matrix product on
    the same pattern, and dL/dW by adding each selected row's share into the table
    (compiled for large layers, see compiled_row_sums). The bases of a batch that is one
    chunk are kept for backward.
    """

    @staticmethod
    def forward(ctx, x, knots, scale_base, scale_spline, coef, cache):
        k, n_out = knots.spline_order, coef.shape[0]
        table = _coefficient_rows(scale_spline, coef, k)
        y = functional.linear(functional.silu(x), scale_base)  # (batch, out)
        chunks, ctx.compiled = _sparse_chunks(x, k, n_out)
        keep = len(chunks) == 1
        ctx.cached = _cached_locals(cache, x, knots, "sparse", chunks, _sparse_locals, ctx)
        for i, rows in enumerate(chunks):
            if ctx.cached is not None:
                weights, slopes, index = ctx.cached[i]
            else:
                weights, slopes, index = _sparse_locals(
                    x[rows], knots, keep and ctx.needs_input_grad[0]
                )
            y[rows] += functional.embedding_bag(
                index, table, per_sample_weights=weights, mode="sum"
            )
        kept = (weights, slopes, index) if keep else (None, None, None)
        ctx.save_for_backward(x, scale_base, scale_spline, coef, table, *kept)
        ctx.knots, ctx.chunks = knots, chunks
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x, scale_base, scale_spline, coef, table, weights, slopes, index = ctx.saved_tensors
        knots, k = ctx.knots, ctx.knots.spline_order
        need_x, need_base = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        need_weight = ctx.needs_input_grad[3] or ctx.needs_input_grad[4]
        n_out, n_in, n_bases = coef.shape
        grad_x = torch.empty_like(x) if need_x else None
        grad_table = torch.zeros_like(table) if need_weight and not ctx.compiled else None
        grad_base = grad_y.t() @ functional.silu(x) if need_base else None  # (out, in)
        kept = weights is not None
        for i, rows in enumerate(ctx.chunks):
            if ctx.cached is not None and not kept:  # an input without gradient: no slopes
                weights, slopes, index = ctx.cached[i]
            elif not kept:
                weights, slopes, index = _sparse_locals(x[rows], knots, need_x)
            g = grad_y[rows]
            if need_weight and not ctx.compiled:
                _add_selected_rows(grad_table, index, weights, g)
            elif need_weight:
                sums = compiled_row_sums(index, weights, g, table.shape[0])
                grad_table = sums if grad_table is None else grad_table.add_(sums)
            if need_x:
                grad_weights = _selected_products(index, g, table)  # dL/dB
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
