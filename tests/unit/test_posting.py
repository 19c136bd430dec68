"""The ledger rules (``posting.apply``): what a batch of postings does to locked balances.
Pure: accounts and existing entries are given, the plan is what the store would write."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from balance_manager.domain import money, posting
from balance_manager.domain.posting import Account, Entry, Outcome, Posting
from balance_manager.domain.states import LedgerKind

BOUND = money.max_minor(money.currency("usd"))


def accounts(**balances: int) -> dict[str, Account]:
    """Users by name with a minimum of 150.00 and no floor."""
    return {
        u: Account(u, b, minimum=15000, floor=None, currency="usd") for u, b in balances.items()
    }


def usage(user: str, amount: int, key: str) -> Posting:
    """A usage debit as the service posts one (floor and bounds enforced)."""
    return Posting(user, LedgerKind.USAGE, -amount, key, enforce_floor=True, enforce_bounds=True)


def outcomes(plan: posting.Plan) -> list[Outcome]:
    return [r.outcome for r in plan.results]


def test_running_balances_across_users_in_input_order() -> None:
    held = accounts(a=10000, b=500)
    plan = posting.apply(
        held,
        {},
        [usage("a", 100, "1"), usage("b", 200, "1"), usage("a", 300, "2"), usage("b", 50, "2")],
    )
    assert outcomes(plan) == [Outcome.APPLIED] * 4
    assert [r.entry.balance_after for r in plan.results if r.entry] == [9900, 300, 9600, 250]
    assert plan.balances == {"a": 9600, "b": 250}
    assert (held["a"].balance, held["b"].balance) == (9600, 250)  # the accounts follow
    assert sorted(plan.new_entries) == [0, 1, 2, 3]


def test_a_replay_across_requests_moves_nothing_and_returns_the_first_entry() -> None:
    first = Entry(amount=-500, balance_after=9500, id=7)
    plan = posting.apply(accounts(a=9500), {("a", "usage", "k"): first}, [usage("a", 500, "k")])
    (result,) = plan.results
    assert (result.outcome, result.entry, result.replay_of) == (Outcome.REPLAYED, first, None)
    assert result.ok and not plan.new_entries and not plan.balances


def test_a_replay_within_a_batch_points_at_the_batchs_own_entry() -> None:
    plan = posting.apply(
        accounts(a=10000), {}, [usage("a", 500, "k"), usage("a", 500, "k"), usage("a", 1, "z")]
    )
    assert outcomes(plan) == [Outcome.APPLIED, Outcome.REPLAYED, Outcome.APPLIED]
    assert plan.results[1].replay_of == 0 and plan.results[1].entry == plan.new_entries[0]
    assert plan.balances == {"a": 9499}  # debited once for "k"
    assert sorted(plan.new_entries) == [0, 2]


def test_a_key_reused_with_another_amount_is_refused_within_and_across_batches() -> None:
    first = Entry(amount=-500, balance_after=9500, id=7)
    across = posting.apply(accounts(a=9500), {("a", "usage", "k"): first}, [usage("a", 600, "k")])
    assert outcomes(across) == [Outcome.KEY_REUSED]
    assert across.results[0].entry == first and not across.results[0].ok
    within = posting.apply(accounts(a=10000), {}, [usage("a", 500, "k"), usage("a", 600, "k")])
    assert outcomes(within) == [Outcome.APPLIED, Outcome.KEY_REUSED]
    assert within.balances == {"a": 9500}


def test_a_key_is_per_user_and_kind() -> None:
    plan = posting.apply(
        accounts(a=10000, b=10000),
        {("a", "adjustment", "k"): Entry(amount=-1, balance_after=1, id=1)},
        [usage("a", 5, "k"), usage("b", 5, "k")],
    )
    assert outcomes(plan) == [Outcome.APPLIED, Outcome.APPLIED]


def test_a_refused_posting_does_not_take_its_key() -> None:
    held = {"a": Account("a", 100, minimum=0, floor=0, currency="usd")}
    plan = posting.apply(held, {}, [usage("a", 500, "k"), usage("a", 50, "k")])
    assert outcomes(plan) == [Outcome.FLOOR_REACHED, Outcome.APPLIED]
    assert plan.balances == {"a": 50}


def test_the_floor_applies_to_debits_that_enforce_it() -> None:
    held = {"a": Account("a", 0, minimum=0, floor=-1000, currency="usd")}
    plan = posting.apply(
        held,
        {},
        [
            usage("a", 1000, "to-the-floor"),  # exactly the floor: allowed
            usage("a", 1, "past-it"),
            Posting("a", LedgerKind.ADJUSTMENT, -1, "operator"),  # not enforced: allowed
            Posting("a", LedgerKind.ADJUSTMENT, 2, "credit", enforce_floor=True),  # a credit
        ],
    )
    assert outcomes(plan) == [
        Outcome.APPLIED,
        Outcome.FLOOR_REACHED,
        Outcome.APPLIED,
        Outcome.APPLIED,
    ]
    assert plan.balances == {"a": -999}


def test_the_bounds_refuse_only_moves_away_from_zero() -> None:
    held = {"a": Account("a", -BOUND + 2, minimum=0, floor=None, currency="usd")}
    plan = posting.apply(held, {}, [usage("a", 1, "in"), usage("a", 1, "onto"), usage("a", 5, "x")])
    assert outcomes(plan) == [Outcome.APPLIED, Outcome.OUT_OF_RANGE, Outcome.OUT_OF_RANGE]
    assert plan.balances == {"a": -BOUND + 1}
    # From beyond the bound (a recharge credit may leave it there), back towards zero.
    beyond = {"a": Account("a", BOUND + 5, minimum=0, floor=None, currency="usd")}
    assert posting.apply(beyond, {}, [usage("a", 1, "back")]).results[0].ok
    # Not enforced (money that moved at Stripe): never refused.
    refund = Posting("a", LedgerKind.REFUND, -10, "re_1")
    assert posting.apply(held, {}, [refund]).results[0].outcome is Outcome.APPLIED


def test_an_unknown_user_is_reported_and_the_others_still_apply() -> None:
    plan = posting.apply(accounts(a=100), {}, [usage("nobody", 1, "k"), usage("a", 1, "k")])
    assert outcomes(plan) == [Outcome.UNKNOWN_USER, Outcome.APPLIED]
    assert plan.results[0].entry is None and "nobody" not in plan.balances


def test_crossing_the_low_balance_threshold_is_flagged_once() -> None:
    plan = posting.apply(
        accounts(a=15100),
        {},
        [
            usage("a", 100, "onto"),  # 15000: at the minimum is not below it
            usage("a", 1, "cross"),  # 14999: crosses
            usage("a", 1, "deeper"),  # already below: no second event
            Posting("a", LedgerKind.ADJUSTMENT, 5000, "grant"),  # back above
            usage("a", 5000, "again"),  # 19998 → 14998: crosses again
        ],
    )
    assert [r.crossed_low_balance for r in plan.results] == [False, True, False, False, True]


def test_the_users_own_threshold_replaces_the_minimum() -> None:
    own = Account("a", 60000, minimum=15000, floor=None, currency="usd", low_balance=50000)
    assert posting.low_balance_threshold(own) == 50000
    plan = posting.apply({"a": own}, {}, [usage("a", 10001, "k"), usage("a", 40000, "k2")])
    assert [r.crossed_low_balance for r in plan.results] == [True, False]  # 49999, then 9999
    none = Account("a", 100, minimum=None, floor=None, currency="usd")
    assert posting.low_balance_threshold(none) is None
    assert not posting.apply({"a": none}, {}, [usage("a", 200, "k")]).results[0].crossed_low_balance


# ---------------------------------------------------------------------- properties

KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])
POSTINGS = st.lists(
    st.builds(
        Posting,
        user_id=st.sampled_from(["a", "b", "nobody"]),
        kind=st.sampled_from([LedgerKind.USAGE, LedgerKind.ADJUSTMENT]),
        amount=st.integers(-50_000, 50_000).filter(bool),
        reference=KEYS,
        enforce_floor=st.booleans(),
        enforce_bounds=st.booleans(),
    ),
    max_size=25,
)


def _held(balance_a: int, balance_b: int, floor: int | None) -> dict[str, Account]:
    return {
        u: Account(u, b, minimum=15000, floor=floor, currency="usd", low_balance=None)
        for u, b in (("a", balance_a), ("b", balance_b))
    }


@given(
    st.integers(-BOUND + 1, BOUND - 1),
    st.integers(-100_000, 100_000),
    st.one_of(st.none(), st.integers(-100_000, 0)),
    POSTINGS,
    st.sets(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["usage"]), KEYS)),
)
def test_the_plan_is_consistent(
    balance_a: int,
    balance_b: int,
    floor: int | None,
    postings: Sequence[Posting],
    taken: set[tuple[str, str, str]],
) -> None:
    held = _held(balance_a, balance_b, floor)
    start = {u: a.balance for u, a in held.items()}
    existing = {key: Entry(amount=-1, balance_after=0, id=i) for i, key in enumerate(taken)}
    plan = posting.apply(held, existing, postings)

    assert len(plan.results) == len(postings)
    applied = [(i, r) for i, r in enumerate(plan.results) if r.outcome is Outcome.APPLIED]
    assert sorted(plan.new_entries) == [i for i, _ in applied]
    for user in start:
        # The ledger is the truth: the balance moves by exactly the applied amounts…
        moved = sum(r.posting.amount for _, r in applied if r.posting.user_id == user)
        assert held[user].balance == start[user] + moved
        assert plan.balances.get(user, start[user]) == held[user].balance
        # …and each entry's balance_after is the running balance.
        running = start[user]
        for _, r in applied:
            if r.posting.user_id == user:
                running += r.posting.amount
                assert r.entry is not None and r.entry.balance_after == running
    # A key is written at most once, whatever the batch repeats; a taken key is never written.
    written = [postings[i].key for i, _ in applied]
    assert len(written) == len(set(written)) and not set(written) & set(existing)
    for r in plan.results:
        if r.outcome is Outcome.REPLAYED:
            assert r.entry is not None and r.entry.amount == r.posting.amount
        if r.outcome is Outcome.KEY_REUSED:
            assert r.entry is not None and r.entry.amount != r.posting.amount
        if r.outcome is Outcome.FLOOR_REACHED:
            assert r.posting.enforce_floor and r.posting.amount < 0 and floor is not None
        if r.outcome is Outcome.UNKNOWN_USER:
            assert r.posting.user_id == "nobody"
    # Floors and bounds hold for every posting that enforces them.
    for _, r in applied:
        assert r.entry is not None
        if r.posting.enforce_floor and r.posting.amount < 0 and floor is not None:
            assert r.entry.balance_after >= floor
        if r.posting.enforce_bounds:
            before = r.entry.balance_after - r.posting.amount
            assert abs(r.entry.balance_after) < BOUND or abs(r.entry.balance_after) <= abs(before)


@given(st.integers(-100_000, 100_000), POSTINGS)
def test_a_batch_replayed_whole_moves_nothing(balance: int, postings: Sequence[Posting]) -> None:
    """The same batch again, against what the first one wrote: every posting replays or is
    refused again; no balance moves."""
    held = _held(balance, balance, None)
    first = posting.apply(held, {}, postings)
    written = {postings[i].key: entry for i, entry in first.new_entries.items()}
    after = {u: a.balance for u, a in held.items()}
    again = posting.apply(held, written, postings)
    assert not again.new_entries and not again.balances
    assert {u: a.balance for u, a in held.items()} == after
    for r1, r2 in zip(first.results, again.results, strict=True):
        if r1.outcome in {Outcome.APPLIED, Outcome.REPLAYED}:
            assert r2.outcome is Outcome.REPLAYED
