"""Customer tokens: short-lived HS256 JWTs scoped to one user id (PyJWT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

_ISSUER = "balance-manager"
_AUDIENCE = "customer"
_ALGORITHM = "HS256"
# A customer token lives from a minute to thirty days, whoever mints it (the API's
# ttlSeconds, the CLI's --ttl, CUSTOMER_TOKEN_TTL_SECONDS).
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 30 * 24 * 3600
TTL_RULE = f"must be from {MIN_TTL_SECONDS} seconds to 30 days ({MAX_TTL_SECONDS} seconds)"


def ttl_problem(seconds: object) -> str | None:
    """Why ``seconds`` is not a token lifetime (``TTL_RULE``), or None when it is one."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return "must be a whole number of seconds"
    if not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS:
        return TTL_RULE
    return None


@dataclass(frozen=True, slots=True)
class CustomerToken:
    token: str
    user_id: str
    expires_at: datetime


class InvalidToken(Exception):
    """Expired, tampered, malformed or not a customer token."""


class TokenSigner:
    def __init__(self, secret: str, *, ttl: timedelta) -> None:
        self._secret = secret
        self._ttl = ttl

    def mint(self, user_id: str, *, ttl: timedelta | None = None) -> CustomerToken:
        issued = datetime.now(UTC).replace(microsecond=0)
        expires = issued + (ttl or self._ttl)
        claims = {"iss": _ISSUER, "aud": _AUDIENCE, "sub": user_id, "iat": issued, "exp": expires}
        return CustomerToken(
            jwt.encode(claims, self._secret, algorithm=_ALGORITHM), user_id, expires
        )

    def verify(self, token: str) -> str:
        """The user id the token is scoped to, or InvalidToken."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("token has no user")
        return subject
