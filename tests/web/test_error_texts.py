"""Every error the pages can meet is worded in the page's language from its code and params.

The codes are found, not listed by hand: the routes the pages call are read from ``api.js``
(``endpoints``) and matched to the app's routes; each route's function names the modules it
calls (``cards.make_default`` → ``usecases.cards``), and everything those import (grimp) is
read for the codes it raises: ``code="…"`` and ``code = "…"`` (the ``ServiceError`` classes),
``ApiError(status, "…")``, ``error_response(status, "…")``, ``MoneyError("…")``, plus the
HTTP layer's own (``api.errors``) and those of ``api.js`` itself. A code given as an
expression must be resolved in :data:`COMPUTED_CODES`, so a new one cannot slip by. The set
is a superset of what a page can meet (a module's every code counts), which is the safe side.

The browser half shows the Chinese page saying a server error in Chinese, with its amounts
formatted from ``params``.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import grimp
import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import expect

from balance_manager.api import errors as api_errors
from balance_manager.api import routes as route_modules
from balance_manager.domain import charge_limits, policy
from tests.web.conftest import WebStack

JS = Path(__file__).parents[2] / "src/balance_manager/web/static/js"
DICTIONARIES = {"en": JS / "i18n/en.js", "zh-CN": JS / "i18n/zh-CN.js"}
PACKAGE = "balance_manager"


def _members(*enums: Iterable[object]) -> Callable[[], set[str]]:
    return lambda: {str(getattr(m, "value", m)) for e in enums for m in e}


def _money_rules() -> set[str]:
    """The rules ``MoneyError`` is raised with (``domain.amounts`` passes them on as codes)."""
    return _codes_in(f"{PACKAGE}.domain.money")


# (module, the expression given as the code) → the codes it can be.
COMPUTED_CODES: dict[tuple[str, str], Callable[[], set[str]]] = {
    # The handlers pass on the code of the exception they answer (found where it is raised).
    (f"{PACKAGE}.api.errors", "exc.code"): set,
    (f"{PACKAGE}.api.presenters", "item.error.code"): set,
    (f"{PACKAGE}.api.errors", "code"): lambda: (
        set(api_errors.VALIDATION_CODES.values()) | {"invalid_input"}
    ),
    (f"{PACKAGE}.api.errors", "HTTP_CODES.get(exc.status_code, 'http_error')"): lambda: (
        set(api_errors.HTTP_CODES.values()) | {"http_error"}
    ),
    (f"{PACKAGE}.domain.amounts", "exc.rule"): _money_rules,
    (f"{PACKAGE}.usecases.recharges", "reason.value"): _members(policy.BlockedReason),
    (f"{PACKAGE}.usecases.recharges", "violation.value"): _members(charge_limits.Violation),
    (f"{PACKAGE}.usecases.accounts", "charge_limits.Violation.BELOW_MINIMUM.value"): _members(
        [charge_limits.Violation.BELOW_MINIMUM]
    ),
    (f"{PACKAGE}.usecases.accounts", "charge_limits.Violation.ABOVE_MAXIMUM.value"): _members(
        [charge_limits.Violation.ABOVE_MAXIMUM]
    ),
}
# Modules that shape answers: they import the use cases for their result types only, so
# their own codes count but not those of what they import.
PRESENTATION = {f"{PACKAGE}.api.presenters", f"{PACKAGE}.api.schemas"}
# Raised with a code as their first argument (after the status for the HTTP ones).
_CODE_FIRST = {"MoneyError": 0, "ApiError": 1, "error_response": 1}


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).read_text("utf-8")


def _codes_in(module: str, source: str | None = None) -> set[str]:
    """The codes ``module`` raises (in ``source``, one of its functions, if given)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source or _source(module))):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and [ast.unparse(t) for t in statement.targets] == ["code"]
                    and isinstance(statement.value, ast.Constant)
                ):
                    found.add(statement.value.value)
        if not isinstance(node, ast.Call):
            continue
        given = [k.value for k in node.keywords if k.arg == "code"]
        position = _CODE_FIRST.get(ast.unparse(node.func).rsplit(".", 1)[-1])
        if position is not None and len(node.args) > position:
            given.append(node.args[position])
        for code in given:
            if isinstance(code, ast.Constant):
                found.add(code.value)
            else:
                resolve = COMPUTED_CODES.get((module, ast.unparse(code)))
                assert resolve is not None, f"{module}: code {ast.unparse(code)} is not resolved"
                found |= resolve()
    return found


def _page_calls() -> list[tuple[str, str]]:
    """(method, path) of every call in ``api.js``'s ``endpoints``, placeholders filled in."""
    source = (JS / "api.js").read_text("utf-8")
    calls = re.findall(r'api\(`([^`]+)`(?:,\s*\{\s*method:\s*"(\w+)")?', source)
    assert len(calls) >= 15, calls
    return [
        (method or "GET", "/" + re.sub(r"\$\{[^}]+\}", "x", path).split("?")[0])
        for path, method in calls
    ]


def _route_source(route: APIRoute) -> tuple[str, str]:
    function = inspect.unwrap(route.endpoint)
    return function.__module__, inspect.getsource(function)


def _route_modules(route: APIRoute) -> set[str]:
    """The project modules a route's function calls through (``cards.make_default``)."""
    module, source = _route_source(route)
    names = {
        ast.unparse(node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }
    scope = importlib.import_module(module).__dict__
    return {
        scope[name].__name__
        for name in names
        if inspect.ismodule(scope.get(name)) and scope[name].__name__.startswith(PACKAGE)
    }


def _api_routes() -> list[APIRoute]:
    """Every route of every router in ``api.routes`` (what the app includes)."""
    found = []
    for info in pkgutil.iter_modules(route_modules.__path__):
        module = importlib.import_module(f"{route_modules.__name__}.{info.name}")
        found += [r for r in module.router.routes if isinstance(r, APIRoute)]
    return found


def page_error_codes() -> set[str]:
    routes = _api_routes()
    # What every route goes through: authentication, the body's checks, the error handlers.
    starts = {f"{PACKAGE}.api.errors", f"{PACKAGE}.api.auth", f"{PACKAGE}.api.jsonbody"}
    codes: set[str] = set()
    for method, path in _page_calls():
        matching = [r for r in routes if method in r.methods and r.path_regex.match(path)]
        assert len(matching) == 1, (method, path, [r.path for r in matching])
        starts |= _route_modules(matching[0])
        codes |= _codes_in(*_route_source(matching[0]))
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    modules = set(starts)
    for module in starts - PRESENTATION:
        modules |= graph.find_upstream_modules(module)
    codes |= set().union(*(_codes_in(m) for m in modules if m.startswith(PACKAGE)))
    # api.js's own: no answer at all, a 401 (the gate page takes over), an unknown status.
    codes |= {"network", "unauthenticated"}
    return codes


def dictionary(name: str) -> dict[str, str]:
    """A page dictionary's entries (``"key": "text",`` one a line)."""
    text = DICTIONARIES[name].read_text("utf-8")
    return dict(re.findall(r'^\s*"([^"]+)":\s*"((?:[^"\\]|\\.)*)",?\s*$', text, re.MULTILINE))


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_error_code_the_pages_can_meet_is_translated_in_both_languages() -> None:
    codes = page_error_codes()
    # What the enumeration must find, or it is not reading the code it claims to.
    assert {
        "backing_off_after_failure",
        "below_stripe_minimum_charge",
        "beyond_operator_limit",
        "setup_intent_not_succeeded",
        "payment_method_not_found",
        "stripe_unavailable",
        "too_many_decimals",
        "malformed_json",
        "invalid_characters",
    } <= codes
    en, zh = dictionary("en"), dictionary("zh-CN")
    missing = {
        lang: sorted(c for c in codes if f"api.{c}" not in entries)
        for lang, entries in (("en", en), ("zh-CN", zh))
    }
    assert missing == {"en": [], "zh-CN": []}
    # The Chinese text is Chinese, and says the same values as the English.
    for code in codes:
        key = f"api.{code}"
        assert re.search(r"[\u4e00-\u9fff]", zh[key]), (key, zh[key])
        assert placeholders(zh[key]) == placeholders(en[key]), key


def test_both_dictionaries_have_the_same_keys_and_placeholders() -> None:
    en, zh = dictionary("en"), dictionary("zh-CN")
    assert len(en) > 200
    assert set(en) == set(zh)
    assert {k: placeholders(v) for k, v in en.items()} == {
        k: placeholders(v) for k, v in zh.items()
    }


@pytest.mark.browser
def test_the_chinese_page_says_server_errors_in_chinese(web: WebStack) -> None:
    """The issue's example: a target that makes the smallest recharge smaller than Stripe's
    minimum charge. The server refuses it (the page's own checks pass); the Chinese page
    shows the refusal in Chinese, the minimum formatted from ``params``."""
    user = web.create_user(id="zh-user", minimumBalance=150, targetBalance=600, initialBalance=300)
    p = web.open(web.link(user), locale="zh-CN")
    page = p.page
    target = page.get_by_test_id("target-input")
    expect(target).to_have_value("600")
    before = web.config(user)
    target.fill("150.30")
    page.get_by_test_id("save-settings").click()
    error = page.get_by_test_id("target-error")
    expect(error).to_contain_text("Stripe")
    expect(error).to_contain_text("US$0.50")
    text = error.inner_text()
    assert re.search(r"[\u4e00-\u9fff]{4}", text), text
    assert "minimum" not in text and "raise" not in text, text
    expect(page.get_by_test_id("settings-result")).to_have_text(
        "请更正标出的字段，设置未做任何更改。"
    )
    web.shot(p, "1-zh-server-error")
    assert web.config(user) == before

    # Switching the language rewords the same error from its code and params.
    page.get_by_test_id("lang-switch").select_option("en")
    expect(error).to_contain_text("$0.50")
    expect(error).not_to_contain_text("raise targetBalance")
    p.assert_clean()
