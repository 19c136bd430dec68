"""How a worker shares its delivery slots between endpoints (``domain.webhooks.pick_fairly``):
turns, a cap per healthy endpoint, one each and half the slots for endpoints on probation."""

from __future__ import annotations

from balance_manager.domain.webhooks import Candidate, Shares, pick_fairly


def _due(endpoint: str, count: int, *, probation: bool = False) -> list[Candidate[str]]:
    return [Candidate(endpoint, probation, f"{endpoint}{n}") for n in range(count)]


def test_endpoints_take_turns_oldest_first() -> None:
    due = _due("a", 3) + _due("b", 3) + _due("c", 1)
    assert pick_fairly(due, busy={}, shares=Shares(slots=5, per_endpoint=4)) == [
        "a0",
        "b0",
        "c0",
        "a1",
        "b1",
    ]


def test_a_healthy_endpoint_holds_at_most_its_share() -> None:
    due = _due("a", 10) + _due("b", 1)
    shares = Shares(slots=16, per_endpoint=3)
    assert pick_fairly(due, busy={}, shares=shares) == ["a0", "b0", "a1", "a2"]
    assert pick_fairly(due, busy={"a": 2}, shares=shares) == ["a0", "b0"]
    assert pick_fairly(due, busy={"a": 3, "b": 1}, shares=shares) == ["b0"]  # b's is new


def test_no_slot_no_pick() -> None:
    assert pick_fairly(_due("a", 3), busy={"x": 4}, shares=Shares(4, 4)) == []
    assert pick_fairly([], busy={}, shares=Shares(4, 4)) == []


def test_healthy_endpoints_go_before_those_on_probation() -> None:
    due = _due("failing", 2, probation=True) + _due("ok", 2)  # the failing one's are older
    assert pick_fairly(due, busy={}, shares=Shares(slots=1, per_endpoint=4)) == ["ok0"]
    assert pick_fairly(due, busy={}, shares=Shares(slots=4, per_endpoint=4)) == [
        "ok0",
        "failing0",
        "ok1",
    ]


def test_an_endpoint_on_probation_has_one_in_flight() -> None:
    due = _due("new", 5, probation=True)
    assert pick_fairly(due, busy={}, shares=Shares(16, 4)) == ["new0"]
    assert pick_fairly(due, busy={"new": 1}, shares=Shares(16, 4)) == []


def test_fifty_hanging_endpoints_hold_half_the_slots_and_the_healthy_one_its_share() -> None:
    hanging = [c for n in range(50) for c in _due(f"hang{n:02}", 3, probation=True)]
    due = hanging + _due("ok", 10)
    shares = Shares(slots=16, per_endpoint=4)
    first = pick_fairly(due, busy={}, shares=shares)
    assert first[0] == "ok0"  # its deliveries are the newest, yet it goes first
    assert sum(job.startswith("ok") for job in first) == 4
    assert [job for job in first if job.startswith("hang")] == [f"hang{n:02}0" for n in range(8)]
    # Those eight hang (each until the timeout): no other endpoint on probation gets a slot,
    # the healthy one keeps getting its own.
    busy = {f"hang{n:02}": 1 for n in range(8)}
    on_probation = set(busy)
    assert pick_fairly(due, busy=busy, probation=on_probation, shares=shares) == [
        "ok0",
        "ok1",
        "ok2",
        "ok3",
    ]
    assert pick_fairly(due, busy={**busy, "ok": 4}, probation=on_probation, shares=shares) == []


def test_a_delivery_in_flight_under_probation_counts_even_when_its_endpoint_has_nothing_due() -> (
    None
):
    due = _due("other", 1, probation=True)
    shares = Shares(slots=4, per_endpoint=4)  # two slots for probation
    assert pick_fairly(due, busy={"a": 1, "b": 1}, probation={"a", "b"}, shares=shares) == []
    assert pick_fairly(due, busy={"a": 1, "b": 1}, shares=shares) == ["other0"]  # healthy a, b


def test_the_probation_share_is_half_the_slots_and_at_least_one() -> None:
    assert Shares(16, 4).probation_slots == 8
    assert Shares(3, 4).probation_slots == 1
    assert Shares(2, 1).probation_slots == 1
