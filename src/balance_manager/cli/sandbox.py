"""``balance-manager sandbox``: the offline Stripe emulator on its own. With the demo, the only
place the product imports ``stripe_sandbox`` (``tests/unit/test_architecture.py`` holds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sandbox(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 12111,
    state_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Keep state across restarts.")
    ] = None,
) -> None:
    """Run the offline Stripe sandbox.

    It emulates the subset of the Stripe API this service uses."""
    from stripe_sandbox.server import run

    run(host=host, port=port, state_file=state_file)
