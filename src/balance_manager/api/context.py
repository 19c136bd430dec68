"""What the routes share: the use cases' services, the token signer, the key verifier."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.auth.api_keys import KeyVerifier
from balance_manager.auth.tokens import TokenSigner
from balance_manager.payments.gateway import StripeGateway
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.usecases.services import Services


class Background(Protocol):
    """Work a process runs beside its API: the embedded recharge worker, wired by
    ``runtime.compose``."""

    async def run(self, stop: asyncio.Event) -> None: ...

    @property
    def listening(self) -> bool | None:
        """Whether its LISTEN connection is up (None: the database has no LISTEN)."""


@dataclass(frozen=True, slots=True)
class AppContext:
    services: Services
    tokens: TokenSigner
    keys: KeyVerifier
    background: Background | None = None  # the embedded worker, when this process runs one

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def engine(self) -> AsyncEngine:
        return self.services.engine

    @property
    def sessions(self) -> SessionFactory:
        return self.services.sessions

    @property
    def gateway(self) -> StripeGateway | None:
        return self.services.gateway


async def get_context(request: Request) -> AppContext:
    # async: a sync dependency would send every request through the thread pool.
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_services(request: Request) -> Services:
    svc: Services = request.app.state.ctx.services
    return svc
