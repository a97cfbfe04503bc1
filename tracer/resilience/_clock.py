"""Clocks and sleeps, injected everywhere so that tests never wait (STYLE.md rule 4).

Every class in `tracer.resilience` takes `clock=` (a monotonic `() -> float` in seconds) and, where it waits,
`sleep=` / `async_sleep=`. `ManualClock` provides all three over a time that only moves when something sleeps
or the test calls `advance()`, and keeps the list of sleeps, so a test can assert "waited exactly 1.5 s".
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
"""A monotonic clock in seconds: `time.monotonic` unless a test injects one."""
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]

monotonic: Clock = time.monotonic
sleep: Sleep = time.sleep
async_sleep: AsyncSleep = asyncio.sleep


class ManualClock:
    """A clock that moves only when told to; its `sleep` / `async_sleep` advance it and are recorded.

    >>> clock = ManualClock()
    >>> clock.sleep(1.5); clock()
    1.5
    >>> clock.sleeps
    [1.5]

    Pass it as `clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep` to any `tracer.resilience` class.
    `async_sleep` yields to the event loop once (like `asyncio.sleep(0)`), so other tasks run meanwhile.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)
