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
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(
    r"(?:^|_)(?:token|secret|password|passwd|authorization|api_?key|cookie|cvc|cvv|"
    r"card_?number|client_?secret|signature)$",
    re.IGNORECASE,
)

_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


_RULES: list[_Rule] = [
    (re.compile(r"\b(bmk_[A-Za-z0-9]+)_[A-Za-z0-9_-]+"), rf"\1_{MASK}"),
    (re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+"), rf"\1_\2_{MASK}"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), f"whsec_{MASK}"),
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), rf"\1_secret_{MASK}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), rf"\1 {MASK}"),
    (re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])"), _card),
    (
        re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"),
        rf"\1{MASK}@\2",
    ),
]
# Cheap pre-check: a string without any of these cannot match a rule.
_HINT = re.compile(r"bmk_|sk_|rk_|whsec_|_secret_|eyJ|(?i:bearer)|\d{4}|@")


def text(value: str) -> str:
    """``value`` with every secret masked."""
    if not _HINT.search(value):
        return value
    for pattern, replacement in _RULES:
        value = pattern.sub(replacement, value)
    return value


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


def processor(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
    """The structlog processor: masks every value of the event dict (put it after
    ``format_exc_info`` so tracebacks are masked too)."""
    for key, item in event.items():
        if key.startswith("_"):  # structlog's own bookkeeping (the stdlib record)
            continue
        event[key] = MASK if _secret_key(key) and item is not None else value(item)
    return event
