"""Persistence: tables, engine set-up, migrations. Nothing here commits on its own."""
