"""``balance-manager stripe``: the Stripe account's side of the service — ``webhook-setup``
creates (or checks, and with ``--update`` fixes) the webhook endpoint Stripe sends events to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from balance_manager.cli._shared import read_settings, with_gateway

if TYPE_CHECKING:
    from balance_manager.usecases.stripe_endpoint import Setup

app = typer.Typer(no_args_is_help=True, help="The Stripe account's set-up.", rich_markup_mode=None)

WEBHOOK_PATH = "/api/webhooks/stripe"


def _endpoint_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise typer.BadParameter(f"must be the service's URL, https://YOUR-HOST{WEBHOOK_PATH}")
    return url


@app.command("webhook-setup")
def webhook_setup(
    url: Annotated[
        str,
        typer.Option(
            metavar="URL",
            callback=_endpoint_url,
            help=f"Where Stripe reaches the service: https://YOUR-HOST{WEBHOOK_PATH}",
        ),
    ],
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Fix an endpoint that differs (another API version takes a new endpoint, with "
            "a new signing secret).",
        ),
    ] = False,
) -> None:
    """Create or check Stripe's webhook endpoint for URL.

    Created in the API version the service is written against, with exactly the event types
    it handles; its signing secret (STRIPE_WEBHOOK_SECRET) is printed once, alone on the last
    line. An endpoint that exists for URL is checked and, with --update, brought in line.
    Exit status 1 when it differs and --update was not given."""
    from balance_manager.usecases import stripe_endpoint

    settings = read_settings()
    if urlsplit(url).path.rstrip("/") != WEBHOOK_PATH:
        typer.echo(f"warning: the service receives Stripe's events at {WEBHOOK_PATH}", err=True)
    done = with_gateway(
        settings, lambda gateway: stripe_endpoint.set_up(gateway, url=url, update=update)
    )
    typer.echo("\n".join(_report(done, url)))
    if done.outcome is stripe_endpoint.Outcome.DIFFERS:
        raise typer.Exit(1)
    if done.secret is not None:
        typer.echo(done.secret)


def _report(done: Setup, url: str) -> list[str]:
    from balance_manager.usecases.stripe_endpoint import Outcome

    endpoint = done.endpoint
    shape = f"API version {endpoint.api_version}, {len(endpoint.enabled_events)} event types"
    was = [f"  - {difference}" for difference in done.differences]
    deleted = [f"deleted endpoint {d} (same URL)" for d in done.deleted]
    secret = [
        "set STRIPE_WEBHOOK_SECRET to its signing secret (then restart the service); "
        "store it now, it is not shown again:"
    ]
    match done.outcome:
        case Outcome.UP_TO_DATE:
            return [f"Stripe webhook endpoint {endpoint.id} for {url} is set up: {shape}."]
        case Outcome.CREATED:
            return [f"created Stripe webhook endpoint {endpoint.id} for {url}: {shape}.", *secret]
        case Outcome.DIFFERS:
            return [
                f"Stripe webhook endpoint {endpoint.id} for {url} differs from what the service "
                "needs:",
                *was,
                "run again with --update to fix it (another API version takes a new endpoint, "
                "with a new signing secret)",
            ]
        case Outcome.UPDATED:
            return [
                f"updated Stripe webhook endpoint {endpoint.id} for {url} (same signing secret): "
                f"{shape}; it had:",
                *was,
                *deleted,
            ]
        case Outcome.REPLACED:
            return [
                f"created Stripe webhook endpoint {endpoint.id} for {url}: {shape}, in place of "
                "one Stripe cannot move to that API version:",
                *was,
                *deleted,
                "until the service has the new secret it refuses the new endpoint's events, "
                "and Stripe retries them.",
                *secret,
            ]
