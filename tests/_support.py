"""Helpers shared by the test suite."""

from __future__ import annotations

import os

import pytest


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
