"""One clock abstraction for the operating half: real time, or simulated time that a test or a
replay drives. Loops sleep to absolute deadlines (next = start + k x period), never "period after the
work", so that they do not drift."""
from __future__ import annotations

import asyncio
import time


class RealClock:
    """Wall-clock time (UTC epoch seconds)."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class SimulatedClock:
    """Time that moves only when a sleeper asks for a later deadline: a week of cycles runs as fast
    as the machine allows, in order."""

    def __init__(self, start: float = 0.0):
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)
        await asyncio.sleep(0)
