"""The Stripe sandbox: an offline, stateful emulator of the Stripe API surface Balance Manager
uses — customers, PaymentMethods, SetupIntents, PaymentIntents with 3-D Secure, charges,
refunds, disputes, events and signed webhooks, the billing portal and a Stripe.js stand-in —
driven over real HTTP by the official ``stripe`` SDK.

A product of its own: it imports nothing from ``balance_manager`` (Balance Manager starts it
for its demo and its tests, never the other way round). Start it

- from the command line: ``balance-manager sandbox --port 12111 [--state-file F]``, or, with
  only this package, ``uvicorn stripe_sandbox:create_app --factory --port 12111``;
- in a test or a script, in a background thread on a free port::

      from stripe_sandbox import start_background
      with start_background() as sandbox:   # .base_url, .secret_key, .state, .reset(), .stop()
          client = stripe.StripeClient(sandbox.secret_key,
                                       base_addresses={"api": sandbox.base_url})

``README.md`` in this folder says what is emulated and how it differs from Stripe. The layers:
``api`` (the ``/v1`` pipeline: auth, parameters, idempotency, faults) → ``resources/`` (one
module per Stripe resource) → ``state`` (objects, events, the clock); ``webhooks`` delivers the
events; ``control``, ``challenge``, ``portal`` and ``stripejs`` are the pages and the
``/_sandbox/`` routes a test drives; ``app`` puts them together.
"""

from __future__ import annotations

from .app import create_app
from .server import RunningSandbox, run, start_background
from .state import SandboxState

__all__ = ["RunningSandbox", "SandboxState", "create_app", "run", "start_background"]
