"""The suite's own set-up: a PostgreSQL it cannot reach is named (URL without its password,
and the reason) in every skipped or failed test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.deploy.conftest import REPO


def test_an_unreachable_postgresql_is_named_with_the_url_tried() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"CI", "BM_REQUIRE_ALL"}},
        "TEST_POSTGRES_URL": f"postgresql+asyncpg://postgres:pg-pw@127.0.0.1:{port}/test",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/integration/test_migrations.py::test_models_and_migrations_agree",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout  # SQLite passes, PostgreSQL skips locally
    assert "1 passed, 1 skipped" in result.stdout
    expected = (
        f"PostgreSQL not reachable at postgresql+asyncpg://postgres:***@127.0.0.1:{port}/test"
    )
    assert expected in result.stdout and "Connect call failed" in result.stdout
    assert "pg-pw" not in result.stdout
