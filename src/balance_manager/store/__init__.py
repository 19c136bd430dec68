"""Persistence: tables (``models``), engine set-up (``db``), migrations, and the Core SQL of each
aggregate (``ledger``, ``recharges``, ``webhooks``, ``outbox``, ``anomalies``, …; read-only
counts in ``aggregates``). Nothing here commits on its own: the use case owns the transaction.

May import ``domain`` and SQLAlchemy/Alembic; never usecases, api, web, runtime or cli.
"""
