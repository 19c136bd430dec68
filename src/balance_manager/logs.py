"""structlog set-up: console lines for people, JSON lines for log pipelines."""

from __future__ import annotations

import logging

import structlog


def configure(level: str = "info", fmt: str = "console") -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=numeric, format="%(message)s")
    # Alembic narrates every step at INFO ("setup plugin …", "Will assume transactional
    # DDL"); store.migrate logs what a migration changed, so keep only its warnings.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
