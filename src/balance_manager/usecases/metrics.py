"""What the database knows, as Prometheus families, computed at each scrape (and the same
numbers for ``balance-manager status``): every process answers with the same truth, however
many API processes and workers there are.

The in-process instruments (requests, Stripe calls, sweeps, …) are ``telemetry.metrics``;
``telemetry.exposition`` puts both into one scrape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from balance_manager.domain import money
from balance_manager.domain.states import RechargeStatus, TriggerSource
from balance_manager.store import aggregates
from balance_manager.store import heartbeats as beats
from balance_manager.store.db import reader
from balance_manager.telemetry.metrics import PREFIX
from balance_manager.usecases.heartbeats import alive, last_sweep
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)

# Balance histogram bounds, in major units of each user's currency.
BALANCE_BUCKETS = (-1000, -100, -10, 0, 10, 50, 100, 500, 1000, 5000, 10_000, 100_000)


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: datetime
    users: aggregates.Users
    requires_action: int
    brands: dict[str, int]
    records: dict[tuple[str, str], int]
    charged: list[aggregates.Charged]
    queue: aggregates.Queue
    outbox: aggregates.Outbox
    balances: list[aggregates.Balances]
    workers: list[beats.Worker]
    worker_stale_after: timedelta

    @property
    def alive_workers(self) -> list[beats.Worker]:
        return alive(self.workers, now=self.taken_at, stale_after=self.worker_stale_after)


async def snapshot(svc: Services) -> Snapshot:
    """Read every count in one read-only transaction."""
    now = svc.clock()
    async with reader(svc.engine).connect() as conn:
        records = await aggregates.records_by_status(conn)
        balances = []
        for code in await aggregates.currencies(conn):
            scale = 10 ** money.currency(code).exponent
            bounds = [b * scale for b in BALANCE_BUCKETS]
            balances.append(await aggregates.balances(conn, code, bounds))
        found = Snapshot(
            taken_at=now,
            users=await aggregates.users(conn),
            requires_action=sum(
                n for (s, _), n in records.items() if s == RechargeStatus.REQUIRES_ACTION
            ),
            brands=await aggregates.card_brands(conn),
            records=records,
            charged=await aggregates.charged(conn),
            queue=await aggregates.queue(conn, now=now),
            outbox=await aggregates.outbox(conn),
            balances=balances,
            workers=await beats.recent(conn),
            worker_stale_after=timedelta(seconds=svc.settings.health_worker_stale_seconds),
        )
        await conn.rollback()
    return found


async def collect(svc: Services) -> list[Metric]:
    """The database families for one scrape; when the database cannot be read, only
    ``balance_manager_database_up 0`` (the in-process instruments are still served)."""
    started = time.perf_counter()
    try:
        families = to_families(await snapshot(svc))
        up = 1.0
    except Exception as exc:  # a scrape must answer even when the database does not
        log.warning("metrics_database_unavailable", error=type(exc).__name__)
        families, up = [], 0.0
    families.append(_gauge("database_up", "Whether this scrape could read the database.", up))
    families.append(
        _gauge(
            "scrape_database_seconds",
            "How long reading the database for this scrape took.",
            time.perf_counter() - started,
        )
    )
    return families


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def _le(bound: int) -> str:
    """A bucket bound as prometheus-client spells its own ("-100.0", "1000.0")."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max((now - then).total_seconds(), 0.0)


def to_families(snap: Snapshot) -> list[Metric]:
    now = snap.taken_at
    users = snap.users
    families: list[Metric] = [
        _gauge("users", "Users.", users.total),
        _gauge(
            "users_below_minimum",
            "Users whose balance is below their minimum.",
            users.below_minimum,
        ),
        _gauge(
            "users_auto_recharge_paused",
            "Users whose auto-recharge is paused after repeated declines.",
            users.paused,
        ),
        _gauge("users_auto_recharge_enabled", "Users with auto-recharge on.", users.auto_enabled),
        _gauge("users_with_card", "Users with a default card.", users.with_card),
        _gauge(
            "users_requires_action",
            "Users with a recharge waiting for them to authenticate (3-D Secure).",
            snap.requires_action,
        ),
    ]

    brands = GaugeMetricFamily(
        f"{PREFIX}_default_card_brands",
        "Users with a default card, by card brand (payment-method brands in use).",
        labels=["brand"],
    )
    for brand, count in sorted(snap.brands.items()):
        brands.add_metric([brand], count)
    families.append(brands)

    records = GaugeMetricFamily(
        f"{PREFIX}_recharge_records",
        "Recharge records by status and trigger (usage, sweep, card, manual).",
        labels=["status", "trigger"],
    )
    for status in RechargeStatus:
        for trigger in TriggerSource:
            records.add_metric(
                [status.value, trigger.value], snap.records.get((status, trigger), 0)
            )
    families.append(records)

    names = (
        (
            "charged",
            "Charged to cards by succeeded recharges (amount + fee), minor units.",
            "total",
        ),
        ("credited", "Credited to balances by succeeded recharges, minor units.", "amount"),
        ("fees", "Card fees paid by customers in succeeded recharges, minor units.", "fee"),
    )
    for name, doc, attribute in names:
        family = CounterMetricFamily(
            f"{PREFIX}_recharge_{name}_minor_units", doc, labels=["currency"]
        )
        for charged in snap.charged:
            family.add_metric([charged.currency], getattr(charged, attribute))
        families.append(family)
    succeeded = CounterMetricFamily(
        f"{PREFIX}_recharges_succeeded", "Succeeded recharges, by currency.", labels=["currency"]
    )
    for charged in snap.charged:
        succeeded.add_metric([charged.currency], charged.count)
    families.append(succeeded)

    # Balances go below zero, so the histogram has negative bounds; Prometheus then leaves
    # out its _sum and _count, which the two gauges after it give instead.
    balances = HistogramMetricFamily(
        f"{PREFIX}_balance",
        "Users' balances in major units of their currency (computed from the database).",
        labels=["currency"],
    )
    balance_sum = GaugeMetricFamily(
        f"{PREFIX}_balance_sum_major_units",
        "Sum of the users' balances, in major units, by currency.",
        labels=["currency"],
    )
    balance_users = GaugeMetricFamily(
        f"{PREFIX}_balance_users", "Users by balance currency.", labels=["currency"]
    )
    for dist in snap.balances:
        bounds = zip(BALANCE_BUCKETS, dist.at_or_below, strict=True)
        buckets = [(_le(bound), count) for bound, count in bounds]
        total = money.to_major(dist.total, money.currency(dist.currency))
        balances.add_metric([dist.currency], [*buckets, ("+Inf", dist.count)], sum_value=None)
        balance_sum.add_metric([dist.currency], float(total))
        balance_users.add_metric([dist.currency], dist.count)
    families += [balances, balance_sum, balance_users]

    queue = snap.queue
    families += [
        _gauge("recharge_queue_depth", "Pending recharge records (the queue).", queue.pending),
        _gauge("recharge_queue_due", "Pending recharge records due now.", queue.due),
        _gauge(
            "recharge_queue_oldest_age_seconds",
            "Age of the oldest pending recharge record (0 when none).",
            _age(now, queue.oldest_pending_at),
        ),
        _gauge("recharges_processing", "Recharges being charged right now.", queue.processing),
        _gauge(
            "outbox_backlog",
            "Outbox events not fanned out to the endpoints, plus webhook deliveries pending.",
            snap.outbox.backlog,
        ),
        _gauge(
            "outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox event (0 when none).",
            _age(now, snap.outbox.oldest_at),
        ),
    ]

    living = snap.alive_workers
    families.append(
        _gauge("workers_alive", "Workers (any process) that beat recently.", len(living))
    )
    running = [w.beat_at for w in snap.workers if w.stopped_at is None]
    if running:
        families.append(
            _gauge(
                "worker_last_heartbeat_age_seconds",
                "Seconds since a worker last finished a pass.",
                _age(now, max(running)),
            )
        )
    swept = last_sweep(snap.workers)
    if swept is not None:
        families.append(
            _gauge("last_sweep_age_seconds", "Seconds since a worker last swept.", _age(now, swept))
        )
    return families
