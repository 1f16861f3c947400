"""Symbolic fitting of KAN edges (paper §2.5.1): fix_symbolic, suggestions, the automatic
pass, and the whole network's formula.

An edge's samples (x_s, y_s = phi(x_s)) are fitted by y ~ c f(a x + b) + d for a library
function f (kanbench.models.functions):

1. grid search over (a, b): on a grid of GRID x GRID points of a_range x b_range, the
   score of (a, b) is the squared correlation of f(a x + b) and y (the R^2 of the best
   c, d for that a, b); pairs whose argument leaves f's domain on any sample are
   rejected. The grid is then zoomed ZOOMS times around the best pair (to +-2 steps).
2. linear least squares for c, d at the best (a, b);
3. a Levenberg-Marquardt polish of (a, b, c, d) together (scipy), kept when it lowers
   the residual and stays in the domain;
4. R^2 = 1 - sum (y - yhat)^2 / sum (y - mean y)^2 (1 when y is constant and fitted).

The grid search evaluates f on (pairs, batch) blocks of at most CHUNK_BYTES, so its
memory does not grow with the number of samples times the grid (pykan's symbolic fit
asked for 102 GB on a large batch).

Suggestions are ranked by score = min(-log10(1 - R^2), QUALITY_CAP) - COMPLEXITY_WEIGHT *
complexity: a fit better than R^2 = 1 - 1e-QUALITY_CAP earns nothing more, so that a
simpler function wins among near-perfect fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.optimize import least_squares
from torch import Tensor

from kanbench.interpret.regularize import layer_inputs
from kanbench.models import KAN, KANLayer, bspline
from kanbench.models.functions import SymbolicFunction, get_function, resolve

GRID = 41
ZOOMS = 3
A_RANGE = (-10.0, 10.0)
B_RANGE = (-10.0, 10.0)
CHUNK_BYTES = 1 << 21  # small enough to stay in cache (large blocks page-fault)
QUALITY_CAP = 5.0
COMPLEXITY_WEIGHT = 0.5
DEFAULT_R2_THRESHOLD = 0.99


@dataclass(frozen=True)
class AffineFit:
    """A fitted edge c f(a x + b) + d, its R^2, the function's complexity and the score."""

    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    complexity: int

    @property
    def score(self) -> float:
        quality = QUALITY_CAP if self.r2 >= 1 else min(-math.log10(1 - self.r2), QUALITY_CAP)
        return quality - COMPLEXITY_WEIGHT * self.complexity

    @property
    def affine(self) -> tuple[float, float, float, float]:
        return self.a, self.b, self.c, self.d

    def as_dict(self) -> dict:
        return {**asdict(self), "score": self.score}


def _check_range(name: str, value) -> tuple[float, float]:
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
        or not value[0] < value[1]
    ):
        raise ValueError(f"{name} must be an increasing pair of finite numbers, got {value!r}")
    return float(value[0]), float(value[1])


def _r2_grid(f: SymbolicFunction, x: Tensor, y: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Squared correlation of f(a x + b) with y for every (a, b): (len(a), len(b)).

    -inf where the argument leaves f's domain or f(a x + b) is constant. The (a, b) pairs
    go through in chunks of (pairs, batch) blocks of at most CHUNK_BYTES (one pair at
    least), so memory grows with the batch only, not with batch x grid.
    """
    yc = y - y.mean()
    syy = (yc * yc).sum()
    pair_a = a.repeat_interleave(len(b))  # (na nb,): pair p = (a[p // nb], b[p % nb])
    pair_b = b.repeat(len(a))
    out = torch.empty(len(pair_a), dtype=x.dtype)
    rows = max(1, CHUNK_BYTES // (len(x) * x.element_size() * 4))
    for start in range(0, len(pair_a), rows):
        chunk = slice(start, start + rows)
        z = pair_a[chunk, None] * x + pair_b[chunk, None]  # (pairs, batch)
        admitted = f.admits(z)
        v = f.torch_fn(torch.where(admitted, z, torch.ones_like(z)))
        v = v - v.mean(-1, keepdim=True)
        svv = (v * v).sum(-1)
        svy = (v * yc).sum(-1)
        r2 = svy * svy / (svv * syy).clamp_min(torch.finfo(x.dtype).tiny)
        flat = svv <= 1e-20 * len(x) * (1 + v.abs().amax(-1) ** 2)
        valid = admitted.all(-1) & ~flat & torch.isfinite(r2)
        out[chunk] = torch.where(valid, r2, -math.inf)
    return out.view(len(a), len(b))


def canonical(name: str, a: float, b: float, c: float, d: float) -> tuple[float, ...]:
    """The same function c f(a x + b) + d with its redundant parameters removed.

    x: a = 1, b = 0; x^p, 1/x, abs: a = 1; exp: b = 0; sqrt, log: a = +-1. Fits land on
    any point of such a redundant family (c a^2 is what counts for x^2), and a refit from
    a badly scaled one takes wild first steps.
    """
    if a == 0:
        return a, b, c, d
    if name == "x":
        return 1.0, 0.0, c * a, d + c * b
    if name in ("x^2", "x^3", "x^4"):
        return 1.0, b / a, c * a ** int(name[-1]), d
    if name == "1/x":
        return 1.0, b / a, c / a, d
    if name == "abs":
        return 1.0, b / a, c * abs(a), d
    if name == "exp":
        return a, 0.0, c * math.exp(b), d
    if name == "sqrt":
        return math.copysign(1.0, a), b / abs(a), c * math.sqrt(abs(a)), d
    if name == "log":
        return math.copysign(1.0, a), b / abs(a), c, d + c * math.log(abs(a))
    return a, b, c, d


def _linear(fz: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares c, d of y ~ c fz + d."""
    design = np.stack([fz, np.ones_like(fz)], axis=1)
    (c, d), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(c), float(d)


def fit_affine(
    x: Tensor,
    y: Tensor,
    name: str,
    a_range: Sequence[float] = A_RANGE,
    b_range: Sequence[float] = B_RANGE,
    grid: int = GRID,
    zooms: int = ZOOMS,
) -> AffineFit:
    """Fit y ~ c f(a x + b) + d on samples x, y (batch,) for the library function name."""
    f = get_function(name)
    a_lo, a_hi = _check_range("a_range", a_range)
    b_lo, b_hi = _check_range("b_range", b_range)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 3:
        raise ValueError(f"grid must be an integer >= 3, got {grid!r}")
    x = torch.as_tensor(x, dtype=torch.float64).detach().flatten().cpu()
    y = torch.as_tensor(y, dtype=torch.float64).detach().flatten().cpu()
    if x.shape != y.shape or len(x) < 2:
        raise ValueError(
            f"x and y must hold the same number (>= 2) of samples, got {len(x)}, {len(y)}"
        )
    yn, ybar = y.numpy(), float(y.mean())
    sst = float(((y - ybar) ** 2).sum())
    if f.name == "0" or sst <= 1e-24 * max(1.0, float((y * y).sum())):
        residual = float(((y - ybar) ** 2).sum())
        r2 = 1.0 if sst <= 1e-24 * max(1.0, float((y * y).sum())) else 1 - residual / sst
        return AffineFit(f.name, 1.0, 0.0, 0.0, ybar, r2, f.complexity)
    a = torch.linspace(a_lo, a_hi, grid, dtype=torch.float64)
    b = torch.linspace(b_lo, b_hi, grid, dtype=torch.float64)
    best = None
    for _ in range(zooms + 1):
        r2 = _r2_grid(f, x, y, a, b)
        index = int(torch.argmax(r2))
        if not math.isfinite(float(r2.flatten()[index])):
            break
        best = (float(a[index // len(b)]), float(b[index % len(b)]))
        da, db = float(a[1] - a[0]), float(b[1] - b[0])
        a = torch.linspace(best[0] - 2 * da, best[0] + 2 * da, grid, dtype=torch.float64)
        b = torch.linspace(best[1] - 2 * db, best[1] + 2 * db, grid, dtype=torch.float64)
    if best is None:
        return AffineFit(f.name, 1.0, 0.0, 0.0, ybar, 0.0, f.complexity)
    xn = x.numpy()

    def predict(p: np.ndarray) -> np.ndarray:
        return p[2] * f.torch_fn(torch.as_tensor(p[0] * xn + p[1])).numpy() + p[3]

    c, d = _linear(f.torch_fn(torch.as_tensor(best[0] * xn + best[1])).numpy(), yn)
    params = np.array([best[0], best[1], c, d])
    residual = float(((predict(params) - yn) ** 2).sum())
    try:
        polished = least_squares(lambda p: predict(p) - yn, params, method="lm", max_nfev=400)
        z = torch.as_tensor(polished.x[0] * xn + polished.x[1])
        if bool(f.admits(z).all()) and np.isfinite(polished.x).all():
            value = float(((predict(polished.x) - yn) ** 2).sum())
            if value < residual:
                params, residual = polished.x, value
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        pass
    r2 = 1.0 - residual / sst
    return AffineFit(f.name, *canonical(f.name, *(float(p) for p in params)), r2, f.complexity)


def suggest(x: Tensor, y: Tensor, names: Sequence[str] | None = None, **options) -> list[AffineFit]:
    """Fits of every function named (None: the whole library), best score first."""
    functions = resolve(names)
    fits = [fit_affine(x, y, f.name, **options) for f in functions]
    return sorted(fits, key=lambda fit: (-fit.score, -fit.r2))


def _check_edge(model: KAN, li: int, i: int, j: int) -> KANLayer:
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanbench KAN, got {type(model).__name__}")
    n = len(model.layers)
    if isinstance(li, bool) or not isinstance(li, int) or not 0 <= li < n:
        raise ValueError(f"layer index li must be an integer in [0, {n}), got {li!r}")
    layer = model.layers[li]
    layer.check_edge(i, j)
    return layer


@torch.no_grad()
def edge_samples(model: KAN, x: Tensor, li: int, i: int, j: int) -> tuple[Tensor, Tensor]:
    """(x_i, phi_ji(x_i)), each (batch,), of edge (li, i, j) when the model runs on x."""
    layer = _check_edge(model, li, i, j)
    h = layer_inputs(model, x)[li][:, i : i + 1]  # (batch, 1)
    spline = bspline.spline_values(
        h, layer.grid[i : i + 1], layer.coef[j : j + 1, i : i + 1], layer.spline_order
    )[:, 0, 0]
    phi = (
        layer.scale_base[j, i] * torch.nn.functional.silu(h[:, 0])
        + layer.scale_spline[j, i] * spline
    )
    fixed = layer.symbolic_edge(i, j)
    if fixed is not None:
        (a, b, c, d), f = fixed[1], get_function(fixed[0])
        phi = c * f(a * h[:, 0] + b) + d
    return h[:, 0], phi * layer.mask[j, i]


def fix_symbolic(
    model: KAN,
    li: int,
    i: int,
    j: int,
    name: str,
    x: Tensor | None = None,
    affine: Sequence[float] | None = None,
    **options,
) -> AffineFit | None:
    """Fix edge (li, i, j) of model to c f(a x + b) + d, f the library function `name`.

    With samples x (batch, n_0) of the network's input, (a, b, c, d) are fitted to the
    edge's current function on them and the fit is returned; with affine = (a, b, c, d)
    they are set as given (returns None). Everything is checked before the model changes.
    """
    layer = _check_edge(model, li, i, j)
    get_function(name)
    if (x is None) == (affine is None):
        raise ValueError("fix_symbolic needs exactly one of x (samples to fit on) and affine")
    if affine is not None:
        layer.fix_edge(i, j, name, affine)
        return None
    if x.dim() != 2 or x.shape[1] != model.widths[0] or x.shape[0] < 2:
        raise ValueError(f"x must have shape (batch >= 2, {model.widths[0]}), got {tuple(x.shape)}")
    fit = fit_affine(*edge_samples(model, x, li, i, j), name, **options)
    layer.fix_edge(i, j, name, fit.affine)
    return fit


def auto_symbolic(
    model: KAN,
    x: Tensor,
    threshold: float = DEFAULT_R2_THRESHOLD,
    names: Sequence[str] | None = None,
    **options,
) -> list[dict]:
    """Fix every kept spline edge whose best suggestion reaches R^2 >= threshold.

    Layers go first to last, each fitted on the inputs the edits so far give it. Returns
    one row per edge examined: li, i, j, the best fit (fixed or not) and whether it was fixed.
    """
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not threshold <= 1:
        raise ValueError(f"threshold must be a number <= 1 (an R^2), got {threshold!r}")
    resolve(names)
    rows = []
    for li, layer in enumerate(model.layers):
        for j in range(layer.out_features):
            for i in range(layer.in_features):
                if layer.mask[j, i] == 0 or layer.symbolic_mask[j, i] == 1:
                    continue
                best = suggest(*edge_samples(model, x, li, i, j), names, **options)[0]
                fixed = best.r2 >= threshold
                if fixed:
                    layer.fix_edge(i, j, best.name, best.affine)
                rows.append({"l": li, "i": i, "j": j, "fixed": fixed, **best.as_dict()})
    return rows


def formula(model: KAN, variables: Sequence[str] | None = None) -> list:
    """The network's outputs as sympy expressions of its inputs.

    Fixed edges become c f(a x + b) + d, masked edges 0, and spline edges undefined
    functions phi_l_i_j(x) (so a partly fixed network still has a formula).
    """
    import sympy

    n_in = model.widths[0]
    if variables is None:
        variables = [f"x_{i + 1}" for i in range(n_in)]
    if len(variables) != n_in:
        raise ValueError(f"variables must name the {n_in} inputs, got {list(variables)}")
    nodes = [sympy.Symbol(str(v), real=True) for v in variables]
    for li, layer in enumerate(model.layers):
        outputs = []
        for j in range(layer.out_features):
            total = (
                sympy.Float(layer.bias[j].item()) if layer.bias is not None else sympy.Integer(0)
            )
            for i in range(layer.in_features):
                if layer.mask[j, i] == 0:
                    continue
                fixed = layer.symbolic_edge(i, j)
                if fixed is None:
                    total += sympy.Function(f"phi_{li}_{i}_{j}")(nodes[i])
                    continue
                a, b, c, d = (sympy.Float(v) for v in fixed[1])
                total += c * get_function(fixed[0]).sympy_fn(a * nodes[i] + b) + d
            outputs.append(total)
        nodes = outputs
    return nodes


@torch.no_grad()
def normalize_hidden(model: KAN, x: Tensor) -> int:
    """Rescale hidden nodes whose kept outgoing edges are all symbolic to unit spread.

    With h = s h' + t (s, t the standard deviation and mean of the node on samples x),
    the incoming edges are divided by s (w_b, w_s of spline edges; c, d of fixed ones),
    t is taken out through a fixed incoming edge's d or the bias when there is one, and
    the outgoing edges f(a h + b) become f(a s h' + a t + b), in canonical form: the
    network's function is unchanged. The sparsity penalty leaves hidden values small and
    the next layer's a large, which a refit from there crawls out of. Returns the number
    of nodes rescaled.
    """
    inputs = layer_inputs(model, x)
    count = 0
    for li in range(len(model.layers) - 1):
        into, out = model.layers[li], model.layers[li + 1]
        h = inputs[li + 1]
        for n in range(into.out_features):
            kept_out = out.mask[:, n] > 0
            if not kept_out.any() or not bool((out.symbolic_mask[:, n][kept_out] > 0).all()):
                continue
            scale = float(h[:, n].std())
            if not scale > 0:
                continue
            shift = float(h[:, n].mean())
            fixed_in = [e for e, (row, _) in enumerate(into.symbolic_edges.tolist()) if row == n]
            if into.bias is not None:
                into.bias[n] -= shift
            elif fixed_in:
                into.symbolic_affine[fixed_in[0], 3] -= shift
            else:
                shift = 0.0
            into.scale_base[n] /= scale
            into.scale_spline[n] /= scale
            if into.bias is not None:
                into.bias[n] /= scale
            for e in fixed_in:
                into.symbolic_affine[e, 2:] /= scale
            for e, (_, col) in enumerate(out.symbolic_edges.tolist()):
                if col == n:
                    a, b, c, d = out.symbolic_affine[e].tolist()
                    affine = canonical(out.symbolic_names[e], a * scale, b + a * shift, c, d)
                    out.symbolic_affine[e] = torch.as_tensor(affine)
            count += 1
    return count
