"""The house rules that keep the code readable, checked on the source tree: modules stay
under 500 lines, no module imports another's private name, and the README puts its set-up
commands first."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("conf", "tasks")  # where kanbench/conf and kanbench/tasks are links to the top level
SOURCES = sorted(
    p
    for p in (ROOT / "kanbench").rglob("*.py")
    if p.relative_to(ROOT / "kanbench").parts[0] not in LINKED
) + sorted((ROOT / "tasks").rglob("*.py"))
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "tasks":
        parts = ["kanbench", "tasks", *parts[1:]]
    return ".".join(p for p in parts if p != "__init__")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_under_the_line_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_is_imported_from_another_module(path):
    tree = ast.parse(path.read_text())
    here = _module_name(path)
    imported_modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kanbench"):
            for alias in node.names:
                assert not alias.name.startswith("_") or node.module == here, (
                    f"{here} imports {node.module}.{alias.name}"
                )
                imported_modules[alias.asname or alias.name] = node.module
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kanbench"):
                    imported_modules[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            raise AssertionError(f"{here} uses {node.value.id}.{node.attr}")


def test_readme_sets_up_within_its_first_40_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    first = next(i for i, line in enumerate(lines, 1) if "pip install" in line)
    assert first <= 40
    head = "\n".join(lines[:40])
    assert "kanbench-train" in head and "pytest" in head
