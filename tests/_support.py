"""Helpers shared by the test suite."""

from __future__ import annotations

import os
import re
import secrets

import pytest
from sqlalchemy import make_url

from balance_manager.settings import normalize_database_url


def in_ci() -> bool:
    """CI sets CI=true (or BM_REQUIRE_ALL=1): a missing component is then a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"} or os.environ.get(
        "BM_REQUIRE_ALL", ""
    ) in {"1", "true"}


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a component the test needs cannot be reached."""
    if in_ci():
        pytest.fail(f"required component unavailable in CI: {reason}")
    pytest.skip(reason)


# --- the test PostgreSQL server -----------------------------------------------------------

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
_PREFIX = re.compile(r"[a-z0-9_]{0,20}\Z")


def postgres_admin_url() -> str:
    """TEST_POSTGRES_URL in any form DATABASE_URL accepts (``postgresql://``, ``postgres://``,
    ``postgresql+asyncpg://``, ``?sslmode=``), as the async URL the service and the suite use."""
    return normalize_database_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


def database_prefix() -> str:
    """TEST_DB_PREFIX: put before every database name the suite creates, so that two runs on a
    shared server can tell theirs apart (and clean up only their own)."""
    prefix = os.environ.get("TEST_DB_PREFIX", "")
    if not _PREFIX.match(prefix):
        raise ValueError(
            f"TEST_DB_PREFIX={prefix!r}: use at most 20 lower-case letters, digits and underscores"
        )
    return prefix


def database_name(kind: str) -> str:
    """A fresh name for a database of the suite: ``<TEST_DB_PREFIX>bm_<kind>_<random>``."""
    return f"{database_prefix()}bm_{kind}_{secrets.token_hex(4)}"


def with_database(admin_url: str, name: str) -> str:
    """``admin_url`` with its database replaced by ``name`` (credentials and query kept)."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def database_of(url: str) -> str:
    return str(make_url(url).database)
