"""The chaos run: the service as it is deployed on PostgreSQL (API processes and workers as
real processes, the Stripe sandbox as a process of its own, webhooks on) under usage storms,
while the run SIGKILLs workers and API servers at random moments, terminates database
connections and injects Stripe faults (500, 429, timeouts, lost responses); then it lets the
system settle and checks the invariants (``invariants.py``).

    python -m tests.chaos --rounds 40 --users 40        # the full size (README figures)
    python -m tests.chaos --size ci                      # what tests/chaos/test_chaos.py runs

It needs PostgreSQL (``TEST_POSTGRES_URL``, as the test suite) and creates and drops a
database of its own.
"""
