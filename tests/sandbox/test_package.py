"""The sandbox is a product of its own: nothing in it imports Balance Manager."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stripe_sandbox

PACKAGE = Path(stripe_sandbox.__file__).parent


def _absolute_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_sandbox_names_balance_manager_in_an_import() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20  # the whole package was read, not an empty folder
    offending = {
        str(path.relative_to(PACKAGE)): sorted(
            n for n in _absolute_imports(path) if n.split(".")[0] == "balance_manager"
        )
        for path in modules
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_importing_every_module_of_the_sandbox_loads_nothing_of_balance_manager() -> None:
    script = (
        "import importlib, pkgutil, sys, stripe_sandbox\n"
        "for m in pkgutil.walk_packages(stripe_sandbox.__path__, 'stripe_sandbox.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(len([m for m in sys.modules if m.startswith('stripe_sandbox.')]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'balance_manager'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert int(out[0]) > 20
    assert out[1] == "[]"
