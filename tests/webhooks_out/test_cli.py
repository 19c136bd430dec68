"""``balance-manager webhooks …`` as a real subprocess, on both databases."""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.cli.test_cli import last_line, run
from tests.conftest import UserMaker
from tests.webhooks_out.conftest import Hooks
from tests.webhooks_out.receiver import Receiver


async def test_webhooks_create_list_deliveries_resend_update_delete(
    database_url: str, hooks: Hooks, make_user: UserMaker, receiver: Receiver
) -> None:
    created = run(
        database_url, "webhooks", "create", "--url", receiver.url, "--event", "balance.low"
    )
    secret = last_line(created)
    assert secret.startswith("whsec_")
    listed = run(database_url, "webhooks", "list").stdout
    assert receiver.url in listed and "[balance.low]" in listed and "enabled" in listed
    assert secret not in listed  # never shown again
    endpoint = listed.split()[0]

    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await hooks.usage(user, 60, "u1")
    await hooks.dispatcher.run_once()
    (event,) = await hooks.events("balance.low")
    shown = run(database_url, "webhooks", "deliveries", endpoint).stdout
    assert event.event_id in shown and "succeeded" in shown and "last 200" in shown

    resent = run(database_url, "webhooks", "resend", event.event_id)
    assert f"queued {event.event_id} for {endpoint}" in resent.stdout
    hooks.clock.advance(60)  # the CLI's clock is the real one; the test's had stood still
    await hooks.dispatcher.run_once()
    assert receiver.ok_ids() == [event.event_id, event.event_id]
    for request in receiver.got():
        Webhook(secret).verify(request.body, request.headers)

    unknown = run(database_url, "webhooks", "resend", "no-such-event", check=False)
    assert unknown.returncode == 1 and "not found" in unknown.stderr

    disabled = run(database_url, "webhooks", "update", endpoint, "--disable", "--all-events")
    assert "disabled (disabled by the operator)" in disabled.stdout
    assert "all events" in disabled.stdout
    recover = run(
        database_url, "webhooks", "recover", endpoint, "--since", "2020-01-01T00:00Z", check=False
    )
    assert recover.returncode == 1 and "disabled" in recover.stderr
    assert f"deleted {endpoint}" in run(database_url, "webhooks", "delete", endpoint).stdout
    listed_after = await hooks.client.get("/api/webhook-endpoints", headers=hooks.operator)
    assert listed_after.json()["endpoints"] == []
