"""Secrets the service must read back, kept encrypted at rest: the operator webhook endpoints'
signing secrets (they sign every delivery, so they cannot be hashed like API keys).

Fernet (``cryptography``): AES-128-CBC with an HMAC-SHA256 over it, so a value that was
tampered with or encrypted under another key is refused, never misread. ``SECRETS_KEY`` holds
one or more comma-separated Fernet keys (``MultiFernet``): the first encrypts, every one
decrypts — rotation is: put a new key first, keep the old one after it, re-encrypt
(:meth:`SecretBox.reseal`: start-up does it, or ``balance-manager webhooks seal-secrets``),
then drop the old key.

Each stored value says which form it is in (``CLEAR`` for rows written before encryption,
which start-up encrypts; ``FERNET``). No message here ever contains a secret or a key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

CLEAR = "clear"
FERNET = "fernet"
FORMS = (CLEAR, FERNET)
MAKE_A_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SecretsKeyError(Exception):
    """SECRETS_KEY is missing, or cannot decrypt a stored value; the message says which."""


def parse_keys(text: str) -> list[Fernet]:
    """``"key1,key2"`` → the keys, newest (the one that encrypts) first. Raises ValueError
    naming the position of a key that is not one (never the key itself)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"must hold at least one Fernet key; make one with {MAKE_A_KEY}")
    keys: list[Fernet] = []
    for position, part in enumerate(parts, start=1):
        try:
            keys.append(Fernet(part))
        except ValueError:
            raise ValueError(
                f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes); "
                f"make one with {MAKE_A_KEY}"
            ) from None
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts under ``SECRETS_KEY`` (``keys``: its value; None when unset)."""

    def __init__(self, keys: str | None) -> None:
        parsed = parse_keys(keys) if keys else []
        self._first = parsed[0] if parsed else None
        self._all = MultiFernet(parsed) if parsed else None

    @property
    def configured(self) -> bool:
        return self._all is not None

    def _keys(self) -> MultiFernet:
        if self._all is None:
            raise SecretsKeyError(
                "SECRETS_KEY is not set: it encrypts operator webhook secrets at rest; "
                f"make one with {MAKE_A_KEY}"
            )
        return self._all

    def seal(self, secret: str) -> tuple[str, str]:
        """``(stored value, form)`` of a secret, encrypted under the first key."""
        return self._keys().encrypt(secret.encode()).decode(), FERNET

    def open(self, value: str, form: str) -> str:
        """The secret a stored value holds."""
        if form == CLEAR:
            return value
        try:
            return self._keys().decrypt(value.encode()).decode()
        except InvalidToken:
            raise SecretsKeyError(
                "SECRETS_KEY cannot decrypt a stored secret: keep the key it was encrypted "
                "with in SECRETS_KEY (comma-separated, the newest first)"
            ) from None

    def is_current(self, value: str, form: str) -> bool:
        """Encrypted under the first key (nothing to re-encrypt)."""
        if form != FERNET or self._first is None:
            return False
        try:
            self._first.decrypt(value.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, value: str, form: str) -> tuple[str, str]:
        """The stored value encrypted under the first key (a clear one encrypted)."""
        return self.seal(self.open(value, form))
