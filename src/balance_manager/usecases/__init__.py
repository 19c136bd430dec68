"""The application layer: one module per group of use cases, one function per use case.

Each use case owns its unit of work — it opens the one transaction, takes each lock once,
calls the pure rules (``money``, ``policy``, ``posting``) and the store, commits, and returns
a typed result. The API routes, the CLI, the worker and the Stripe webhook endpoint all call
these functions; none of them holds business logic of its own.

    accounts       users, balance configs, the ledger view
    usage          record usage (one, a batch), operator adjustments — the hot path
    recharges      open recharges (the one decision), manual recharges, status, history,
                   completing or canceling one that waits for the customer
    charging       claim, charge through the gateway, settle
    cards          Stripe customers and cards, the default card
    stripe_events  Stripe's webhook events, once each
    refunds        the operator's refund; Stripe's refunds and disputes on the ledger
    reconcile      compare Stripe with the ledger, repair what settling can, report the rest
    anomalies      money that matches no record, for the operator (table, event, count)
    sweep          the periodic safety net
    webhooks       operator webhook endpoints; fanning the outbox out, delivering, resending
    heartbeats     each worker's heartbeat row (alive, last sweep)
    health         readiness: can the service do its job right now?
    metrics        what the database knows, as Prometheus families (and for ``status``)
    expiry         giving up on recharges that waited too long for authentication
    admin          the operator's cross-user lists and statistics
    reports        recharge and ledger reports for a period, streamed
    services       what they all work with (database, gateway, rules, clock)

May import domain, store, payments, senders, telemetry and settings; never api, web, runtime
or cli (``tests/unit/test_architecture.py``).
"""
