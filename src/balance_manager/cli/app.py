"""The root of the ``balance-manager`` command line: the commands and groups, in the order
``--help`` lists them. Each lives in the module named for it; ``_shared`` holds what they all
use.

Commands that create a secret print it alone on the last line of stdout, so scripts can
capture it: ``KEY=$(balance-manager keys create --name ops | tail -n 1)``.

Help is rendered plain (``rich_markup_mode=None``): the rich layout labels every flag,
``--help`` included, with a ``<bool>`` type column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from balance_manager.cli import (
    demo,
    keys,
    operations,
    recharges,
    reports,
    sandbox,
    service,
    stripe_setup,
    tokens,
    users,
    webhooks,
)
from balance_manager.cli._shared import RootOptions, set_root_options

HELP = """Stripe Balance Manager: prepaid balances kept topped up with Stripe.

Commands that create a secret print it alone on the last line of stdout, so scripts can
capture it: KEY=$(balance-manager keys create --name ops | tail -n 1)
"""
app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP, rich_markup_mode=None)


@app.callback()
def root(
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            metavar="FILE",
            help="Read settings from FILE (they win over the environment's), e.g. the "
            "running demo's: --env-file .demo/env",
        ),
    ] = None,
) -> None:
    set_root_options(RootOptions(env_file=env_file))


for command in (
    service.migrate,
    service.serve,
    service.worker,
    operations.status,
    operations.reconcile,
    service.sweep,
    tokens.token,
    demo.demo,
    sandbox.sandbox,
    reports.report,
):
    app.command()(command)

app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(recharges.app, name="recharges")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(stripe_setup.app, name="stripe")


def main() -> None:
    app()
