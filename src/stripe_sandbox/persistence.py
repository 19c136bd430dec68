"""Optional state file: a JSON snapshot written after changes and at shutdown, read at start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path

from .state import SandboxState

log = logging.getLogger(__name__)


class StateFile:
    def __init__(self, path: Path, state: SandboxState, *, interval: float = 0.5) -> None:
        self.path = path
        self.state = state
        self.interval = interval
        self._written = -1
        self._task: asyncio.Task[None] | None = None

    def load(self) -> bool:
        if not self.path.exists():
            return False
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("sandbox state file %s unreadable (%s); starting empty", self.path, exc)
            return False
        self.state.restore(data)
        self._written = self.state.version
        return True

    def save(self) -> None:
        version = self.state.version
        if version == self._written:
            return
        text = json.dumps(self.state.snapshot())
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, self.path)
        self._written = version

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.save()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.save()
            except OSError as exc:
                log.warning("sandbox state file %s not written: %s", self.path, exc)
