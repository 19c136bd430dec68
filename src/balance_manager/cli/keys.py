"""``balance-manager keys``: the operator's API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from balance_manager.cli._shared import read_settings, with_db

app = typer.Typer(no_args_is_help=True, help="Operator API keys.", rich_markup_mode=None)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(metavar="NAME", help="What the key is for.")],
) -> None:
    """Create an operator API key.

    The key is printed once, alone on the last line."""
    from balance_manager.auth import api_keys

    created = with_db(read_settings(), lambda s: api_keys.create_key(s, name=name))
    typer.echo(
        f"created API key {created.id} ({created.name}); store it now, it is not shown again:"
    )
    typer.echo(created.secret)


@app.command("list")
def list_keys() -> None:
    """List API keys (never their secrets)."""
    from balance_manager.auth import api_keys

    keys = with_db(read_settings(), api_keys.list_keys)
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        typer.echo(f"{key.id}  bmk_{key.prefix}_…  {key.name:<20} {state:<24} last used {used}")
    if not keys:
        typer.echo("no API keys")


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id or prefix.")],
) -> None:
    """Revoke an API key at once."""
    from balance_manager.auth import api_keys

    revoked = with_db(read_settings(), lambda s: api_keys.revoke_key(s, key_id_or_prefix=key))
    typer.echo(f"revoked {revoked.id} ({revoked.name})")
