"""The library's source: no module binds a top-level name twice.

A second binding silently replaces the first for every function that reads the name at run time: a pattern for
acronyms once took the name of the capitalised-word pattern that "who" answers are checked with, and any word
passed as a name until it was found.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

QA = Path(__file__).resolve().parent.parent / "qa"


def top_level_names(source: str) -> Counter:
    """How many times each name is bound at a module's top level (definitions, classes, assignments)."""
    bound: Counter = Counter()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] += 1
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name))
    return bound


@pytest.mark.parametrize("module", sorted(QA.glob("*.py")), ids=lambda path: path.name)
def test_no_module_binds_a_name_twice(module: Path) -> None:
    twice = [name for name, count in top_level_names(module.read_text()).items() if count > 1]
    assert not twice, f"{module.name} binds {twice} more than once"


def test_a_second_binding_is_found() -> None:
    assert top_level_names('_NAME = 1\ndef f():\n    return _NAME\n_NAME = 2\n')["_NAME"] == 2
