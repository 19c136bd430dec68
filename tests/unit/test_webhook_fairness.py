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


def test_healthy_endpoints_use_every_free_slot_when_nothing_else_waits() -> None:
    due = [c for name in "abcde" for c in _due(name, 10)]
    picked = pick_fairly(due, busy={}, shares=Shares(slots=16, per_endpoint=4))
    assert len(picked) == 16 and picked[:5] == ["a0", "b0", "c0", "d0", "e0"]


def test_attempts_that_turned_slow_leave_the_healthy_half_free() -> None:
    """Endpoints that were healthy and started to hang: their attempts count on probation's
    side once slow, so the healthy half stays usable even with every slot held."""
    shares = Shares(slots=16, per_endpoint=4)
    hanging = {f"was-ok{n:02}": 1 for n in range(16)}  # 16 slow attempts: all the slots
    due = _due("ok", 10) + _due("other", 10) + _due("was-ok00", 3)
    picked = pick_fairly(due, busy=hanging, probation=set(hanging), shares=shares)
    assert picked == ["ok0", "other0", "ok1", "other1", "ok2", "other2", "ok3", "other3"]
    # While they are young (not yet known to hang) they count as healthy: no room.
    assert pick_fairly(due, busy=hanging, shares=shares) == []


def test_endpoints_on_probation_never_go_past_the_slots() -> None:
    shares = Shares(slots=16, per_endpoint=4)
    healthy = {f"ok{n}": 4 for n in range(4)}  # every slot held by healthy endpoints
    assert pick_fairly(_due("new", 1, probation=True), busy=healthy, shares=shares) == []


def test_attempts_that_turned_slow_stop_new_ones_at_four_times_the_slots() -> None:
    shares = Shares(slots=4, per_endpoint=4)
    slow = {f"was-ok{n:02}": 1 for n in range(15)}
    assert pick_fairly(_due("ok", 5), busy=slow, probation=set(slow), shares=shares) == ["ok0"]
    slow["was-ok15"] = 1
    assert pick_fairly(_due("ok", 5), busy=slow, probation=set(slow), shares=shares) == []


def test_endpoints_that_just_answered_go_first_and_keep_their_own_half() -> None:
    shares = Shares(slots=16, per_endpoint=4)
    due = _due("older", 3) + _due("ok", 3)
    assert pick_fairly(due, busy={}, trusted={"ok": 1.0}, shares=Shares(2, 4)) == ["ok0", "older0"]
    # Sixteen attempts just started at endpoints not yet known to hang fill the slots; the
    # endpoint that answered a moment ago still gets its share, the others wait.
    young = {f"h{n:02}": 1 for n in range(16)}
    assert pick_fairly(due, busy=young, trusted={"ok": 1.0}, shares=shares) == ["ok0", "ok1", "ok2"]
    assert pick_fairly(due, busy=young, shares=shares) == []
    # Past the hard limit too, but no further than its own share.
    slow = {f"h{n:02}": 1 for n in range(64)}
    picked = pick_fairly(due, busy=slow, probation=set(slow), trusted={"ok": 1.0}, shares=shares)
    assert picked == ["ok0", "ok1", "ok2"]
    assert pick_fairly(due, busy={**slow, "ok": 4}, probation=set(slow), shares=shares) == []


def test_a_trusted_endpoint_that_turned_slow_is_on_probation() -> None:
    shares = Shares(slots=16, per_endpoint=4)
    due = _due("ok", 3)
    assert (
        pick_fairly(due, busy={"ok": 1}, probation={"ok"}, trusted={"ok": 1.0}, shares=shares) == []
    )


def test_the_endpoint_that_answered_last_goes_first() -> None:
    due = _due("quiet", 2) + _due("chatty", 2)
    answered = {"quiet": 10.0, "chatty": 12.5}
    assert pick_fairly(due, busy={}, trusted=answered, shares=Shares(2, 4)) == ["chatty0", "quiet0"]
