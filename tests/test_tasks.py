"""Tests of the task library: formulas against independent references, domains, shapes,
the safe formula parser, user tasks from configs and the lister."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import mpmath  # a dependency of torch (through sympy); an independent reference
import numpy as np
import pytest
from scipy import special

from kanbench.tasks import (
    DEFAULT_TASK,
    GROUPS,
    Task,
    get_task,
    list_tasks,
    main,
    parse_formula,
    task_from_config,
)

pi = np.pi


def _mp(function):
    """Vectorise a scalar mpmath function to float64 arrays."""
    return np.vectorize(lambda *args: float(function(*args)))


def _legendre(m):
    """P_v^m(x) (Condon-Shortley phase) from the hypergeometric series:
    P_v^m(x) = (-1)^m (1 - x^2)^(m/2) (-1/2)^m (-v)_m (v+1)_m / m!
               * 2F1(m - v, v + 1 + m; 1 + m; (1 - x)/2)   (DLMF 14.3.1 differentiated m times)
    """

    def p(v, x):
        factor = (-1) ** m * (1 - x**2) ** (m / 2) * (-0.5) ** m
        factor = factor * special.poch(-v, m) * special.poch(v + 1, m) / special.factorial(m)
        return factor * special.hyp2f1(m - v, v + 1 + m, 1 + m, (1 - x) / 2)

    return p


def _carlson(phi, m):
    """Incomplete elliptic integrals from Carlson's symmetric forms (DLMF 19.25.5, 19.25.9):
    F = s R_F(c^2, 1 - m s^2, 1), E = F - (m/3) s^3 R_D(c^2, 1 - m s^2, 1)."""
    s, c2 = np.sin(phi), np.cos(phi) ** 2
    d = 1 - m * s**2
    f = s * special.elliprf(c2, d, 1)
    return f, f - m / 3 * s**3 * special.elliprd(c2, d, 1)


# Independent evaluations: one per library task, arguments in the task's variable order.
REFERENCES = {
    # toy, KAN paper §3.1
    "bessel_j0_20x": lambda x: special.jv(0, 20 * x),
    "exp_sin_y2": lambda x, y: np.exp(np.sin(pi * x) + y * y),
    "product_xy": lambda x, y: x * y,
    "exp_mean_sin2_100d": lambda *xs: np.exp(np.mean(np.sin(pi * np.stack(xs) / 2) ** 2, axis=0)),
    "exp_sin_4d": lambda a, b, c, d: np.exp(
        (np.sin(pi * (a * a + b * b)) + np.sin(pi * (c * c + d * d))) / 2
    ),
    # special, §3.2
    "ellipj_sn": _mp(lambda u, m: mpmath.ellipfun("sn", u, m=m)),
    "ellipkinc": lambda phi, m: _carlson(phi, m)[0],
    "ellipeinc": lambda phi, m: _carlson(phi, m)[1],
    "jv": _mp(mpmath.besselj),
    "yv": _mp(mpmath.bessely),
    "kv": _mp(mpmath.besselk),
    "iv": _mp(mpmath.besseli),
    "lpmv_m0": _legendre(0),
    "lpmv_m1": _legendre(1),
    "lpmv_m2": _legendre(2),
    # Re Y_n^m(theta, phi) in closed form, Condon-Shortley phase
    "sph_harm_m0_n1": lambda t, p: np.sqrt(3 / (4 * pi)) * np.cos(t),
    "sph_harm_m1_n1": lambda t, p: -np.sqrt(3 / (8 * pi)) * np.sin(t) * np.cos(p),
    "sph_harm_m0_n2": lambda t, p: np.sqrt(5 / (16 * pi)) * (3 * np.cos(t) ** 2 - 1),
    "sph_harm_m1_n2": lambda t, p: -np.sqrt(15 / (8 * pi)) * np.sin(t) * np.cos(t) * np.cos(p),
    "sph_harm_m2_n2": lambda t, p: np.sqrt(15 / (32 * pi)) * np.sin(t) ** 2 * np.cos(2 * p),
    # AI Feynman, §3.3
    "feynman_I_6_20": lambda s, t: np.exp(-0.5 * t**2 / s**2) / np.sqrt(2 * pi * s**2),
    "feynman_I_6_20b": lambda s, t, t1: (
        np.exp(-0.5 * (t - t1) ** 2 / s**2) / np.sqrt(2 * pi * s**2)
    ),
    "feynman_I_8_14": lambda x1, x2, y1, y2: np.hypot(x2 - x1, y2 - y1),
    "feynman_I_9_18": lambda m1, m2, g, x1, x2, y1, y2, z1, z2: (
        g * m1 * m2 / np.sum(np.square([x2 - x1, y2 - y1, z2 - z1]), axis=0)
    ),
    "feynman_I_10_7": lambda m0, v, c: m0 * c / np.sqrt((c - v) * (c + v)),
    "feynman_I_12_2": lambda q1, q2, eps, r: q1 * q2 / (4 * pi * eps * r**2),
    "feynman_I_12_11": lambda q, ef, b, v, th: q * ef + q * b * v * np.sin(th),
    "feynman_I_13_12": lambda m1, m2, r1, r2, g: g * m1 * m2 * (r1 - r2) / (r1 * r2),
    "feynman_I_15_3x": lambda x, u, c, t: (x - u * t) * c / np.sqrt((c - u) * (c + u)),
    "feynman_I_16_6": lambda c, v, u: (u + v) * c**2 / (c**2 + u * v),
    "feynman_I_18_4": lambda m1, m2, r1, r2: (m1 * r1 + m2 * r2) / (m1 + m2),
    "feynman_I_24_6": lambda m, w, w0, x: m * (w**2 + w0**2) * x**2 / 4,
    "feynman_I_26_2": lambda n, th2: np.arcsin(n * np.sin(th2)),
    "feynman_I_27_6": lambda d1, d2, n: d1 * d2 / (d2 + n * d1),
    "feynman_I_29_16": lambda x1, x2, t1, t2: np.abs(x1 * np.exp(1j * t1) - x2 * np.exp(1j * t2)),
    "feynman_I_30_3": lambda i0, th, n: i0 * (np.sin(n * th / 2) / np.sin(th / 2)) ** 2,
    "feynman_I_30_5": lambda lam, d, n: np.arcsin(lam / (n * d)),
    "feynman_I_34_14": lambda c, v, w0: w0 * np.sqrt((c + v) / (c - v)),
    "feynman_I_37_4": lambda i1, i2, d: i1 + i2 + 2 * np.sqrt(i1) * np.sqrt(i2) * np.cos(d),
    "feynman_I_40_1": lambda n0, m, x, t, g, kb: n0 * np.exp(-(m * g * x) / (kb * t)),
    "feynman_I_44_4": lambda n, kb, t, v1, v2: n * kb * t * (np.log(v2) - np.log(v1)),
    "feynman_I_50_26": lambda x1, w, t, a: x1 * np.cos(w * t) * (1 + a * np.cos(w * t)),
    "feynman_II_2_42": lambda k, t1, t2, a, d: k * a * (t2 - t1) / d,
    "feynman_II_6_15a": lambda eps, p, r, x, y, z: (
        3 * p * z * np.hypot(x, y) / (4 * pi * eps * r**5)
    ),
    "feynman_II_11_17": lambda n0, kb, t, th, p, ef: n0 + n0 * p * ef * np.cos(th) / (kb * t),
    "feynman_II_11_27": lambda n, a, eps, ef: 3 * n * a * eps * ef / (3 - n * a),
    "feynman_II_24_17": lambda w, c, d: np.sqrt((w / c) ** 2 - (pi / d) ** 2),
    "feynman_II_35_18": lambda n0, kb, t, mom, b: n0 / (2 * np.cosh(mom * b / (kb * t))),
    "feynman_II_36_38": lambda mom, h, kb, t, a, eps, c, m: (
        mom * (h + a * m / (eps * c**2)) / (kb * t)
    ),
    "feynman_II_38_3": lambda y, a, d, x: y * a * x / d,
    "feynman_III_4_33": lambda h, w, kb, t: (
        (h * w / (2 * pi)) / np.expm1(h * w / (2 * pi * kb * t))
    ),
    "feynman_III_10_19": lambda mom, bx, by, bz: mom * np.linalg.norm([bx, by, bz], axis=0),
    "feynman_III_17_37": lambda b, a, th: b + a * b * np.cos(th),
}

ALL_NAMES = [task.name for task in list_tasks()]


def _sample(task: Task, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(task.lows, task.highs, size=(n, task.input_dim))


def test_every_library_task_has_an_independent_reference():
    assert set(REFERENCES) == set(ALL_NAMES)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_task_agrees_with_independent_reference(name):
    task = get_task(name)
    x = _sample(task, 5, seed=1)
    expected = np.asarray(REFERENCES[name](*x.T), dtype=np.float64)
    got = task(x)
    assert got.shape == (5,) and got.dtype == np.float64
    # relative to each value, and to the function's scale where a value is near a zero
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("name", ALL_NAMES)
def test_task_is_finite_and_varies_on_its_domain(name):
    task = get_task(name)
    y = task(_sample(task, 2000, seed=2))
    assert np.isfinite(y).all()
    assert np.std(y) > 0
    if task.group in ("toy", "special"):
        assert np.abs(y).max() <= 30  # the domains keep the functions of moderate size


def test_package_docstring_lists_every_task_name():
    import kanbench.tasks

    assert all(name in kanbench.tasks.__doc__ for name in ALL_NAMES)


def test_group_counts():
    assert len(list_tasks("toy")) == 5
    assert len(list_tasks("special")) == 15
    assert len(list_tasks("feynman")) >= 20
    assert len(list_tasks()) == sum(len(list_tasks(g)) for g in GROUPS)
    assert all(t.input_dim >= 2 for t in list_tasks("feynman"))
    assert all(t.input_dim == 2 for t in list_tasks("special"))


def test_list_tasks_rejects_unknown_group():
    with pytest.raises(ValueError, match="unknown task group 'toys'; valid groups: toy"):
        list_tasks("toys")


def test_toy_tasks_have_the_papers_kan_shapes_on_the_unit_box():
    shapes = {task.name: task.kan_shape for task in list_tasks("toy")}
    assert shapes == {
        "bessel_j0_20x": (1, 1),
        "exp_sin_y2": (2, 1, 1),
        "product_xy": (2, 2, 1),
        "exp_mean_sin2_100d": (100, 1, 1),
        "exp_sin_4d": (4, 2, 1, 1),
    }
    for task in list_tasks("toy"):
        assert set(task.ranges) == {(-1.0, 1.0)}


def test_default_task_is_exp_sin_plus_y_squared():
    task = get_task(DEFAULT_TASK)
    x = np.array([[0.5, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(task(x), [np.e, np.e], rtol=1e-15)


@pytest.mark.parametrize("task", list_tasks(), ids=ALL_NAMES)
def test_metadata_is_consistent(task):
    assert task.input_dim == len(task.variables) == len(task.ranges)
    assert all(lo < hi for lo, hi in task.ranges)
    if task.kan_shape is not None:
        assert task.kan_shape[0] == task.input_dim and task.kan_shape[-1] == 1
    assert 1 <= task.intrinsic_dim <= task.input_dim
    assert task.reference and task.description
    assert task.group in GROUPS


def test_elementary_flag():
    assert get_task("exp_sin_y2").elementary
    assert all(t.elementary for t in list_tasks("feynman"))
    assert not any(t.elementary for t in list_tasks("special"))
    assert not get_task("bessel_j0_20x").elementary


def test_get_task_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        get_task("foo")
    message = str(info.value)
    assert message.startswith("unknown task 'foo'; valid names: ")
    assert all(name in message for name in ALL_NAMES)


def test_task_call_validates_shape():
    task = get_task("exp_sin_y2")
    for bad in (np.zeros(2), np.zeros((3, 3)), np.zeros((1, 2, 2))):
        with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
            task(bad)


def test_tasks_pickle_and_compare_by_value():
    task = get_task("exp_mean_sin2_100d")
    copy = pickle.loads(pickle.dumps(task))
    assert copy == task
    x = _sample(task, 3)
    np.testing.assert_array_equal(copy(x), task(x))


# --- the formula parser -------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "problem"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "attribute access"),
        ("x.real", "attribute access"),
        ("x[0]", "subscripts"),
        ("(lambda: x)()", "lambda not allowed; only whitelisted functions"),
        ("lambda: x", "lambda"),
        ("[t for t in x]", "comprehensions"),
        ("foo(x)", "unknown function 'foo'"),
        ("x + z", "unknown name 'z'"),
        ("sin(x", "syntax error"),
        ("", "syntax error"),
        ("sin(x, y)", "takes 1 argument, got 2"),
        ("sin(x=y)", "keyword arguments"),
        ("sin(*x)", "starred"),
        ("x ^ 2", "use \\*\\* for powers"),
        ("x if y else 1", "conditional"),
        ("x < y", "comparisons"),
        ("'text'", "not a real number"),
        ("True + x", "not a real number"),
        ("1j * x", "not a real number"),
        ("sin + x", "without calling it"),
        ("x // y", "operator FloorDiv is not allowed"),
        ("1e999 * x", "constant inf is outside \\+-1e\\+12"),
        ("1" + "0" * 400 + " * x", "constant 100000000000\\.\\.\\. is outside"),
        ("2e12 * x", "constant 2e\\+12 is outside"),
    ],
)
def test_parser_rejects_unsafe_or_invalid_formulas(formula, problem):
    with pytest.raises(ValueError, match=problem) as info:
        parse_formula(formula, ["x", "y"])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"formula {formula!r}: ")


def test_parser_never_runs_code(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ValueError):
        parse_formula(f"__import__('pathlib').Path({str(marker)!r}).touch()", ["x"])
    assert not marker.exists()


@pytest.mark.parametrize("variables", [["x", "x"], ["sin"], ["pi"], ["2x"], ["lambda"]])
def test_parser_rejects_bad_variable_names(variables):
    with pytest.raises(ValueError, match="variable"):
        parse_formula("1", variables)


def test_parser_evaluates_vectorised_and_is_cached():
    formula = parse_formula("-x**2 + 3/y - e + +pi", ["x", "y"])
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_allclose(formula.evaluate(x), -(x[:, 0] ** 2) + 3 / x[:, 1] - np.e + np.pi)
    assert formula.elementary and formula.functions == frozenset()
    assert parse_formula("-x**2 + 3/y - e + +pi", ("x", "y")) is formula
    # a constant formula still gives one value per row
    np.testing.assert_array_equal(parse_formula("2", ["x"]).evaluate(np.zeros((3, 1))), [2, 2, 2])


# --- user tasks from configs --------------------------------------------------------


def test_library_task_from_config():
    assert task_from_config({"name": "jv"}) is get_task("jv")


def test_user_task_from_config_evaluates_correctly():
    task = task_from_config(
        {
            "name": "my_wave",
            "formula": "x*exp(-y) + sin(2*z)",
            "variables": {"x": [0, 1], "y": [-2, 2], "z": [0, "2*pi"]},
            "kan_shape": [3, 2, 1],
            "description": "a user task",
        }
    )
    assert task.group == "user" and task.variables == ("x", "y", "z")
    assert task.ranges[2] == (0.0, 2 * pi)
    assert task.kan_shape == (3, 2, 1) and task.intrinsic_dim == 3 and task.elementary
    x = _sample(task, 10)
    expected = x[:, 0] * np.exp(-x[:, 1]) + np.sin(2 * x[:, 2])
    np.testing.assert_allclose(task(x), expected, rtol=1e-14)


def test_user_task_with_repeat_generates_variables():
    task = task_from_config(
        {
            "name": "sum_of_squares",
            "formula": "sqrt({sum})",
            "repeat": {"count": 5, "variable": "u{i}", "range": [1, 2], "term": "u{i}**2"},
        }
    )
    assert task.variables == ("u1", "u2", "u3", "u4", "u5")
    x = _sample(task, 4)
    np.testing.assert_allclose(task(x), np.linalg.norm(x, axis=1), rtol=1e-14)


def test_task_from_hydra_config():
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create(
        {"name": "hydra_task", "formula": "x + y", "variables": {"x": [0, 1], "y": [0, "pi"]}}
    )
    task = task_from_config(cfg)
    assert task.ranges == ((0.0, 1.0), (0.0, pi))
    assert task_from_config(omegaconf.OmegaConf.create({"name": "jv"})) is get_task("jv")


def test_a_user_tasks_definition_rebuilds_it_and_keeps_its_order_through_sorted_json():
    task = task_from_config(
        {
            "name": "sum_then_decay",
            "formula": "exp(-z) * ({sum})",
            "variables": {"z": [0, "pi"]},
            "repeat": {"count": 3, "variable": "u{i}", "range": [-1, 1], "term": "u{i}**2"},
            "kan_shape": [4, 1, 1],
        }
    )
    definition = task.definition()
    assert definition["variables"][0] == {"z": [0.0, pi]}  # bounds as numbers, in order
    # a JSON dump with sorted keys (as a run id is hashed) keeps the variables' order
    again = json.loads(json.dumps(definition, sort_keys=True))
    assert task_from_config(again) == task
    assert task_from_config(again).variables == ("z", "u1", "u2", "u3")
    # the mapping and list forms of the variables are the same task
    listed = _user(variables=[{"x": [0, 1]}, {"y": [0, 1]}])
    assert task_from_config(listed) == task_from_config(_user())


def _user(**changes):
    cfg = {"name": "mine", "formula": "x*y", "variables": {"x": [0, 1], "y": [0, 1]}}
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize(
    ("cfg", "problem"),
    [
        (_user(formula="x*"), "syntax error"),
        (_user(formula="x*w"), "unknown name 'w'"),
        (_user(variables={"x": [1, 1], "y": [0, 1]}), "lo < hi"),
        (_user(variables={"x": [2, 1], "y": [0, 1]}), "lo < hi"),
        (_user(variables={"x": [0], "y": [0, 1]}), "pair"),
        (_user(variables=[{"x": [0, 1]}, {"x": [0, 2]}]), "variable 'x' is declared twice"),
        (_user(variables=[["x", 0, 1]]), "variables must be a mapping name -> \\[lo, hi\\]"),
        (_user(variables="x"), "or a list of such one-entry mappings"),
        (_user(variables={"x": [0, "inf"], "y": [0, 1]}), "unknown name 'inf'"),
        (_user(kan_shape=[3, 1]), "kan_shape must start with the number of inputs \\(2\\)"),
        (_user(kan_shape=[2, 2]), "end with 1"),
        (_user(kan_shape=[2, 0, 1]), "positive integers"),
        (_user(intrinsic_dim=3), "intrinsic_dim must be an integer in \\[1, 2\\]"),
        (_user(formla="x"), "unknown keys \\['formla'\\]"),
        (_user(name="exp_sin_y2"), "taken by a library task"),
        (_user(name="bad name"), "task name 'bad name' is not allowed"),
        ({"name": "mine", "formula": "x"}, "missing key 'variables'"),
        ({"name": "jv", "kan_shape": [2, 1]}, "chosen by 'name' alone"),
        ({"name": "nope"}, "unknown task 'nope'"),
        ({"formula": "x"}, "needs a 'name'"),
    ],
)
def test_invalid_user_tasks_raise_one_line(cfg, problem):
    with pytest.raises(ValueError, match=problem) as info:
        task_from_config(cfg)
    assert "\n" not in str(info.value)


# --- the lister ---------------------------------------------------------------------


def test_lister_prints_every_task(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ALL_NAMES)
    assert "[2,1,1]" in out and "[-1,1]^100" in out


def test_lister_filters_by_group(capsys):
    assert main(["--group", "special"]) == 0
    out = capsys.readouterr().out
    assert all(task.name in out for task in list_tasks("special"))
    assert not any(task.name in out for task in list_tasks("toy"))


def test_lister_describes_named_tasks_and_rejects_unknown(capsys):
    assert main(["exp_sin_y2"]) == 0
    out = capsys.readouterr().out
    assert "exp(sin(pi*x) + y**2)" in out and "KAN shape:     [2, 1, 1]" in out
    with pytest.raises(SystemExit) as info:
        main(["nope"])
    assert info.value.code == 2
    assert "unknown task 'nope'" in capsys.readouterr().err


def test_python_dash_m_runs_the_lister():
    result = subprocess.run(
        [sys.executable, "-m", "kanbench.tasks", "--group", "toy"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert DEFAULT_TASK in result.stdout


def test_a_misspelt_formula_key_is_named_with_its_fix():
    with pytest.raises(ValueError, match=r"did you mean 'formula' for 'formla'\?"):
        task_from_config({"name": "typo", "formla": "x", "variables": {"x": [-1, 1]}})
