"""What one running sandbox holds, handed to the route modules that need more than the state.

Its own module so that ``app`` (which builds it) and the route modules (which read it) both
import it, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from .api import ApiApp
from .persistence import StateFile
from .state import SandboxState
from .webhooks import WebhookDispatcher


@dataclass
class Runtime:
    """Everything one running sandbox holds, for the routes that need more than the state."""

    state: SandboxState
    api: ApiApp
    dispatcher: WebhookDispatcher
    secret_key: str
    publishable_key: str
    state_file: StateFile | None
