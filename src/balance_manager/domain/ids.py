"""Identifiers: collision-resistant, URL-safe, cuid-like strings like the original's."""

from __future__ import annotations

import re

from cuid2 import Cuid

_generator = Cuid(length=25)

# Operators may bring their own user ids (their application's); they must be path-safe.
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def new_id() -> str:
    return str(_generator.generate())


def is_valid_user_id(value: str) -> bool:
    return bool(USER_ID_PATTERN.fullmatch(value))
