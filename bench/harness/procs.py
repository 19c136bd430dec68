"""Child processes: start them in their own process group, find them in /proc, stop them.

Every process the harness starts is registered here and stopped by ``stop_all`` (called from a
``finally`` and from the SIGTERM handler), so a failure or Ctrl-C leaves nothing running.
CPU time and RSS come from /proc for the whole process tree (``serve --workers N`` forks).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


_started: list[Proc] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path) -> Proc:
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: Ctrl-C reaches us, we stop it
        )
    proc = Proc(name, popen, log)
    _started.append(proc)
    return proc


def wait_http(proc: Proc, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f} s:\n{proc.tail()}")


def wait_line(proc: Proc, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        if text in proc.tail(200):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not print {text!r} within {timeout:.0f} s")


def stop(proc: Proc, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if proc in _started:
        _started.remove(proc)
    if proc.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout)
    # Children of the group (uvicorn workers) may outlive the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(5)


def stop_all() -> None:
    for proc in reversed(list(_started)):
        stop(proc)


# --- /proc ---------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree(pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """``pid`` and its descendants."""
    children = _children() if children is None else children
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree (live processes only)."""
    total = 0
    for p in tree(pid):
        fields = _stat(p)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / _CLK_TCK


def wait_idle(pid: int, *, below: float = 0.1, timeout: float = 15.0) -> None:
    """Wait until the process tree uses less than ``below`` of a core over 0.25 s: the
    requests a finished load left in flight are done before the next measurement starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.25)
        if cpu_seconds(pid) - before < below * 0.25:
            return


def rss_bytes(pid: int, children: dict[int, list[int]] | None = None) -> int:
    """Resident set size of the process tree."""
    total = 0
    for p in tree(pid, children):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except OSError:
            pass
    return total


@dataclass
class RssSampler:
    """Samples the RSS of named processes every ``interval`` seconds in a thread; keeps the
    maximum seen per name. (One pass over /proc a tick: the sampler must stay cheap next to
    the processes it measures.)"""

    interval: float = 0.5
    peaks: dict[str, int] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)  # at start, before any load
    _watch: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, label: str, pid: int) -> None:
        self._watch[label] = pid
        self.first.setdefault(label, rss_bytes(pid))
        self._sample_one(label, pid)

    def unwatch(self, label: str) -> None:
        self._watch.pop(label, None)

    def _sample_one(
        self, label: str, pid: int, children: dict[int, list[int]] | None = None
    ) -> None:
        rss = rss_bytes(pid, children)
        if rss > self.peaks.get(label, 0):
            self.peaks[label] = rss

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                children = _children()
                for label, pid in list(self._watch.items()):
                    self._sample_one(label, pid, children)

        self._thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
