"""Strings the databases can store. Pure.

PostgreSQL refuses a NUL character in ``text``/``varchar`` (an error, so a 500 if it got
that far) and SQLite stores it, cutting the value short for C-string readers; a lone UTF-16
surrogate (``"\\ud800"`` in JSON) cannot be encoded as UTF-8 at all. Every string that comes
from outside (request bodies, path ids, webhook payloads) is checked here before it can reach
a statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return "contains a lone surrogate (not valid Unicode)"


@dataclass(frozen=True, slots=True)
class Unstorable:
    """Where in a JSON document an unstorable string is, and why."""

    path: tuple[str | int, ...]  # keys and list indexes from the document's root
    reason: str
    in_key: bool = False  # the object key at ``path`` is itself the bad string


def find(document: object, path: tuple[str | int, ...] = ()) -> Unstorable | None:
    """The first unstorable string (value or object key) in a parsed JSON document."""
    return next(_walk(document, path), None)


def _walk(node: object, path: tuple[str | int, ...]) -> Iterator[Unstorable]:
    # Iterative, so a deeply nested document cannot exhaust the recursion limit.
    stack: list[tuple[object, tuple[str | int, ...]]] = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            reason = problem(item)
            if reason is not None:
                yield Unstorable(where, reason)
        elif isinstance(item, dict):
            for key, value in item.items():
                key_reason = problem(key) if isinstance(key, str) else None
                if key_reason is not None:
                    yield Unstorable(where, key_reason, in_key=True)
                stack.append((value, (*where, str(key))))
        elif isinstance(item, list):
            stack.extend((value, (*where, i)) for i, value in reversed(list(enumerate(item))))


def dotted(path: tuple[str | int, ...]) -> str | None:
    """("events", 3, "amount") → "events[3].amount" (the API's way of naming a field)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out or None
