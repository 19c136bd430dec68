"""``balance-manager webhooks``: the operator's webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from balance_manager.cli._shared import fail, read_settings, with_services

app = typer.Typer(
    no_args_is_help=True, help="Operator webhook endpoints and deliveries.", rich_markup_mode=None
)


def _endpoint_line(endpoint: Any) -> str:
    state = "enabled" if endpoint.enabled else f"disabled ({endpoint.disabled_reason})"
    types = ",".join(endpoint.event_types) if endpoint.event_types else "all events"
    failing = (
        f"  failing since {endpoint.failing_since:%Y-%m-%d %H:%M}" if endpoint.failing_since else ""
    )
    return f"{endpoint.id}  {endpoint.url}  [{types}]  {state}{failing}"


@app.command("create")
def create(
    url: Annotated[str, typer.Option(help="Your receiver, http(s)://….")],
    event: Annotated[
        list[str] | None, typer.Option(help="An event type to send (repeat); default: all.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
) -> None:
    """Register a webhook endpoint; its signing secret (whsec_…) is printed once, last."""
    from balance_manager.usecases import webhooks

    created = with_services(
        read_settings(),
        lambda svc: webhooks.create_endpoint(
            svc,
            webhooks.NewEndpoint(url=url, event_types=event or None, description=description),
        ),
    )
    typer.echo(f"created webhook endpoint {_endpoint_line(created.endpoint)}")
    typer.echo("its signing secret; store it now, it is not shown again:")
    typer.echo(created.secret)


@app.command("list")
def list_endpoints() -> None:
    """List webhook endpoints (never their secrets)."""
    from balance_manager.usecases import webhooks

    found = with_services(read_settings(), lambda svc: webhooks.list_endpoints(svc, limit=100))
    for endpoint in found.items:
        typer.echo(_endpoint_line(endpoint))
    if not found.items:
        typer.echo("no webhook endpoints")


@app.command("update")
def update(
    endpoint_id: str,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    event: Annotated[
        list[str] | None, typer.Option(help="Send only these event types (repeat).")
    ] = None,
    all_events: Annotated[bool, typer.Option("--all-events", help="Send every type.")] = False,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Resume or stop deliveries.")
    ] = None,
) -> None:
    """Change an endpoint's URL, event filter, or enable/disable it."""
    from balance_manager.usecases import webhooks

    changes = webhooks.EndpointChanges(
        url=url, event_types=event or None, all_event_types=all_events, enabled=enable
    )
    updated = with_services(
        read_settings(), lambda svc: webhooks.update_endpoint(svc, endpoint_id, changes)
    )
    typer.echo(_endpoint_line(updated))


@app.command("delete")
def delete(endpoint_id: str) -> None:
    """Delete an endpoint with its deliveries and their log."""
    from balance_manager.usecases import webhooks

    with_services(read_settings(), lambda svc: webhooks.delete_endpoint(svc, endpoint_id))
    typer.echo(f"deleted {endpoint_id}")


@app.command("seal-secrets")
def seal_secrets() -> None:
    """Encrypt every endpoint secret under the first SECRETS_KEY (rotation: after putting a
    new key first, before removing the old one). serve and worker do it at start-up too."""
    from balance_manager.usecases import webhooks

    sealed = with_services(read_settings(), webhooks.seal_secrets)
    typer.echo(
        f"{sealed.encrypted} encrypted, {sealed.reencrypted} re-encrypted under the first key, "
        f"{sealed.current} already under it"
    )


@app.command("deliveries")
def deliveries(
    endpoint_id: str,
    status: Annotated[
        str | None, typer.Option(help="Only pending, succeeded or failed ones.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """An endpoint's recent deliveries: event, status, attempts, last status code or error."""
    from balance_manager.domain.states import DeliveryStatus
    from balance_manager.usecases import webhooks

    try:
        wanted = None if status is None else DeliveryStatus(status)
    except ValueError:
        fail("--status must be pending, succeeded or failed")
    found = with_services(
        read_settings(),
        lambda svc: webhooks.deliveries(svc, endpoint_id, status=wanted, limit=limit),
    )
    for delivery, event_type in found.items:
        outcome = delivery.last_status_code or delivery.last_error or "-"
        typer.echo(
            f"{delivery.id}  {delivery.event_id}  {event_type:<26} {delivery.status!s:<10}"
            f" attempts {delivery.attempts}  last {outcome}"
        )
    if not found.items:
        typer.echo("no deliveries")


@app.command("resend")
def resend(
    event_id: str,
    endpoint: Annotated[
        str | None, typer.Option(help="Only to this endpoint (default: every one that had it).")
    ] = None,
) -> None:
    """Send an event again, with the same webhook-id; the worker delivers it."""
    from balance_manager.usecases import webhooks

    targets = with_services(
        read_settings(), lambda svc: webhooks.resend(svc, event_id, endpoint_id=endpoint)
    )
    typer.echo(f"queued {event_id} for {', '.join(targets)}")


@app.command("recover")
def recover(
    endpoint_id: str,
    since: Annotated[str, typer.Option(help="ISO 8601 time with zone, e.g. 2026-11-30T00:00Z.")],
) -> None:
    """Send again everything since SINCE that the endpoint did not get."""
    from datetime import datetime

    from balance_manager.usecases import webhooks

    try:
        start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {since!r} is not an ISO 8601 time")
    queued = with_services(
        read_settings(), lambda svc: webhooks.recover(svc, endpoint_id, since=start)
    )
    typer.echo(f"queued {queued} deliveries for {endpoint_id}")
