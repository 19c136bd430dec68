"""The debit as hand-written SQL against the product's schema: the floor the API is measured
against (the minimal endpoint, pgbench and the set-based batch all run these statements).

One debit = lock the user row, insert the ledger entry under the unique
``(user_id, kind, reference)`` constraint (a replayed key inserts nothing and so changes
nothing), move the cached balance — one statement, one round trip. No auth, no floor rule,
no recharge decision: that is what the service adds on top.
"""

from __future__ import annotations

# $1 user id, $2 amount in minor units (positive), $3 idempotency key.
DEBIT_SQL = """
WITH locked AS (
    SELECT id, balance FROM users WHERE id = $1 FOR UPDATE
), entry AS (
    INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, created_at)
    SELECT id, 'usage', -$2::bigint, balance - $2::bigint, $3, now() FROM locked
    ON CONFLICT (user_id, kind, reference) DO NOTHING
    RETURNING user_id, balance_after
)
UPDATE users SET balance = entry.balance_after, updated_at = now()
FROM entry WHERE users.id = entry.user_id
RETURNING users.balance
"""

# Many debits in one statement: $1 user ids, $2 amounts (minor units, positive), $3 keys, in
# event order. Users are locked in id order (no deadlock between concurrent batches); each
# entry's balance_after is the running balance in event order.
BATCH_SQL = """
WITH events AS (
    SELECT user_id, amount, reference, n
    FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS e(user_id, amount,
        reference, n)
), locked AS (
    SELECT id, balance FROM users WHERE id IN (SELECT user_id FROM events)
    ORDER BY id FOR UPDATE
), entries AS (
    INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reference, created_at)
    SELECT e.user_id, 'usage', -e.amount,
           l.balance - sum(e.amount) OVER (PARTITION BY e.user_id ORDER BY e.n),
           e.reference, now()
    FROM events e JOIN locked l ON l.id = e.user_id
    ON CONFLICT (user_id, kind, reference) DO NOTHING
    RETURNING user_id, amount
), totals AS (
    SELECT user_id, sum(amount) AS delta FROM entries GROUP BY user_id
)
UPDATE users SET balance = users.balance + totals.delta, updated_at = now()
FROM totals WHERE users.id = totals.user_id
"""


def pgbench_script(*, user_prefix: str, users: int, key_prefix: str) -> str:
    """DEBIT_SQL as a pgbench custom script: a random user of ``users``, one minor unit, a
    key made unique by the client id and a 63-bit random number."""
    debit = " ".join(
        DEBIT_SQL.replace("$1", f"('{user_prefix}' || :uid)")
        .replace("$2", "1")
        .replace("$3", f"('{key_prefix}-' || :client_id || '-' || :r)")
        .split()
    )
    return f"\\set uid random(1, {users})\n\\set r random(1, 9000000000000000000)\n{debit};\n"
