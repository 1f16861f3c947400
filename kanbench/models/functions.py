"""The library of symbolic functions a KAN edge can be fixed to (KAN paper §2.5.1).

A fixed edge computes phi(x) = c f(a x + b) + d with f from this library. Each entry
holds f twice, as a torch function (for the forward pass and the fit) and as a sympy
function (for the network's formula), with a complexity used to rank suggestions and,
where f is defined on part of the real line only, its domain (exp: z <= EXP_MAX). On its
domain the torch function is f itself; outside, the forward pass clamps the argument
into it, so that a fixed edge stays finite on inputs the fit never saw (the sympy
formula does not clamp: the two agree wherever a x + b stays in the domain, as on the
samples of the fit, which rejects any (a, b) that leaves it).

Users add functions with register_function(name, torch_fn, sympy_fn, complexity).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# the distance from a pole (1/x) or from the edge of a domain (log, sqrt, arcsin) that
# the forward pass keeps; the fit rejects arguments inside it
DOMAIN_MARGIN = 1e-6
# exp's argument is kept below this (e^40 ~ 2e17), so that a wild optimiser step gives a
# large but finite loss (which the line search backs out of) instead of inf and NaN
EXP_MAX = 40.0


@dataclass(frozen=True)
class SymbolicFunction:
    """f with its torch and sympy forms; domain (lo, hi) or None (all reals)."""

    name: str
    torch_fn: Callable[[Tensor], Tensor]
    sympy_fn: Callable
    complexity: int
    domain: tuple[float, float] | None = None
    pole_at_zero: bool = False

    def admits(self, z: Tensor) -> Tensor:
        """Which arguments z lie safely inside the domain (same shape as z, bool)."""
        ok = torch.isfinite(z)
        if self.domain is not None:
            lo, hi = self.domain
            ok &= (z >= lo + DOMAIN_MARGIN) & (z <= hi - DOMAIN_MARGIN)
        if self.pole_at_zero:
            ok &= z.abs() >= DOMAIN_MARGIN
        return ok

    def __call__(self, z: Tensor) -> Tensor:
        """f(z), with z clamped into the domain (see the module docstring)."""
        if self.domain is not None:
            lo, hi = self.domain
            z = z.clamp(lo + DOMAIN_MARGIN, hi - DOMAIN_MARGIN)
        if self.pole_at_zero:
            z = torch.where(z.abs() < DOMAIN_MARGIN, torch.full_like(z, DOMAIN_MARGIN), z)
        return self.torch_fn(z)


def _sympy():
    import sympy

    return sympy


def _builtin() -> dict[str, SymbolicFunction]:
    sp = _sympy()
    inf = math.inf
    entries = [
        ("0", lambda z: torch.zeros_like(z), lambda z: sp.Integer(0), 0, None, False),
        ("x", lambda z: z, lambda z: z, 1, None, False),
        ("x^2", lambda z: z * z, lambda z: z**2, 2, None, False),
        ("x^3", lambda z: z**3, lambda z: z**3, 3, None, False),
        ("x^4", lambda z: z**4, lambda z: z**4, 3, None, False),
        ("1/x", torch.reciprocal, lambda z: 1 / z, 2, None, True),
        ("sqrt", torch.sqrt, sp.sqrt, 2, (0.0, inf), False),
        ("exp", torch.exp, sp.exp, 2, (-inf, EXP_MAX), False),
        ("log", torch.log, sp.log, 2, (0.0, inf), False),
        ("sin", torch.sin, sp.sin, 3, None, False),
        ("cos", torch.cos, sp.cos, 3, None, False),
        ("tan", torch.tan, sp.tan, 4, None, False),
        ("tanh", torch.tanh, sp.tanh, 3, None, False),
        ("abs", torch.abs, sp.Abs, 3, None, False),
        ("arcsin", torch.asin, sp.asin, 4, (-1.0, 1.0), False),
        ("arctan", torch.atan, sp.atan, 4, None, False),
        ("gaussian", lambda z: torch.exp(-z * z), lambda z: sp.exp(-(z**2)), 3, None, False),
    ]
    return {
        name: SymbolicFunction(name, fn, sfn, complexity, domain, pole)
        for name, fn, sfn, complexity, domain, pole in entries
    }


_LIBRARY: dict[str, SymbolicFunction] = {}


def library() -> dict[str, SymbolicFunction]:
    """name -> SymbolicFunction: the built-in functions and any the user registered."""
    if not _LIBRARY:
        _LIBRARY.update(_builtin())
    return _LIBRARY


def get_function(name: str) -> SymbolicFunction:
    """The library function called name; ValueError listing the names otherwise."""
    functions = library()
    if not isinstance(name, str) or name not in functions:
        raise ValueError(f"unknown symbolic function {name!r}; allowed: {', '.join(functions)}")
    return functions[name]


def register_function(
    name: str,
    torch_fn: Callable[[Tensor], Tensor],
    sympy_fn: Callable,
    complexity: int,
    domain: tuple[float, float] | None = None,
) -> SymbolicFunction:
    """Add (or replace) a library function f: torch_fn and sympy_fn must agree."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(torch_fn) or not callable(sympy_fn):
        raise TypeError(f"torch_fn and sympy_fn of {name!r} must be callable")
    if isinstance(complexity, bool) or not isinstance(complexity, int) or complexity < 0:
        raise ValueError(f"complexity must be an integer >= 0, got {complexity!r}")
    if domain is not None and not (len(domain) == 2 and domain[0] < domain[1]):
        raise ValueError(f"domain must be None or an increasing pair (lo, hi), got {domain!r}")
    function = SymbolicFunction(name, torch_fn, sympy_fn, complexity, domain)
    library()[name] = function
    return function


def resolve(names) -> list[SymbolicFunction]:
    """The functions named (None: the whole library), each checked by get_function."""
    if names is None:
        return list(library().values())
    if isinstance(names, str):
        names = [names]
    return [get_function(name) for name in names]
