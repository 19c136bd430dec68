"""``balance-manager webhooks create/update`` refuse internal and malformed URLs with one line
(issue 18, items 2 and 3): real processes, both databases, production's default (no
WEBHOOK_ALLOWED_NETWORKS)."""

from __future__ import annotations

import subprocess

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cli.test_cli import run


def _refused(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line, line
    assert "Traceback" not in result.stderr


def test_webhooks_create_and_update_refuse_internal_and_malformed_urls(
    database_url: str, engine: AsyncEngine
) -> None:
    public_only = {"WEBHOOK_ALLOWED_NETWORKS": ""}
    metadata = run(
        database_url,
        *("webhooks", "create", "--url", "http://169.254.169.254/latest/meta-data/"),
        check=False,
        **public_only,
    )
    _refused(metadata, "url must reach a public address: 169.254.169.254 is link-local")
    malformed = run(database_url, "webhooks", "create", "--url", "http://[::1/x", check=False)
    _refused(malformed, "url is not a valid URL")

    created = run(database_url, "webhooks", "create", "--url", "https://hooks.example.test/in")
    endpoint = created.stdout.split()[3]  # "created webhook endpoint ID URL …"
    moved = run(
        database_url,
        *("webhooks", "update", endpoint, "--url", "http://2130706433:5432/"),
        check=False,
        **public_only,
    )
    _refused(moved, "2130706433: 127.0.0.1 is loopback")
    listed = run(database_url, "webhooks", "list").stdout
    assert "https://hooks.example.test/in" in listed and "2130706433" not in listed
