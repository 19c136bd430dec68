"""``balance-manager users``: create a user, show one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from balance_manager.cli._shared import read_settings, with_db

app = typer.Typer(no_args_is_help=True, help="Users.", rich_markup_mode=None)


@app.command("create")
def create(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="The user's email address.")],
    user_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Your own user id.")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(metavar="CODE", help="e.g. usd (default DEFAULT_CURRENCY).")
    ] = None,
    minimum: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Minimum balance, e.g. 150.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Target balance, e.g. 600.")
    ] = None,
    balance: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Opening balance, e.g. -50.")
    ] = None,
) -> None:
    """Create a user; prints the new user id on the last line."""
    from balance_manager.usecases import accounts

    settings = read_settings()

    async def work(session: Any) -> str:
        user, _ = await accounts.create_user_in(
            session,
            settings,
            accounts.NewUser(
                email=email,
                user_id=user_id,
                currency=currency,
                minimum_balance=minimum,
                target_balance=target,
                initial_balance=balance,
            ),
        )
        return user.id

    typer.echo(with_db(settings, work))


@app.command("show")
def show(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id.")],
) -> None:
    """Show a user's balance and config."""
    from balance_manager.domain import money
    from balance_manager.usecases import accounts

    async def work(session: Any) -> str:
        user, config = await accounts.get_config(session, user_id)
        cur = money.currency(user.currency)
        return "\n".join(
            [
                f"id        {user.id}",
                f"email     {user.email}",
                f"balance   {money.to_major(user.balance, cur)} {cur.code.upper()}",
                f"minimum   {money.to_major(config.minimum_balance, cur)}",
                f"target    {money.to_major(config.target_balance, cur)}",
                f"auto      {'on' if config.auto_recharge_enabled else 'off'}",
            ]
        )

    typer.echo(with_db(read_settings(), work))
