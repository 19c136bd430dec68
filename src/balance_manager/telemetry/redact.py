"""Mask secrets before a log line is written: a structlog processor (:func:`processor`) that
every line — ours and the libraries' (uvicorn, SQLAlchemy) — passes through last.

Masked wherever they appear in a string value (including rendered exceptions):

- operator API keys ``bmk_<prefix>_<secret>`` → ``bmk_<prefix>_***`` (the prefix is public);
- Stripe secret and restricted keys ``sk_…``/``rk_…``, webhook secrets ``whsec_…``;
- JSON Web Tokens (customer tokens) and ``Bearer <anything>``;
- client secrets ``pi_…_secret_…`` / ``seti_…_secret_…`` → the intent id is kept;
- card numbers (13–19 digits, spaces or dashes allowed, passing the Luhn check);
- email addresses → ``a***@example.com``.

Values under keys that name a secret (``token``, ``secret``, ``password``, ``authorization``,
``api_key``, ``client_secret``, ``card_number``, ``cvc``, ``cookie``) are replaced whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(
    r"(?:^|_)(?:token|secret|password|passwd|authorization|api_?key|cookie|cvc|cvv|"
    r"card_?number|client_?secret|signature)$",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


# One pass over each string: an alternation of every secret's shape, each a named group, and
# one replacement function that decides (a card number must also pass the Luhn check).
_SECRETS = re.compile(
    r"\b(?P<bmk>bmk_[A-Za-z0-9]+)_[A-Za-z0-9_-]+"
    r"|\b(?P<stripe>(?:sk|rk)_(?:test|live))_[A-Za-z0-9]+"
    r"|\b(?P<whsec>whsec)_[A-Za-z0-9+/=_-]+"
    r"|\b(?P<intent>(?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"
    r"|\b(?P<jwt>eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"
    r"|\b(?P<bearer>[Bb][Ee][Aa][Rr][Ee][Rr])\s+[^\s\"',;]+"
    r"|(?<!\d)(?P<card>\d(?:[ -]?\d){12,18})(?!\d)"
    r"|\b(?P<first>[A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)


def _mask(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "card":
        digits = re.sub(r"[ -]", "", match.group("card"))
        return "[card]" if _luhn(digits) else match.group(0)
    if kind == "jwt":
        return "[jwt]"
    if kind == "domain":  # an email: its first character and its domain are kept
        return f"{match.group('first')}{MASK}@{match.group('domain')}"
    if kind in ("stripe", "bmk", "whsec"):
        return f"{match.group(kind)}_{MASK}"
    if kind == "intent":
        return f"{match.group('intent')}_secret_{MASK}"
    return f"{match.group('bearer')} {MASK}"


def text(value: str) -> str:
    """``value`` with every secret masked."""
    return _SECRETS.sub(_mask, value)


def value(item: Any) -> Any:
    """Mask inside strings, mappings and sequences (other values pass through)."""
    if isinstance(item, str):
        return text(item)
    if isinstance(item, Mapping):
        return {k: MASK if _secret_key(k) else value(v) for k, v in item.items()}
    if isinstance(item, list | tuple):
        return type(item)(value(v) for v in item)
    return item


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


# Fields the set-up itself fills (never from input): no need to scan them.
_OWN = frozenset({"timestamp", "level", "logger", "duration_ms", "status", "method", "route"})


def processor(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
    """The structlog processor: masks every value of the event dict (put it after
    ``format_exc_info`` so tracebacks are masked too)."""
    for key, item in event.items():
        if key.startswith("_") or key in _OWN:  # ours, or structlog's bookkeeping
            continue
        event[key] = MASK if _secret_key(key) and item is not None else value(item)
    return event
