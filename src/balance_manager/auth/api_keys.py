"""Operator API keys: ``bmk_<prefix>_<secret>``, stored as a SHA-256 digest, shown once.

The keys are 256-bit random secrets, so a fast hash is the right tool (no brute-forceable
password to stretch); the public prefix finds the row without scanning.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from cachetools import TTLCache
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain.errors import NotFound
from balance_manager.domain.ids import new_id
from balance_manager.store.db import SessionFactory, retry_on_disconnect
from balance_manager.store.models import ApiKey, utcnow

KEY_SCHEME = "bmk"
# Writing last_used_at on every request would turn each read into a write; once a minute is
# enough to tell an operator which keys are alive.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: str
    name: str
    secret: str  # the only time the full key exists outside the caller's hands


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(KEY_SCHEME + "_")


async def create_key(session: AsyncSession, *, name: str) -> CreatedKey:
    prefix = secrets.token_hex(6)
    secret = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=new_id(), name=name, prefix=prefix, secret_hash=_digest(secret))
    session.add(key)
    await session.flush()
    return CreatedKey(id=key.id, name=name, secret=secret)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())


async def revoke_key(session: AsyncSession, *, key_id_or_prefix: str) -> ApiKey:
    key = await session.scalar(
        select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
    )
    if key is None:
        raise NotFound(f"no API key {key_id_or_prefix!r}", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def verify_key(session: AsyncSession, credential: str) -> ApiKey | None:
    """The active key for ``credential``, or None (unknown, malformed or revoked)."""
    parts = credential.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME:
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(credential)):
        return None
    if key.revoked_at is not None:
        return None
    return key


class KeyVerifier:
    """Operator keys verified without a database transaction per request.

    A key's verdict (valid → its id; unknown or revoked → None) is cached per process for
    ``ttl`` seconds, then checked again: revoking a key takes effect on every process within
    ``ttl``. The check is a read (it never takes SQLite's write lock); ``last_used_at`` is
    written in a short transaction of its own at most once a minute per key.
    """

    def __init__(
        self,
        reads: SessionFactory,
        writes: SessionFactory,
        *,
        ttl: float = 2.0,
        size: int = 10_000,
    ) -> None:
        self._reads = reads
        self._writes = writes
        self._verdicts: TTLCache[str, str | None] = TTLCache(maxsize=size, ttl=ttl)

    async def verify(self, credential: str) -> str | None:
        """The id of the active key for ``credential``, or None."""
        digest = _digest(credential)
        if digest in self._verdicts:
            return self._verdicts[digest]
        verdict = await self._check(credential)
        self._verdicts[digest] = verdict
        return verdict

    @retry_on_disconnect  # every request checks its key: a dead pooled connection is no 500
    async def _check(self, credential: str) -> str | None:
        async with self._reads.begin() as session:
            key = await verify_key(session, credential)
            if key is None:
                return None
            key_id, last_used = key.id, key.last_used_at
        now = utcnow()
        if last_used is None or now - last_used > _LAST_USED_RESOLUTION:
            async with self._writes.begin() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
                )
        return key_id
