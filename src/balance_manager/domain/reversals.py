"""Refunds and disputes against the balance: how much credit they take back. Pure.

A recharge credited ``amount`` and charged the card ``total = amount + fee``. A refund or a
dispute gives back part of the *charge* (what the card paid, fee included), so it takes back
the same share of the *credit*:

    credit taken back = round_half_up(charge given back × amount / total)

computed on the running total given back, so that the debits of any sequence of partial
refunds and disputes add up exactly to the rule applied to their sum — a full refund takes
back exactly ``amount``, never a minor unit more or less, however it was split. The fee share
(``charge given back − credit taken back``) is the card fee on the part given back: the
customer paid it on top of the credit, so it goes back to the card with it and never
touches the balance. Stripe's own dispute fee is the operator's cost: it is not charged to
the balance.

Worked example (the original's recharge: amount 650.00, fee 18.85, total 668.85):

- a partial refund of 100.00 takes back round_half_up(10000 × 65000 / 66885) = 9718 → 97.18;
- then a refund of the remaining 568.85 takes back 65000 − 9718 = 55282 → 552.82 (total 650);
- a dispute of the whole 668.85 takes back 650.00; won, it gives 650.00 back.

When the money comes back (a refund the bank returned, a dispute won) the running total
drops and the difference is credited again.

Which Stripe states count as money gone: a refund ``pending``, ``requires_action`` or
``succeeded`` (``failed`` / ``canceled`` never left or came back); a dispute once its funds
were withdrawn (a negative balance transaction; an inquiry withdraws nothing) and until they
are reinstated (a positive one, when won).
"""

from __future__ import annotations

from decimal import Decimal

from balance_manager.domain import money

REFUND_TAKEN = frozenset({"pending", "requires_action", "succeeded"})
# Statuses of a dispute whose funds were withdrawn when Stripe gives no balance transactions.
_DISPUTE_WITHDRAWN = frozenset({"needs_response", "under_review", "lost", "won"})


def credit_share(given_back: int, *, amount: int, total: int) -> int:
    """The credit bought by ``given_back`` minor units of a charge of ``total`` that credited
    ``amount``: round_half_up(given_back × amount / total), ``given_back`` clamped to
    [0, total]."""
    if total <= 0:
        return 0
    part = min(max(given_back, 0), total)
    return money.round_half_up(Decimal(part) * amount / total)


def refund_takes_money(status: str | None) -> bool:
    """A refund in this Stripe status has given (or is giving) the money back to the card."""
    return status in REFUND_TAKEN


def dispute_takes_money(
    status: str | None, *, withdrawn: bool | None, reinstated: bool | None
) -> bool:
    """A dispute in this state holds the disputed money away from us.

    ``withdrawn`` / ``reinstated`` come from its balance transactions (None: not given, then
    the status decides: an inquiry (``warning_*``) withdraws nothing; a won dispute gave the
    money back)."""
    if withdrawn is None:
        withdrawn = status in _DISPUTE_WITHDRAWN
    if reinstated is None:
        reinstated = status == "won"
    return bool(withdrawn) and not reinstated
