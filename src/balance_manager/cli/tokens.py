"""``balance-manager token``: mint a customer token (and the dashboard link that carries it)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from balance_manager.cli._shared import fail, read_settings, with_db
from balance_manager.settings import ConfigError


def _token_ttl(seconds: int | None) -> int | None:
    from balance_manager.auth.tokens import ttl_problem

    problem = None if seconds is None else ttl_problem(seconds)
    if problem is not None:
        raise typer.BadParameter(problem)  # the API's ttlSeconds says the same
    return seconds


def token(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id.")],
    ttl: Annotated[
        int | None,
        typer.Option(
            metavar="SECONDS",
            callback=_token_ttl,
            help="Lifetime, 60 s to 30 days (default CUSTOMER_TOKEN_TTL_SECONDS).",
        ),
    ] = None,
) -> None:
    """Mint a customer token for USER_ID.

    The token is printed alone on the last line."""
    from datetime import timedelta

    from balance_manager.auth.tokens import TokenSigner
    from balance_manager.usecases import accounts
    from balance_manager.web import links

    settings = read_settings()
    try:
        signer = TokenSigner(
            settings.signing_secret(), ttl=timedelta(seconds=settings.customer_token_ttl_seconds)
        )
    except ConfigError as exc:
        fail(str(exc))

    async def work(session: Any) -> None:
        await accounts.get_user(session, user_id)

    with_db(settings, work)
    minted = signer.mint(user_id, ttl=timedelta(seconds=ttl) if ttl else None)
    typer.echo(f"dashboard link: {links.dashboard_url(settings.public_base_url, minted.token)}")
    typer.echo(f"customer token for {user_id}, expires {minted.expires_at.isoformat()}:")
    typer.echo(minted.token)
