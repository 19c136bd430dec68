"""``serve`` and ``worker`` refuse to start, with one line naming SECRETS_KEY, once operator
webhook secrets exist and SECRETS_KEY is missing or cannot read them; ``webhooks
seal-secrets`` re-encrypts under a new first key (issue 18, item 13). Real processes, both
databases."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.auth.secret_box import new_key
from tests.cli.test_cli import run
from tests.conftest import SECRETS_KEY, free_port


def _refused(result: object, starts: str) -> None:
    stderr = str(getattr(result, "stderr", ""))
    assert getattr(result, "returncode", None) == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {starts}"), stderr
    assert "Traceback" not in stderr


def test_a_service_without_the_key_to_its_webhook_secrets_does_not_start(
    database_url: str, engine: AsyncEngine
) -> None:
    port = str(free_port())
    created = run(database_url, "webhooks", "create", "--url", "http://127.0.0.1:9/in")
    assert created.stdout.strip().splitlines()[-1].startswith("whsec_")

    for command in (["serve", "--port", port], ["worker"]):
        missing = run(
            database_url, *command, check=False, SECRETS_KEY="", STRIPE_SECRET_KEY="sk_test_x"
        )
        _refused(missing, "SECRETS_KEY is not set: 1 operator webhook endpoint(s)")
    wrong = run(database_url, "serve", "--port", port, check=False, SECRETS_KEY=new_key())
    _refused(wrong, "SECRETS_KEY cannot decrypt the secret of webhook endpoint")

    rotated = run(
        database_url, "webhooks", "seal-secrets", SECRETS_KEY=f"{new_key()},{SECRETS_KEY}"
    )
    assert rotated.stdout.strip().splitlines()[-1] == (
        "0 encrypted, 1 re-encrypted under the first key, 0 already under it"
    )
