"""What the routes share: settings, the database, the token signer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.auth.tokens import TokenSigner
from balance_manager.payments.gateway import StripeGateway
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory

if TYPE_CHECKING:
    from balance_manager.recharge.worker import Wakeup, Worker


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    tokens: TokenSigner
    # None when no STRIPE_SECRET_KEY is configured: payment routes then answer 503.
    gateway: StripeGateway | None = None
    wakeup: Wakeup | None = None  # nudges the embedded worker after a commit
    worker: Worker | None = None  # executes manual recharges inline


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
