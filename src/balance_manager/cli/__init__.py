"""The ``balance-manager`` command line: one module per command group, each command a thin
shell over a use case (parse the options, run it, print).

    app            the root: every command and group, in ``--help``'s order; ``main``
    _shared        settings with one-line errors; running a coroutine on the database
    service        migrate, serve, worker, sweep
    operations     status, reconcile
    keys users recharges webhooks    the groups of the same names
    reports        report
    tokens         token
    demo sandbox   the offline demo and the Stripe sandbox
    stripe_setup   the ``stripe`` group: the Stripe webhook endpoint (webhook-setup)
    status_tables  ``status``'s rendering

May import every layer below it (usecases, store, payments, auth, domain, runtime — the
composition root — and web for links); ``stripe_sandbox`` only from ``demo`` and ``sandbox``.
Heavy imports (the database, the services, Stripe, uvicorn) happen inside the commands, so
that ``--help`` stays fast.
"""

from balance_manager.cli.app import app, main

__all__ = ["app", "main"]
