"""Fixtures of the integration tier beyond the shared ones (``tests/conftest.py``)."""

from tests.integration.webhook_support import svc  # noqa: F401  (operator webhook tests)
