"""The in-process Prometheus instruments: what happens in this process (requests, Stripe
calls, sweeps, charges, webhook events). Counts that the database knows — users, records,
amounts, queue, outbox, workers — are computed at scrape time instead
(``usecases.metrics``), so every process reports the same truth.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts), prometheus-client keeps
these values in per-process files of that directory and a scrape adds up every process on
the host (``exposition``). Only counters and histograms live here: they add up correctly
across processes, where gauges would need a per-metric aggregation mode.

Labels are bounded sets (route templates, operation names, outcomes); never a user id, a
raw path or a token.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PREFIX = "balance_manager"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUEST_DURATION = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)

STRIPE_REQUEST_DURATION = Histogram(
    f"{PREFIX}_stripe_request_duration_seconds",
    "Requests to Stripe (each attempt) by operation and outcome (ok or error).",
    ["operation", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
STRIPE_ERRORS = Counter(
    f"{PREFIX}_stripe_errors",
    "Stripe requests that failed, by operation and error type (card_error is a decline).",
    ["operation", "type"],
)

RECHARGES_OPENED = Counter(
    f"{PREFIX}_recharges_opened",
    "Recharge records opened by this process, by trigger (usage, sweep, card, manual).",
    ["trigger"],
)
CHARGES = Counter(
    f"{PREFIX}_charges",
    "Charges a worker attempted, by what settling them did (credited, failed, …).",
    ["outcome"],
)

SWEEP_DURATION = Histogram(
    f"{PREFIX}_sweep_duration_seconds",
    "How long one sweep took.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
SWEEP_CANDIDATES = Histogram(
    f"{PREFIX}_sweep_candidates",
    "Users one sweep looked at (below their minimum with nothing in flight).",
    buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000),
)
SWEEP_OPENED = Counter(f"{PREFIX}_sweep_opened", "Recharges the sweep opened.")

WORKER_PASSES = Counter(
    f"{PREFIX}_worker_passes", "Worker passes by result (ok or failed).", ["result"]
)

STRIPE_WEBHOOK_EVENTS = Counter(
    f"{PREFIX}_stripe_webhook_events",
    "Stripe webhook events received, by event type and outcome.",
    ["type", "outcome"],
)

WEBHOOK_DELIVERIES = Counter(
    f"{PREFIX}_webhook_deliveries",
    "Operator webhook delivery attempts, by event type and outcome.",
    ["type", "outcome"],
)
WEBHOOK_DELIVERY_DURATION = Histogram(
    f"{PREFIX}_webhook_delivery_duration_seconds",
    "Operator webhook delivery attempts, by outcome.",
    ["outcome"],
    buckets=_LATENCY_BUCKETS,
)


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUEST_DURATION.labels(method, route, str(status)).observe(seconds)


def recharge_opened(trigger: str, count: int = 1) -> None:
    if count:
        RECHARGES_OPENED.labels(trigger).inc(count)


def charge_settled(outcome: str) -> None:
    CHARGES.labels(outcome).inc()


def sweep_finished(*, seconds: float, candidates: int, opened: int) -> None:
    SWEEP_DURATION.observe(seconds)
    SWEEP_CANDIDATES.observe(candidates)
    if opened:
        SWEEP_OPENED.inc(opened)


def worker_pass(*, ok: bool) -> None:
    WORKER_PASSES.labels("ok" if ok else "failed").inc()


def stripe_webhook_event(event_type: str, outcome: str) -> None:
    STRIPE_WEBHOOK_EVENTS.labels(event_type, outcome).inc()


def webhook_delivery(event_type: str, outcome: str, seconds: float) -> None:
    """Record one operator webhook delivery attempt (for the outbox dispatcher): ``outcome``
    is a small set such as ``delivered``, ``http_4xx``, ``http_5xx``, ``timeout``,
    ``connection_error``."""
    WEBHOOK_DELIVERIES.labels(event_type, outcome).inc()
    WEBHOOK_DELIVERY_DURATION.labels(outcome).observe(seconds)
