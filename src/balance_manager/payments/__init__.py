"""Everything that talks to Stripe: ``gateway`` (the one funnel: every call, retries, the
mapping of Stripe's errors to ours), ``stripe_objects`` (Stripe's objects read into our values:
``ChargeResult``, refunds, disputes, cards), ``webhook_payload`` (is a signed event usable?)
and ``instruments`` (each request's latency, errors and span).

An adapter: may import ``domain``, ``telemetry`` and ``settings`` and the Stripe SDK, never
the layers that use it (usecases, api, runtime, cli) nor the store.
"""
