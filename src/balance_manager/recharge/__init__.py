"""Recharges: status, history (and, with the engine, triggers, worker and sweeper)."""
