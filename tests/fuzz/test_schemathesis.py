"""Schemathesis against the running service's ``/openapi.json``: every operation, as the
operator and as a customer, with data that fits the schema and data that does not. Any 5xx,
any undocumented status, any response that does not match its declared schema fails.

Bounded for CI (``FUZZ_EXAMPLES`` per operation and mode, a few thousand cases in all per
database) and deterministic (Hypothesis derandomized, no example database): the same code
sends the same cases. Set ``FUZZ_EXAMPLES`` higher for a longer run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
import stripe
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from sqlalchemy import text

from balance_manager.auth import api_keys
from balance_manager.auth.tokens import TokenSigner
from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.db import create_engine, session_factory
from balance_manager.store.models import BalanceConfig, Base, User
from balance_manager.usecases import accounts
from tests.conftest import LiveServer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@dataclass
class Target:
    base_url: str
    headers: dict[str, str]
    user_id: str
    role: str
    calls: Counter[str] = field(default_factory=Counter)


async def _prepare(settings: Settings, sandbox: Any) -> tuple[str, str]:
    """An operator key and a user with a saved card, on an empty database."""
    engine = create_engine(settings.database_url)
    try:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        sessions = session_factory(engine)
        async with sessions.begin() as session:
            key = (await api_keys.create_key(session, name="fuzz")).secret
            user, _ = await accounts.create_user_in(
                session,
                settings,
                accounts.NewUser(
                    email=f"fuzz-{secrets.token_hex(3)}@example.com",
                    minimum_balance=150,
                    target_balance=600,
                    initial_balance=1000,
                ),
            )
            user_id = user.id
        sdk = stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})
        customer = sdk.v1.customers.create(params={"email": "fuzz@example.com"})
        card = sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        async with sessions.begin() as session:
            found = await session.get(User, user_id)
            config = await session.get(BalanceConfig, user_id)
            assert found is not None and config is not None
            found.stripe_customer_id = customer.id
            config.default_payment_method_id = card.id
        return key, user_id
    finally:
        await engine.dispose()


@pytest.fixture(params=["operator", "customer"])
def target(
    request: pytest.FixtureRequest, stripe_settings: Settings, stripe_sandbox: Any
) -> Iterator[Target]:
    fuzz_settings = stripe_settings.model_copy(
        update={"stripe_webhook_secret": SecretStr("whsec_" + "f" * 32)}
    )
    key, user_id = asyncio.run(_prepare(fuzz_settings, stripe_sandbox))
    if request.param == "operator":
        credential = key
    else:
        signer = TokenSigner(fuzz_settings.signing_secret(), ttl=timedelta(hours=1))
        credential = signer.mint(user_id).token
    app = create_app(fuzz_settings, embedded_worker=False)
    with LiveServer(app) as live:
        target = Target(
            live.base_url, {"Authorization": f"Bearer {credential}"}, user_id, request.param
        )
        yield target


# Readiness answers 503 by design (here: no worker runs); that it is documented is still checked.
_DESIGNED_5XX = frozenset({"GET /health/ready"})


def _checks_for(operation: Any) -> list[Any]:
    if operation.label in _DESIGNED_5XX:
        return [c for c in CHECKS if c is not schemathesis.checks.not_a_server_error]
    return list(CHECKS)


def _run_operation(operation: Any, mode: GenerationMode, target: Target) -> str | None:
    """Up to EXAMPLES cases of one operation in one mode; the failure (shrunk), if any."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
    )
    def run(case: Any) -> None:
        # Half the cases (all of a customer's: its token is for one user) act on the real
        # user, so that they get past "not found" into the use cases.
        params = case.path_parameters or {}
        if "userId" in params:
            seed = zlib.crc32(repr(sorted(params.items())).encode())
            if target.role == "customer" or seed % 2 == 0:
                params["userId"] = target.user_id
        target.calls[f"{operation.label} {mode}"] += 1
        case.call_and_validate(
            base_url=target.base_url, headers=target.headers, checks=_checks_for(operation)
        )

    try:
        run()
    except Unsatisfiable:  # no input can break this operation's schema (e.g. /health)
        assert mode is GenerationMode.NEGATIVE, operation.label
        return None
    except (Exception, BaseExceptionGroup) as exc:  # a check failed: report it with the others
        details = [str(exc)]
        if isinstance(exc, BaseExceptionGroup):  # a flaky failure wraps the real one
            details += [str(e)[:3000] for e in exc.exceptions]
        return f"{operation.label} [{mode}]: " + "\n".join(details)
    return None


def test_api_conforms_to_its_schema(target: Target) -> None:
    config = SchemathesisConfig.from_dict({"generation": {"deterministic": True}})
    api = schemathesis.openapi.from_url(f"{target.base_url}/openapi.json", config=config)
    failures = []
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _run_operation(operation, mode, target)
            if failure is not None:
                failures.append(failure)
    cases = sum(target.calls.values())
    print(f"\nschemathesis {target.role}: {operations} operations, {cases} cases")
    assert operations >= 20
    assert cases >= operations * 2  # every operation was exercised in both modes
    assert not failures, "\n\n".join(failures)
