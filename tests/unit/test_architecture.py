"""The layering, stated once and checked on the real import graph.

The graph is built by grimp (the library import-linter is built on) from the source, with every
import statement counted — those inside functions (the CLI's lazy imports) and under
``TYPE_CHECKING`` too. A rule holds for chains, not just direct imports: "store does not import
usecases" fails as well when store imports something that imports usecases.

    cli ─▶ runtime ─▶ api, web ─▶ usecases ─▶ store, payments, auth, senders ─▶ domain
    (telemetry and settings beside them; stripe_sandbox apart, started only by the CLI)
"""

from __future__ import annotations

import graphlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PRODUCT = "balance_manager"
SANDBOX = "stripe_sandbox"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PRODUCT, SANDBOX, include_external_packages=True, cache_dir=None)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _imports(graph: grimp.ImportGraph, importer: str, imported: str) -> set[tuple[str, str]]:
    """The direct imports from modules of package ``importer`` into package ``imported``."""
    return {
        (module, target)
        for module in graph.modules
        if _within(module, importer)
        for target in graph.find_modules_directly_imported_by(module)
        if _within(target, imported)
    }


# ---------------------------------------------------------------- the root


def test_the_package_root_holds_packages_and_few_loose_modules() -> None:
    """The folders say what kind of code lives in them; only the entry points and the
    settings stay loose."""
    root = Path(importlib.import_module(PRODUCT).__file__ or "").parent
    assert sorted(p.name for p in root.glob("*.py")) == [
        "__init__.py",
        "__main__.py",
        "settings.py",
    ]


# ---------------------------------------------------------------- (a) the API and the processes


def _loaded_by(statement: str) -> list[str]:
    """The ``balance_manager`` modules a fresh interpreter holds after ``statement``."""
    code = (
        f"import json, sys; {statement}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith('{PRODUCT}.'))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return list(json.loads(run.stdout))


def test_importing_the_api_does_not_import_the_worker_or_the_dispatcher() -> None:
    loaded = _loaded_by("import balance_manager.api.app")
    assert "balance_manager.api.app" in loaded
    assert "balance_manager.runtime.worker" not in loaded
    assert "balance_manager.runtime.dispatcher" not in loaded
    # The composition root, which wires both, does load them: the check above can fail.
    wired = _loaded_by("import balance_manager.runtime.compose")
    assert {"balance_manager.runtime.worker", "balance_manager.runtime.dispatcher"} <= set(wired)


@pytest.mark.parametrize("process", ["runtime.worker", "runtime.dispatcher", "runtime.compose"])
def test_no_import_in_the_api_reaches_the_processes(graph: grimp.ImportGraph, process: str) -> None:
    """Not even one inside a function: the API is given its background work."""
    chain = graph.find_shortest_chain(
        importer=f"{PRODUCT}.api.app", imported=f"{PRODUCT}.{process}"
    )
    assert chain is None, " → ".join(chain or ())


# ---------------------------------------------------------------- (b) the sandbox stands apart


def test_the_sandbox_imports_nothing_of_the_product(graph: grimp.ImportGraph) -> None:
    assert _imports(graph, SANDBOX, PRODUCT) == set()


def test_only_the_demo_and_the_sandbox_command_import_the_sandbox(
    graph: grimp.ImportGraph,
) -> None:
    importers = {module for module, _ in _imports(graph, PRODUCT, SANDBOX)}
    assert importers == {f"{PRODUCT}.cli.demo", f"{PRODUCT}.cli.sandbox"}


# ---------------------------------------------------------------- (c) no cycles


def _cycle(graph: grimp.ImportGraph, package: str) -> list[str] | None:
    """One import cycle among the modules of ``package`` (graphlib names it), or None."""
    modules = [m for m in graph.modules if _within(m, package)]
    edges = {
        m: {t for t in graph.find_modules_directly_imported_by(m) if _within(t, package)}
        for m in modules
    }
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


@pytest.mark.parametrize(
    "package",
    [
        PRODUCT,
        SANDBOX,
    ],
)
def test_no_import_cycle(graph: grimp.ImportGraph, package: str) -> None:
    cycle = _cycle(graph, package)
    assert cycle is None, " → ".join(cycle or ())


def test_the_cycle_check_finds_a_cycle() -> None:
    made = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        made.add_module(module)
    made.add_import(importer="p.a", imported="p.b")
    made.add_import(importer="p.b", imported="p.c")
    assert _cycle(made, "p") is None
    made.add_import(importer="p.c", imported="p.a")
    assert set(_cycle(made, "p") or ()) == {"p.a", "p.b", "p.c"}


# ---------------------------------------------------------------- (d) the layers

_ALL = ("api", "auth", "cli", "payments", "runtime", "senders", "store", "usecases", "web")
# Frameworks and I/O libraries, by their top-level package.
FRAMEWORKS = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "stripe",
    "httpx",
    "uvicorn",
    "structlog",
)
# What each layer must never reach, directly or through another module.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the pure rules: nothing of the service, no framework, no I/O library
    "domain": (*_ALL, "settings", "telemetry", *FRAMEWORKS),
    "store": ("usecases", "api", "runtime", "cli", "web"),
    "usecases": ("api", "runtime", "cli", "web"),
    "payments": ("usecases", "api", "runtime", "store", "cli"),
    "auth": ("usecases", "api", "runtime", "cli"),
    "senders": ("domain", "usecases", "store", "payments", "api", "web", "runtime", "cli"),
    "telemetry": (*_ALL, "domain", "settings"),
    "api": ("runtime", "cli"),
    "web": ("runtime", "cli"),
    "runtime": ("cli",),
}
RULES = [(layer, banned) for layer, bans in FORBIDDEN.items() for banned in bans]


def _package(name: str) -> str:
    return name if name in FRAMEWORKS else f"{PRODUCT}.{name}"


@pytest.mark.parametrize(("layer", "banned"), RULES, ids=[f"{a}-not-{b}" for a, b in RULES])
def test_layer_does_not_import(graph: grimp.ImportGraph, layer: str, banned: str) -> None:
    chains = graph.find_shortest_chains(
        importer=f"{PRODUCT}.{layer}", imported=_package(banned), as_packages=True
    )
    assert not chains, "\n".join(" → ".join(c) for c in sorted(chains))


def test_the_domain_imports_nothing_outside_itself(graph: grimp.ImportGraph) -> None:
    """Not even the root package: the rules do not know which service they are in."""
    outside = {
        (module, target)
        for module, target in _imports(graph, f"{PRODUCT}.domain", PRODUCT)
        if not _within(target, f"{PRODUCT}.domain")
    }
    assert outside == set()


def test_the_graph_counts_imports_inside_functions(graph: grimp.ImportGraph) -> None:
    """``keys`` imports ``auth.api_keys`` only inside its commands (so ``--help`` stays fast):
    the rules see such imports too."""
    assert graph.direct_import_exists(
        importer=f"{PRODUCT}.cli.keys", imported=f"{PRODUCT}.auth.api_keys"
    )


def test_a_rule_is_broken_by_an_indirect_import() -> None:
    made = grimp.ImportGraph()
    for module in ("p", "p.low", "p.mid", "p.high"):
        made.add_module(module)
    made.add_import(importer="p.low", imported="p.mid")
    assert not made.find_shortest_chains(importer="p.low", imported="p.high", as_packages=True)
    made.add_import(importer="p.mid", imported="p.high")
    assert made.find_shortest_chains(importer="p.low", imported="p.high", as_packages=True)
