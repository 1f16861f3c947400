"""Safe parsing and vectorised evaluation of task formulas.

A task's target function is written as a Python-style expression over named variables,
for example ``exp(sin(pi*x) + y**2)``. This module turns such a string into a `Formula`
that evaluates the expression on numpy float64 arrays, without ``eval`` or ``exec``: the
text is parsed with `ast` in 'eval' mode and every node is checked against a whitelist,
then compiled into a tree of small Python closures.

Allowed:

- numeric constants (int or float; no bool, complex or strings),
- the declared variables and the constants ``pi`` and ``e``,
- ``+ - * / **`` and unary ``-`` / ``+``,
- calls of whitelisted functions by bare name with positional arguments only:
  elementary functions (`ELEMENTARY_FUNCTIONS`) and scipy.special functions
  (`SPECIAL_FUNCTIONS`).

Anything else (attribute access, subscripts, lambdas, comprehensions, keyword arguments,
comparisons, unknown names or functions, wrong argument counts, syntax errors) raises a
ValueError with one line naming the formula and the problem.

A formula is *elementary* when it calls only elementary functions; later symbolic
recovery works on those.
"""

from __future__ import annotations

import ast
import functools
import keyword
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "CONSTANTS",
    "ELEMENTARY_FUNCTIONS",
    "SPECIAL_FUNCTIONS",
    "Formula",
    "parse_formula",
]

Array = np.ndarray
Evaluator = Callable[[Mapping[str, Array]], Array]


# orders and degrees of the special functions whose cost grows with them (scipy's
# Legendre and spherical-harmonic recurrences: lpmv of degree 1e7 takes minutes)
MAX_ORDER = 1000
# numeric literals of a formula: finite float64 values within +-MAX_LITERAL
MAX_LITERAL = 1e12


def _bounded_order(value, argument: str, function: str) -> Array:
    """value as a float array, or ValueError if some |value| exceeds MAX_ORDER."""
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.abs(value) <= MAX_ORDER):
        worst = value.flat[int(np.argmax(np.nan_to_num(np.abs(value), nan=np.inf)))]
        raise ValueError(
            f"{function}: argument {argument} must lie within +-{MAX_ORDER}, got {worst:g}"
        )
    return value


def _as_int_order(value, argument: str, function: str) -> Array:
    """Integer-valued arrays for orders and degrees that scipy only accepts as ints."""
    value = _bounded_order(value, argument, function)
    rounded = np.rint(value)
    if not np.array_equal(value, rounded):
        raise ValueError(f"{function}: argument {argument} must be integer-valued, got {value}")
    return rounded.astype(np.int64)


def lpmv(m, v, x):
    """Associated Legendre function P_v^m(x) (scipy.special.lpmv), |m|, |v| <= MAX_ORDER."""
    return special.lpmv(_bounded_order(m, "m", "lpmv"), _bounded_order(v, "v", "lpmv"), x)


def ellipj_sn(u, m):
    """Jacobi elliptic function sn(u | m): the first output of scipy.special.ellipj."""
    return special.ellipj(u, m)[0]


def ellipj_cn(u, m):
    """Jacobi elliptic function cn(u | m): the second output of scipy.special.ellipj."""
    return special.ellipj(u, m)[1]


def ellipj_dn(u, m):
    """Jacobi elliptic function dn(u | m): the third output of scipy.special.ellipj."""
    return special.ellipj(u, m)[2]


def sph_harm_y_re(n, m, theta, phi):
    """Real part of the spherical harmonic Y_n^m(theta, phi), theta polar, phi azimuthal.

    Y_n^m = sqrt((2n+1)/(4 pi) (n-m)!/(n+m)!) P_n^m(cos theta) exp(i m phi), with the
    Condon-Shortley phase in P_n^m (scipy.special.sph_harm_y). n and m must be integers.
    """
    n = _as_int_order(n, "n", "sph_harm_y_re")
    m = _as_int_order(m, "m", "sph_harm_y_re")
    return np.real(special.sph_harm_y(n, m, theta, phi))


def sph_harm_y_im(n, m, theta, phi):
    """Imaginary part of Y_n^m(theta, phi); conventions as in `sph_harm_y_re`."""
    n = _as_int_order(n, "n", "sph_harm_y_im")
    m = _as_int_order(m, "m", "sph_harm_y_im")
    return np.imag(special.sph_harm_y(n, m, theta, phi))


#: name -> (function, number of positional arguments)
ELEMENTARY_FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "exp": (np.exp, 1),
    "log": (np.log, 1),
    "sqrt": (np.sqrt, 1),
    "sin": (np.sin, 1),
    "cos": (np.cos, 1),
    "tan": (np.tan, 1),
    "arcsin": (np.arcsin, 1),
    "arccos": (np.arccos, 1),
    "arctan": (np.arctan, 1),
    "sinh": (np.sinh, 1),
    "cosh": (np.cosh, 1),
    "tanh": (np.tanh, 1),
    "abs": (np.abs, 1),
}

#: name -> (function, number of positional arguments); argument order as in scipy.special
SPECIAL_FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "j0": (special.j0, 1),
    "jv": (special.jv, 2),  # jv(v, x): Bessel J of real order v
    "yv": (special.yv, 2),  # yv(v, x): Bessel Y
    "iv": (special.iv, 2),  # iv(v, x): modified Bessel I
    "kv": (special.kv, 2),  # kv(v, x): modified Bessel K
    "ellipk": (special.ellipk, 1),  # K(m)
    "ellipe": (special.ellipe, 1),  # E(m)
    "ellipkinc": (special.ellipkinc, 2),  # F(phi | m)
    "ellipeinc": (special.ellipeinc, 2),  # E(phi | m)
    "ellipj_sn": (ellipj_sn, 2),
    "ellipj_cn": (ellipj_cn, 2),
    "ellipj_dn": (ellipj_dn, 2),
    "lpmv": (lpmv, 3),  # lpmv(m, v, x): associated Legendre P_v^m(x)
    "sph_harm_y_re": (sph_harm_y_re, 4),  # (n, m, theta, phi)
    "sph_harm_y_im": (sph_harm_y_im, 4),
}

_FUNCTIONS = {**ELEMENTARY_FUNCTIONS, **SPECIAL_FUNCTIONS}

CONSTANTS: dict[str, float] = {"pi": float(np.pi), "e": float(np.e)}

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}

# names used in error messages for nodes that are not allowed
_FORBIDDEN = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
    ast.IfExp: "conditional expressions",
    ast.NamedExpr: "assignment expressions",
    ast.Starred: "starred arguments",
    ast.JoinedStr: "strings",
}


class _Error(Exception):
    """A problem found while compiling; turned into a one-line ValueError."""


@dataclass(frozen=True, eq=False)
class Formula:
    """A validated formula, compiled once and evaluated many times.

    Attributes:
        text: the formula as written.
        variables: the declared variable names, in input-column order.
        functions: names of the whitelisted functions the formula calls.
        elementary: True when every called function is elementary.
    """

    text: str
    variables: tuple[str, ...]
    functions: frozenset[str]
    elementary: bool
    _evaluate: Evaluator

    def __call__(self, columns: Mapping[str, Array]) -> Array:
        """Evaluate on a mapping variable name -> array (arrays broadcast together)."""
        missing = [name for name in self.variables if name not in columns]
        if missing:
            raise ValueError(f"formula {self.text!r}: no values for variables {missing}")
        return self._evaluate(columns)

    def evaluate(self, x: Array) -> Array:
        """Evaluate on an array of shape (n, len(variables)); returns shape (n,), float64."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.variables):
            raise ValueError(
                f"formula {self.text!r}: x must have shape (n, {len(self.variables)}), "
                f"got {x.shape}"
            )
        columns = {name: x[:, i] for i, name in enumerate(self.variables)}
        y = np.asarray(self._evaluate(columns))
        if np.iscomplexobj(y):
            raise ValueError(f"formula {self.text!r}: evaluates to complex numbers")
        return np.broadcast_to(y.astype(np.float64), (x.shape[0],)).copy()


def parse_formula(text: str, variables: Sequence[str]) -> Formula:
    """Validate and compile `text` over the declared `variables` (parsed once, cached).

    Raises:
        ValueError: one line naming the formula and the problem.
    """
    if not isinstance(text, str):
        raise ValueError(f"formula must be a string, got {type(text).__name__} {text!r}")
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise ValueError(f"formula {text!r}: variables must be a sequence of names")
    return _parse(text, tuple(variables))


@functools.cache
def _parse(text: str, variables: tuple[str, ...]) -> Formula:
    _check_variable_names(text, variables)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(
            f"formula {text!r}: syntax error at column {exc.offset} ({exc.msg})"
        ) from None
    except (RecursionError, MemoryError):
        raise ValueError(f"formula {text!r}: too deeply nested to parse") from None

    used: set[str] = set()
    try:
        evaluate = _compile(tree.body, frozenset(variables), used)
    except _Error as exc:
        raise ValueError(f"formula {text!r}: {exc}") from None
    except RecursionError:
        raise ValueError(f"formula {text!r}: too deeply nested to compile") from None
    return Formula(
        text=text,
        variables=variables,
        functions=frozenset(used),
        elementary=used.issubset(ELEMENTARY_FUNCTIONS),
        _evaluate=evaluate,
    )


def _check_variable_names(text: str, variables: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for name in variables:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(
                f"formula {text!r}: variable name {name!r} is not a valid identifier "
                "(letters, digits and underscores, not starting with a digit)"
            )
        if name in _FUNCTIONS or name in CONSTANTS:
            raise ValueError(
                f"formula {text!r}: variable name {name!r} is reserved for a function or constant"
            )
        if name in seen:
            raise ValueError(f"formula {text!r}: variable {name!r} is declared twice")
        seen.add(name)


def _compile(node: ast.AST, variables: frozenset[str], used: set[str]) -> Evaluator:
    """Turn one whitelisted AST node into a closure columns -> array; record calls."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Error(f"constant {value!r} is not a real number")
        try:
            constant = np.float64(value)
        except OverflowError:
            constant = np.float64(np.inf)
        if not abs(constant) <= MAX_LITERAL:
            shown = f"{value:.4g}" if isinstance(value, float) else f"{str(value)[:12]}..."
            raise _Error(f"constant {shown} is outside +-{MAX_LITERAL:g}")
        return lambda columns: constant

    if isinstance(node, ast.Name):
        name = node.id
        if name in variables:
            return lambda columns: columns[name]
        if name in CONSTANTS:
            constant = np.float64(CONSTANTS[name])
            return lambda columns: constant
        if name in _FUNCTIONS:
            raise _Error(f"function {name!r} is used without calling it")
        raise _Error(
            f"unknown name {name!r}; declared variables: {', '.join(sorted(variables))}; "
            f"constants: {', '.join(CONSTANTS)}"
        )

    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            hint = " (use ** for powers)" if isinstance(node.op, ast.BitXor) else ""
            raise _Error(
                f"operator {type(node.op).__name__} is not allowed{hint}; "
                "allowed: + - * / ** and unary -"
            )
        left = _compile(node.left, variables, used)
        right = _compile(node.right, variables, used)
        return lambda columns: op(left(columns), right(columns))

    if isinstance(node, ast.UnaryOp):
        op = _UNARY.get(type(node.op))
        if op is None:
            raise _Error(f"unary operator {type(node.op).__name__} is not allowed; allowed: - +")
        operand = _compile(node.operand, variables, used)
        return lambda columns: op(operand(columns))

    if isinstance(node, ast.Call):
        return _compile_call(node, variables, used)

    what = _FORBIDDEN.get(type(node), f"{type(node).__name__} expressions")
    raise _Error(f"{what} not allowed")


def _compile_call(node: ast.Call, variables: frozenset[str], used: set[str]) -> Evaluator:
    if not isinstance(node.func, ast.Name):
        what = _FORBIDDEN.get(type(node.func))
        prefix = f"{what} not allowed; " if what else ""
        raise _Error(f"{prefix}only whitelisted functions called by bare name are allowed")
    name = node.func.id
    if name not in _FUNCTIONS:
        raise _Error(f"unknown function {name!r}; allowed: {', '.join(sorted(_FUNCTIONS))}")
    if node.keywords:
        raise _Error(f"keyword arguments are not allowed (in call of {name!r})")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _Error(f"starred arguments are not allowed (in call of {name!r})")
    function, n_args = _FUNCTIONS[name]
    if len(node.args) != n_args:
        plural = "argument" if n_args == 1 else "arguments"
        raise _Error(f"function {name!r} takes {n_args} {plural}, got {len(node.args)}")
    arguments = [_compile(arg, variables, used) for arg in node.args]
    used.add(name)
    return lambda columns: function(*(argument(columns) for argument in arguments))


#: sympy names of the elementary functions (sympy imported only when asked for)
_SYMPY_NAMES = {
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "abs": "Abs",
}


def to_sympy(formula: Formula, symbols: Mapping[str, object] | None = None):
    """The formula as an exact sympy expression (decimal constants become rationals).

    symbols maps variable names to sympy symbols (default: real symbols of those names).
    Only elementary formulas convert; others raise ValueError naming the function.
    """
    import sympy

    if not formula.elementary:
        special = sorted(formula.functions - set(ELEMENTARY_FUNCTIONS))
        raise ValueError(f"formula {formula.text!r}: no sympy form for {special}")
    if symbols is None:
        symbols = {name: sympy.Symbol(name, real=True) for name in formula.variables}
    constants = {"pi": sympy.pi, "e": sympy.E}
    operators = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.Pow: operator.pow,
    }

    def convert(node: ast.AST):
        # the formula was validated when it was parsed: only whitelisted nodes remain
        if isinstance(node, ast.Constant):
            return sympy.Rational(repr(node.value))
        if isinstance(node, ast.Name):
            return symbols[node.id] if node.id in symbols else constants[node.id]
        if isinstance(node, ast.BinOp):
            return operators[type(node.op)](convert(node.left), convert(node.right))
        if isinstance(node, ast.UnaryOp):
            operand = convert(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        function = getattr(sympy, _SYMPY_NAMES[node.func.id])
        return function(*(convert(arg) for arg in node.args))

    return convert(ast.parse(formula.text.strip(), mode="eval").body)
