"""The recharge engine's fixtures (the app on the Stripe sandbox, a worker, a test clock)."""

from tests.recharge.conftest import engine_app, worked_example_user

__all__ = ["engine_app", "worked_example_user"]
