"""Garbage-collector settings for long-running service processes.

A process of this service holds a large, long-lived heap (the app, its routes and models,
SQLAlchemy's metadata, Pydantic's validators) and allocates many short-lived objects per
request. With CPython's defaults the collector runs every 700 net allocations and, every
hundred or so of those, walks that whole long-lived heap: on the usage path that was about a
third of the CPU and most of the p99 (see ``bench/README.md``). Two standard remedies:

- ``gc.freeze()`` once start-up is done moves everything alive then to a permanent
  generation the collector never walks again;
- a higher first-generation threshold collects young cycles less often (nearly all request
  garbage is freed by reference counting anyway, the collector only finds cycles).
"""

from __future__ import annotations

import gc

# Young-generation threshold, then the default-like ratios for the older generations.
THRESHOLDS = (10_000, 20, 50)


def settle_after_startup() -> None:
    """Call once the process has built everything it keeps for its lifetime."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
