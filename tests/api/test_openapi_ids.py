"""Every operation of the OpenAPI document has a short, stable camelCase id given in its route
(not FastAPI's default, which is built from the function name and the path and changes when
either does) and a tag, so generated clients get ``recordUsage`` rather than
``record_usage_api_balance_usage__userId__post``."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from balance_manager.runtime.compose import create_app
from balance_manager.settings import load_settings
from tests.conftest import TOKEN_SECRET

# A verb and what it acts on, in camelCase: getStatus, recordUsageBatch, createUserToken.
OPERATION_ID = re.compile(
    r"(get|list|create|update|patch|delete|set|record|adjust|recharge|"
    r"refresh|cancel|refund|complete|receive|resend|recover)[A-Z][A-Za-z]*\Z"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # The document never touches the database; the file is not even created.
    path: Path = tmp_path_factory.mktemp("openapi") / "unused.db"
    settings = load_settings(
        database_url=f"sqlite:///{path}", token_signing_secret=TOKEN_SECRET, _env_file=None
    )
    return create_app(settings)


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in app.openapi()["paths"].items()
        for method, operation in methods.items()
    ]


def test_operation_ids_are_explicit_short_camel_case_and_unique(app: FastAPI) -> None:
    """FastAPI's default id (``{function}{path}_{method}``) always has an underscore, so an id
    that matches the pattern was given explicitly."""
    operations = _operations(app)
    assert len(operations) > 40
    ids = [op["operationId"] for _method, _path, op in operations]
    bad = [i for i in ids if not OPERATION_ID.match(i) or len(i) > 30]
    assert bad == []
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    # The ones clients already call, pinned: renaming one breaks every generated client.
    named = {(method, path): op["operationId"] for method, path, op in operations}
    assert named[("POST", "/api/balance/usage/{userId}")] == "recordUsage"
    assert named[("GET", "/api/balance/status/{userId}")] == "getStatus"
    assert named[("POST", "/api/balance/recharge/{userId}")] == "rechargeNow"
    assert named[("GET", "/health/ready")] == "getReadiness"


def test_every_operation_is_tagged(app: FastAPI) -> None:
    untagged = [f"{m} {p}" for m, p, op in _operations(app) if not op.get("tags")]
    assert untagged == []
