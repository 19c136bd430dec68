"""Posting rules for the ledger: what a batch of postings does to locked balances. Pure.

The store locks the users' rows and reads their balances and any ledger entries that already
carry the postings' keys; :func:`apply` then decides, posting by posting in input order, what
happens to each — and the store writes exactly that. The same rules serve one debit and a
batch of a thousand, on both databases.

For each posting, in order:

1. unknown user → ``UNKNOWN_USER``;
2. its key ``(user, kind, reference)`` already has an entry (from an earlier request, or from
   an earlier posting of this batch) → ``REPLAYED`` if the amount is the same, else
   ``KEY_REUSED``; nothing moves;
3. a debit that must respect the floor and would take the balance below it →
   ``FLOOR_REACHED``; nothing moves;
4. a posting that must respect the bounds (usage, adjustments: what the service may refuse)
   and would take the balance to a trillion major units or beyond, further from zero →
   ``OUT_OF_RANGE``; nothing moves (balances stay within what JSON clients read exactly);
5. otherwise ``APPLIED``: a new entry with the running balance after it. A debit that takes
   the balance from at-or-above the user's low-balance threshold to below it is flagged
   ``crossed_low_balance`` (the store writes a ``balance.low`` event for it).

The low-balance threshold (:func:`low_balance_threshold`) is the user's own
``lowBalanceThreshold`` when set — an alert for users without auto-recharge, or earlier than
the minimum — else the minimum. The PostgreSQL one-statement debit (``store.ledger``) states
the same rule in SQL, and the tests run both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from balance_manager.domain import money
from balance_manager.domain.states import LedgerKind

Key = tuple[str, str, str]  # (user_id, kind, reference): unique in the ledger


@dataclass(frozen=True, slots=True)
class Posting:
    user_id: str
    kind: LedgerKind
    amount: int  # signed minor units: usage is negative
    reference: str
    description: str | None = None
    metadata: dict[str, Any] | None = None
    enforce_floor: bool = False
    # Refused (OUT_OF_RANGE) rather than taking the balance out of bounds; off for postings
    # of money that already moved at Stripe, which are never refused.
    enforce_bounds: bool = False

    @property
    def key(self) -> Key:
        return (self.user_id, str(self.kind), self.reference)


@dataclass(slots=True)
class Account:
    """A locked user's balance and the thresholds postings are checked against."""

    user_id: str
    balance: int
    minimum: int | None
    floor: int | None
    currency: str
    low_balance: int | None = None  # the user's own lowBalanceThreshold, if set


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger entry as stored (``id`` is None until the store has written it)."""

    amount: int
    balance_after: int
    id: int | None = None
    created_at: datetime | None = None


class Outcome(StrEnum):
    APPLIED = "applied"
    REPLAYED = "replayed"
    KEY_REUSED = "idempotency_key_reused"
    FLOOR_REACHED = "balance_floor_reached"
    OUT_OF_RANGE = "balance_out_of_range"
    UNKNOWN_USER = "user_not_found"


@dataclass(frozen=True, slots=True)
class Result:
    posting: Posting
    outcome: Outcome
    # APPLIED: the new entry; REPLAYED: the entry first written for this key (which, for a
    # repeat inside one batch, is that batch's own new entry — see ``replay_of``).
    entry: Entry | None = None
    replay_of: int | None = None  # index of the batch posting whose new entry this replays
    crossed_low_balance: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome in {Outcome.APPLIED, Outcome.REPLAYED}


@dataclass(slots=True)
class Plan:
    """What the store must write: new entries (by posting index) and final balances."""

    results: list[Result]
    new_entries: dict[int, Entry] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)  # users whose balance moved


def low_balance_threshold(account: Account) -> int | None:
    """The balance below which a debit raises ``balance.low``: the user's own threshold when
    set, else the minimum (None: no config, never)."""
    return account.low_balance if account.low_balance is not None else account.minimum


def crosses_low_balance(account: Account, before: int, after: int) -> bool:
    """From at-or-above the threshold to below it (only a debit can)."""
    threshold = low_balance_threshold(account)
    return threshold is not None and before >= threshold > after


def apply(
    accounts: dict[str, Account], existing: dict[Key, Entry], postings: Sequence[Posting]
) -> Plan:
    """Decide every posting in order against running balances (``accounts`` is updated)."""
    plan = Plan(results=[])
    first_in_batch: dict[Key, int] = {}
    for index, posting in enumerate(postings):
        account = accounts.get(posting.user_id)
        if account is None:
            plan.results.append(Result(posting, Outcome.UNKNOWN_USER))
            continue
        prior_index = first_in_batch.get(posting.key)
        prior = existing.get(posting.key) if prior_index is None else plan.new_entries[prior_index]
        if prior is not None:
            outcome = Outcome.REPLAYED if prior.amount == posting.amount else Outcome.KEY_REUSED
            plan.results.append(Result(posting, outcome, entry=prior, replay_of=prior_index))
            continue
        before = account.balance
        after = before + posting.amount
        if (
            posting.enforce_floor
            and posting.amount < 0
            and account.floor is not None
            and after < account.floor
        ):
            plan.results.append(Result(posting, Outcome.FLOOR_REACHED))
            continue
        if (
            posting.enforce_bounds
            and abs(after) > abs(before)
            and not money.balance_in_range(after, money.currency(account.currency))
        ):
            plan.results.append(Result(posting, Outcome.OUT_OF_RANGE))
            continue
        entry = Entry(amount=posting.amount, balance_after=after)
        account.balance = after
        plan.new_entries[index] = entry
        plan.balances[posting.user_id] = after
        first_in_batch[posting.key] = index
        crossed = crosses_low_balance(account, before, after)
        plan.results.append(
            Result(posting, Outcome.APPLIED, entry=entry, crossed_low_balance=crossed)
        )
    return plan
