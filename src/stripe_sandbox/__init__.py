"""An offline, stateful emulator of the Stripe API surface this service uses.

    from stripe_sandbox import start_background
    with start_background() as sandbox:   # sandbox.base_url, .secret_key, .state, .stop()
        ...

See ``README.md`` in this folder for what is emulated and how it differs from Stripe.
"""

from __future__ import annotations

from .app import create_app
from .server import RunningSandbox, run, start_background
from .state import SandboxState

__all__ = ["RunningSandbox", "SandboxState", "create_app", "run", "start_background"]
