"""The sandbox is a product of its own: loading it loads nothing of Balance Manager (the import
graph's rules are in tests/unit/test_architecture.py)."""

from __future__ import annotations

import subprocess
import sys


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
