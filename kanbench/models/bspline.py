"""B-spline bases on per-input knot vectors (grid operations: kanbench.models.grids).

Notation (KAN paper §2.2 and §2.4). Each input of a layer has a grid of G
intervals on [a, b] (G + 1 grid points). Its knot vector t is that grid extended by k
knots on each side, so it holds G + 2k + 1 knots and carries G + k bases B_m of order
(degree) k; B_m is supported on [t_m, t_{m+k+1}). Grids have shape (in, G + 2k + 1),
inputs (batch, in), dense bases (batch, in, G + k).

At any x only the k + 1 bases B_{l-k} .. B_l of its knot cell l (t_l <= x < t_{l+1}) are
non-zero. Outside the grid range [a, b] = [t_k, t_{G+k}] every spline continues as the
polynomial of its boundary cell (the first or last cell of the range), as
scipy.interpolate.BSpline extrapolates: there x keeps the cell l = k or G + k - 1 and
evaluates its pieces beyond [0, 1]. A spline then has no region that its coefficients
shape without data near it (the paper's splines taper to zero over the k extension cells
and vanish beyond them), its value and slopes are continuous across a and b, and grid
extension onto knots that contain the old ones keeps it exactly everywhere, not only on
[a, b]. Within a cell each of them is a polynomial of degree k in the cell's own
coordinate u = (x - t_l) / (t_{l+1} - t_l): on a uniform knot vector these are the pieces
of the cardinal B-spline, the same in every cell; otherwise de Boor's triangle, run once
per grid on polynomials, gives each cell's. Evaluating the bases is then a cell lookup
and Horner's scheme in u, for the values and for their slopes dB/dx alike, and the k + 1
values are scattered into the dense tensor. Autograd never sees any of it: the chain
rule through the bases uses those slopes directly.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# spacings within this many units of rounding of each other count as uniform
_UNIFORM_ULPS = 16


def check_spline_args(grid_size: int, spline_order: int) -> None:
    """Raise ValueError unless G >= 1 and k >= 1 are integers."""
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(f"grid_size (G) must be an integer >= 1, got {grid_size!r}")
    if isinstance(spline_order, bool) or not isinstance(spline_order, int) or spline_order < 1:
        raise ValueError(f"spline_order (k) must be an integer >= 1, got {spline_order!r}")


def extend_grid(points: Tensor, spline_order: int) -> Tensor:
    """Extend grid points (in, G + 1) by k knots each side -> knots (in, G + 2k + 1).

    The extension uses the mean spacing h = (t_G - t_0) / G of each input's grid.
    """
    k = spline_order
    grid_size = points.shape[1] - 1
    h = (points[:, -1:] - points[:, :1]) / grid_size  # (in, 1)
    steps = torch.arange(1, k + 1, dtype=points.dtype, device=points.device)  # (k,)
    left = points[:, :1] - h * steps.flip(0)  # (in, k)
    right = points[:, -1:] + h * steps  # (in, k)
    return torch.cat([left, points, right], dim=1)


def is_uniform(grid: Tensor) -> bool:
    """Whether every input's knot vector (in, K) has equal spacing, up to rounding.

    Spacings may differ by 16 units of rounding of the knots' magnitude.
    """
    h = grid.diff(dim=1)  # (in, K - 1)
    tolerance = _UNIFORM_ULPS * torch.finfo(grid.dtype).eps * grid.abs().amax(dim=1, keepdim=True)
    return bool(((h - h.mean(dim=1, keepdim=True)).abs() <= tolerance).all())


@dataclass
class LocalBases:
    """The k + 1 non-zero bases at each input, as the local evaluators produce them.

    values and derivative are planes (k + 1, batch, in): values[r, b, i] = B_{l-k+r}(x[b, i])
    with l = cell[b, i] the knot cell of the input, clamped into the grid range's cells
    [k, G + k - 1] (outside the range the boundary cell's pieces are extrapolated, see the
    module docstring), so every index l - k + r lies in [0, G + k). The padded dense
    tensors (batch, G + 3k, in), whose row l + r holds B_{l-k+r}, keep k spare rows at
    each end.
    """

    values: Tensor
    derivative: Tensor | None
    cell: Tensor


def _cell_polynomials(grid: Tensor, spline_order: int) -> Tensor:
    """The local bases of every knot cell as polynomials of x - t_l.

    de Boor's triangle, run on polynomials of u = (x - t_l) / (t_{l+1} - t_l): in cell l,
    level j holds B_{l-j+r, j}, r = 0..j, and with left_j = x - t_{l+1-j}, right_j =
    t_{l+j} - x (both linear in u) and
    T_r = B_{l-j+1+r, j-1} / (t_{l+1+r} - t_{l+1+r-j}),
        B_{l-j+r, j} = right_{r+1} T_r + left_{j-r+1} T_{r-1}.
    Returns rows (in * cells, 1 + (k + 1) 2 (k + 1)), one per cell l + i * cells: t_l, then
    the coefficients [p, r] of (x - t_l)^p, for r = 0..k of the bases B_{l-k+r} and for
    r = k+1..2k+1 of their slopes dB/dx.
    """
    k = spline_order
    n_in, n_knots = grid.shape
    cells = n_knots - 1
    work = {"dtype": torch.float64, "device": grid.device}
    # pad k virtual knots each side so that the 2k knots around every cell exist;
    # the real bases never depend on them
    padded = extend_grid(grid.to(**work), k)  # (in, K + 2k)
    around = torch.arange(cells, device=grid.device)[:, None] + torch.arange(
        1, 2 * k + 1, device=grid.device
    )
    knots = padded[:, around]  # (in, cells, 2k): knots[..., s] = t_{l-k+1+s}
    t_l = knots[..., k - 1 : k]  # (in, cells, 1)
    h = knots[..., k : k + 1] - t_l  # (in, cells, 1)
    poly = torch.ones(n_in, cells, 1, 1, **work)  # level 0: (in, cells, r, p)
    for j in range(1, k + 1):
        span = knots[..., k : k + j] - knots[..., k - j : k]  # t_{l+1+r} - t_{l+1+r-j}
        ratio = poly / span[..., None]  # (in, cells, j, j)
        right = (knots[..., k : k + j] - t_l)[..., None]  # right_{r+1} = this - h u
        left = (t_l - knots[..., k - j : k])[..., None]  # left_{j-r} = this + h u
        hu = h[..., None]
        new = poly.new_zeros(n_in, cells, j + 1, j + 1)
        new[..., :j, :j] += right * ratio
        new[..., :j, 1:] -= hu * ratio
        new[..., 1:, :j] += left * ratio
        new[..., 1:, 1:] += hu * ratio
        poly = new
    poly = poly / h[..., None] ** torch.arange(k + 1, **work)  # powers of (x - t_l)
    slopes = torch.nn.functional.pad(poly[..., 1:] * torch.arange(1, k + 1, **work), (0, 1))
    table = torch.cat([poly, slopes], dim=2).transpose(2, 3)  # (in, cells, p, 2 (k + 1))
    table = torch.cat([t_l.reshape(-1, 1), table.reshape(n_in * cells, -1)], dim=1)
    return table.to(grid.dtype).contiguous()


@dataclass(frozen=True)
class Knots:
    """Knot vectors (in, K) and what evaluating bases on them needs, computed once.

    uniform: every input's knots are equally spaced, so the cardinal B-spline's pieces
    serve every cell: origin (in,) is t_0 and inv_width (in,) 1/h. Otherwise polynomials
    holds each cell's own (see _cell_polynomials), cells numbered l + i * cells from
    cell_offset (in,) = i * cells.
    """

    grid: Tensor
    spline_order: int
    uniform: bool
    origin: Tensor | None
    inv_width: Tensor | None
    polynomials: Tensor | None
    cell_offset: Tensor | None

    @property
    def n_bases(self) -> int:
        return self.grid.shape[1] - self.spline_order - 1

    @property
    def cells(self) -> int:
        return self.grid.shape[1] - 1


def prepare_knots(grid: Tensor, spline_order: int) -> Knots:
    """The Knots of grid (in, G + 2k + 1) for order k."""
    if is_uniform(grid):
        inv_width = (grid.shape[1] - 1) / (grid[:, -1] - grid[:, 0])
        return Knots(grid, spline_order, True, grid[:, 0].clone(), inv_width, None, None)
    cells = grid.shape[1] - 1
    offset = torch.arange(0, grid.shape[0] * cells, cells, device=grid.device)
    return Knots(
        grid, spline_order, False, None, None, _cell_polynomials(grid, spline_order), offset
    )


def local_bases_table(x: Tensor, knots: Knots, derivative: bool) -> LocalBases:
    """Local bases on any knot vectors, from each cell's polynomials of x - t_l (Horner)."""
    k, grid, cells = knots.spline_order, knots.grid, knots.cells
    inside = torch.clamp(x, grid[:, k], grid[:, cells - k])  # (batch, in), onto [a, b]
    cell = torch.searchsorted(grid, inside.t().contiguous(), right=True).t() - 1  # (batch, in)
    cell = cell.clamp_(k, cells - 1 - k)
    table = knots.polynomials.index_select(0, (cell + knots.cell_offset).reshape(-1))
    offset = (x.reshape(-1) - table[:, 0]).unsqueeze(1)  # (batch in, 1): x - t_l
    rows = 2 * (k + 1) if derivative else k + 1
    coefficients = table[:, 1:].view(-1, k + 1, 2 * (k + 1))[..., :rows]  # (batch in, p, rows)
    planes = coefficients[:, k]
    for p in range(k - 1, -1, -1):
        planes = torch.addcmul(coefficients[:, p], planes, offset)
    planes = planes.t().view(rows, *x.shape)  # (rows, batch, in)
    return LocalBases(planes[: k + 1], planes[k + 1 :] if derivative else None, cell)


@functools.lru_cache(maxsize=16)
def _cardinal_pieces(spline_order: int) -> np.ndarray:
    """Power-basis coefficients P (k + 1, k + 1) of the cardinal B-spline's pieces.

    On a uniform knot vector with spacing h and u = (x - t_l) / h in [0, 1], the local
    bases are B_{l-k+r}(x) = sum_p P[r, p] u^p, the piece beta(u + k - r) of the cardinal
    B-spline beta(s) = 1/k! sum_{i=0}^{k+1} (-1)^i C(k+1, i) (s - i)_+^k.
    """
    from math import comb, factorial

    k = spline_order
    u = (np.cos(np.pi * (np.arange(k + 1) + 0.5) / (k + 1)) + 1) / 2  # Chebyshev nodes in (0, 1)

    def beta(s: np.ndarray) -> np.ndarray:
        terms = (comb(k + 1, i) * (-1) ** i * np.clip(s - i, 0, None) ** k for i in range(k + 2))
        return sum(terms) / factorial(k)

    vandermonde = u[:, None] ** np.arange(k + 1)  # (k + 1 points, k + 1 powers)
    pieces = np.stack([beta(u + k - r) for r in range(k + 1)], axis=1)  # (points, r)
    return np.linalg.solve(vandermonde, pieces).T  # (r, p)


@functools.lru_cache(maxsize=64)
def _power_map(
    spline_order: int, derivative: bool, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor]:
    """(constant (R, 1), matrix (R, k)) taking the powers u^1..u^k to the local bases.

    Rows 0..k give B_{l-k+r} = sum_p P[r, p] u^p; with derivative, rows k+1..2k+1 give
    dB/du = sum_p p P[r, p] u^(p-1) in the same powers (its u^k coefficient is zero).
    """
    k = spline_order
    pieces = cardinal_piece_table(k, torch.float64, torch.device("cpu"))  # (r, p)
    rows = [pieces]
    if derivative:
        slopes = torch.arange(1, k + 1, dtype=torch.float64) * pieces[:, 1:]  # (r, p - 1)
        rows.append(torch.nn.functional.pad(slopes, (0, 1)))
    table = torch.cat(rows).to(dtype=dtype, device=device)
    return table[:, :1].contiguous(), table[:, 1:].contiguous()


def local_bases_uniform(x: Tensor, knots: Knots, derivative: bool) -> LocalBases:
    """Local bases on uniform knot vectors: the cardinal B-spline polynomials of u.

    The powers u^1..u^k (k, batch in) meet the pieces in one small matrix multiply, which
    also gives the slopes (1/h) dB/du.
    """
    k, cells, inv_h = knots.spline_order, knots.cells, knots.inv_width
    s = (x - knots.origin) * inv_h  # (batch, in): (x - t_0) / h
    cell = s.floor().nan_to_num_(nan=k).clamp_(k, cells - 1 - k)  # NaN x: NaN bases
    u = s - cell  # (batch, in), in [0, 1] on the grid range, beyond it outside
    powers = [u]
    for _ in range(1, k):
        powers.append(powers[-1] * u)
    constant, matrix = _power_map(k, derivative, x.dtype, x.device)
    planes = torch.addmm(constant, matrix, torch.stack(powers).view(k, -1))  # (R, batch in)
    planes = planes.view(-1, *x.shape)  # (k + 1 or 2 (k + 1), batch, in)
    slope = planes[k + 1 :] * inv_h if derivative else None  # d/dx = d/du / h
    return LocalBases(planes[: k + 1], slope, cell.to(torch.int64))


@functools.lru_cache(maxsize=64)
def cardinal_piece_table(spline_order: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """P (k + 1, k + 1) of _cardinal_pieces as a tensor: B_{l-k+r} = sum_p P[r, p] u^p."""
    return torch.as_tensor(_cardinal_pieces(spline_order), dtype=dtype, device=device)


def _uniform_offsets(
    x: Tensor, origin: Tensor, inv_width: Tensor, cells: int, n_bases: int, spline_order: int
) -> tuple[Tensor, Tensor]:
    """(u (batch, 1, in), r (batch, G + k, in)): input b, i lies at u in its knot cell l,
    and basis m is that cell's local basis r = m - l + k (non-zero for 0 <= r <= k)."""
    s = (x - origin) * inv_width  # (x - t_0) / h
    cell = s.floor().clamp(spline_order, cells - 1 - spline_order)
    bases = torch.arange(n_bases, dtype=x.dtype, device=x.device).view(1, -1, 1)
    return (s - cell).unsqueeze(1), bases - cell.unsqueeze(1) + spline_order


def _select_pieces(u: Tensor, r: Tensor, pieces: Tensor) -> Tensor:
    """Polynomial pieces (r, p) evaluated at u, each entry the piece r names (zero where
    r is outside 0..k)."""
    out = torch.zeros_like(r)
    for piece in range(pieces.shape[0]):
        value = pieces[piece, -1] * torch.ones_like(u)
        for p in range(pieces.shape[1] - 2, -1, -1):  # Horner's scheme
            value = value * u + pieces[piece, p]
        out = torch.where(r == piece, value, out)
    return out


def pointwise_dense_bases(
    x: Tensor, origin: Tensor, inv_width: Tensor, pieces: Tensor, cells: int, n_bases: int
) -> Tensor:
    """Dense bases (batch, G + k, in) on uniform knots (Knots.origin, inv_width, cells and
    n_bases; pieces = cardinal_piece_table), every entry computed on its own from its
    input: a pointwise form, with no scatter, that torch.compile runs as one pass
    (kanbench.models.forms). Equal to scatter_dense of local_bases."""
    k = pieces.shape[0] - 1
    u, r = _uniform_offsets(x, origin, inv_width, cells, n_bases, k)
    return _select_pieces(u, r, pieces)


def pointwise_chain(
    x: Tensor, grad_bases: Tensor, origin: Tensor, inv_width: Tensor, pieces: Tensor, cells: int
) -> Tensor:
    """dL/dx (batch, in) = sum_m dL/dB_m dB_m/dx from dL/dB (batch, G + k, in), on uniform
    knots and pointwise as pointwise_dense_bases. Equal to chain_through_bases."""
    k = pieces.shape[0] - 1
    u, r = _uniform_offsets(x, origin, inv_width, cells, grad_bases.shape[1], k)
    # dB/du = sum_p p P[r, p] u^(p-1): the pieces of the slopes
    slope_pieces = pieces[:, 1:] * torch.arange(1, k + 1, dtype=x.dtype, device=x.device)
    return (grad_bases * _select_pieces(u, r, slope_pieces)).sum(1) * inv_width


def local_bases(x: Tensor, knots: Knots, derivative: bool = False) -> LocalBases:
    """The k + 1 non-zero bases at x (batch, in) on the knots; see LocalBases."""
    evaluate = local_bases_uniform if knots.uniform else local_bases_table
    return evaluate(x, knots, derivative)


def padded_start(cell: Tensor, spline_order: int, n_bases: int) -> Tensor:
    """Flat indices (batch, in) of row l in a padded (batch, G + 3k, in) tensor.

    Row l + r of the padded tensor holds B_{l-k+r}, so local basis r of input (b, i) sits
    at padded_start + r * in. Rows k .. k + G + k - 1 are the real bases; the others
    absorb the k bases that do not exist at each end.
    """
    batch, n_in = cell.shape
    rows = n_bases + 2 * spline_order
    # flat index of (b, l, i) = (b rows + l) in + i
    sample = torch.arange(0, batch * rows * n_in, rows * n_in, device=cell.device)[:, None]
    return (cell * n_in).add_(sample + torch.arange(n_in, device=cell.device))


_scratch = threading.local()


def scratch(shape: tuple[int, ...], like: Tensor, slot: int) -> Tensor:
    """An uninitialised tensor of shape in a per-thread buffer that is reused across calls.

    Reuse spares the page faults of fresh large allocations, which otherwise cost more
    than the arithmetic here. The tensor is valid until the next call with the same slot,
    so it must not escape the caller.
    """
    buffers = _scratch.__dict__.setdefault("buffers", {})
    key = (slot, like.dtype, like.device)
    numel = math.prod(shape)
    buffer = buffers.get(key)
    if buffer is None or buffer.numel() < numel:
        buffer = buffers[key] = like.new_empty(numel)
    return buffer[:numel].view(shape)


def release_scratch() -> None:
    """Free this thread's scratch buffers (they are made again when next needed)."""
    _scratch.__dict__.pop("buffers", None)


def scatter_dense(
    local: Tensor, start: Tensor, n_bases: int, scratch_slot: int | None = None
) -> Tensor:
    """Dense (batch, G + k, in) from local planes (k + 1, batch, in) at padded_start.

    The result is a view into the padded tensor (batch, G + 3k, in): strided between
    samples, so that flatten(1) gives a matrix that BLAS reads in place. With a
    scratch_slot, the padded tensor lives in that scratch buffer (see scratch).
    """
    order, batch, n_in = local.shape
    k = order - 1
    shape = (batch, n_bases + 2 * k, n_in)
    padded = (
        local.new_zeros(shape)
        if scratch_slot is None
        else scratch(shape, local, scratch_slot).zero_()
    )
    flat, index = padded.view(-1), start.reshape(-1)
    for r in range(order):
        # plane r lands r rows below the start: scatter into the buffer shifted by r rows
        flat[r * n_in :].scatter_(0, index, local[r].reshape(-1))
    return padded[:, k : k + n_bases]


def chain_through_bases(grad_bases: Tensor, local: LocalBases, start: Tensor) -> Tensor:
    """dL/dx (batch, in) = sum_m dL/dB_m dB_m/dx from dL/dB (batch, G + k, in)."""
    slopes = scatter_dense(local.derivative, start, grad_bases.shape[1], scratch_slot=2)
    return torch.linalg.vecdot(grad_bases, slopes, dim=1)


class _BasisFunction(torch.autograd.Function):
    """Dense bases (batch, G + k, in); autograd keeps only the local derivatives."""

    @staticmethod
    def forward(ctx, x: Tensor, knots: Knots) -> Tensor:
        local = local_bases(x, knots, derivative=ctx.needs_input_grad[0])
        start = padded_start(local.cell, knots.spline_order, knots.n_bases)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(local.derivative, start)
        return scatter_dense(local.values, start, knots.n_bases)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_bases: Tensor):
        derivative, start = ctx.saved_tensors
        local = LocalBases(None, derivative, None)
        return chain_through_bases(grad_bases, local, start), None


def bspline_basis(x: Tensor, grid: Tensor | Knots, spline_order: int | None = None) -> Tensor:
    """B-spline bases B_m(x_i) of order k: x (batch, in), grid (in, G + 2k + 1).

    Returns (batch, in, G + k), a transposed view of a (batch, G + k, in) tensor. grid may
    be prepared Knots (then spline_order is theirs). Differentiable in x; autograd keeps
    only the k + 1 local slopes per input.
    """
    knots = grid if isinstance(grid, Knots) else prepare_knots(grid, spline_order)
    if x.dim() != 2 or x.shape[1] != knots.grid.shape[0]:
        raise ValueError(
            f"x must have shape (batch, {knots.grid.shape[0]}) to match the grid, "
            f"got {tuple(x.shape)}"
        )
    return _BasisFunction.apply(x, knots).transpose(1, 2)


def spline_values(x: Tensor, grid: Tensor, coef: Tensor, spline_order: int) -> Tensor:
    """Per-edge splines sum_m c_jim B_m(x_i): x (batch, in), coef (out, in, G + k).

    Returns (batch, in, out).
    """
    bases = bspline_basis(x, grid, spline_order)  # (batch, in, G + k)
    return torch.einsum("bim,oim->bio", bases, coef)
