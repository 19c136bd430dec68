"""``balance-manager recharges``: every user's recharge records — list, show, cancel."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from balance_manager.cli._shared import read_settings, with_services

app = typer.Typer(
    no_args_is_help=True, help="Recharge records of every user.", rich_markup_mode=None
)


def _lines(record: Any) -> list[str]:
    from balance_manager.domain import money

    cur = money.currency(record.currency)
    major = f"{money.to_major(record.amount, cur)} + fee {money.to_major(record.fee, cur)}"
    return [
        f"id            {record.id}",
        f"user          {record.user_id}",
        f"status        {record.status}",
        f"amount        {major} = {money.to_major(record.total_charge, cur)} {cur.code.upper()}",
        f"triggered by  {record.triggered_by} ({record.trigger_detail})"
        + (", capped at maxRechargeAmount" if record.capped else ""),
        f"intent        {record.payment_intent_id or '-'}",
        f"failure       {record.failure_code or '-'}"
        + (f": {record.failure_message}" if record.failure_message else ""),
        f"created       {record.created_at.isoformat()}",
        f"completed     {record.completed_at.isoformat() if record.completed_at else '-'}",
    ]


@app.command("list")
def list_recharges(
    user: Annotated[
        str | None, typer.Option(metavar="USER_ID", help="Only this user's records.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help="pending, processing, requires_action, …"),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=100, help="Records per page.")] = 20,
    page: Annotated[int, typer.Option(metavar="PAGE", min=1, help="Page, from 1.")] = 1,
) -> None:
    """List recharge records, newest first."""
    from balance_manager.domain import money
    from balance_manager.usecases import admin

    async def work(svc: Any) -> Any:
        return await admin.list_recharges(
            svc, user_id=user, status=admin.parse_status(status), page=page, limit=limit
        )

    found = with_services(read_settings(), work)
    for r in found.items:
        cur = money.currency(r.currency)
        total = f"{money.to_major(r.total_charge, cur)} {cur.code.upper()}"
        typer.echo(
            f"{r.id}  {r.user_id:<20} {r.status!s:<16} {total:>16}  "
            f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.failure_code or ''}".rstrip()
        )
    typer.echo(f"page {found.page} of {found.total_pages or 1}, {found.total} records", err=True)


@app.command("show")
def show(
    recharge_id: Annotated[str, typer.Argument(metavar="RECHARGE_ID", help="The recharge's id.")],
) -> None:
    """Show one recharge record."""
    from balance_manager.usecases import admin

    record = with_services(read_settings(), lambda svc: admin.recharge(svc, recharge_id))
    typer.echo("\n".join(_lines(record)))


@app.command("cancel")
def cancel(
    recharge_id: Annotated[str, typer.Argument(metavar="RECHARGE_ID", help="The recharge's id.")],
) -> None:
    """Cancel a recharge waiting for authentication.

    Its PaymentIntent is canceled at Stripe, as POST
    /api/balance/recharge/{userId}/{rechargeId}/cancel does."""
    from balance_manager.usecases import admin

    view = with_services(
        read_settings(), lambda svc: admin.cancel_recharge(svc, recharge_id), payments=True
    )
    typer.echo("\n".join(_lines(view.record)))
