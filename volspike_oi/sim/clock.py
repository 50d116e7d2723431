"""The simulator's wall clock: Binance epoch milliseconds derived from trio's clock.

Reading trio's clock (never `time.time()`) lets a test under `MockClock` run an hour of the
simulated exchange in seconds while every timestamp, window and ban stays consistent.
"""

from __future__ import annotations

import math

import attrs
import trio

MINUTE_MS = 60_000


@attrs.frozen
class SimClock:
    """Maps trio time to epoch ms: `start_epoch_ms` is the epoch at trio time `start_trio`."""

    start_epoch_ms: int
    """Epoch milliseconds at the simulator's start; a whole second so market steps align."""
    start_trio: float
    """`trio.current_time()` at the simulator's start."""

    @classmethod
    def starting_now(cls, start_epoch_ms: int) -> SimClock:
        # Anchored on the whole second before `start_epoch_ms`, that much earlier on trio's
        # clock: ticks fall on whole seconds and the clock still reads `start_epoch_ms` now
        # (rounding the epoch alone put a standalone simulator up to 1 s behind the system).
        into_second_ms = start_epoch_ms % 1000
        return cls(start_epoch_ms - into_second_ms, trio.current_time() - into_second_ms / 1000)

    def now_ms(self) -> int:
        # The epsilon keeps 59.99999999 s of float drift from landing in the previous minute.
        return self.start_epoch_ms + math.floor(
            (trio.current_time() - self.start_trio) * 1000 + 1e-6
        )

    def trio_time_at(self, epoch_ms: int) -> float:
        return self.start_trio + (epoch_ms - self.start_epoch_ms) / 1000

    def step_at(self, epoch_ms: int) -> int:
        """Index of the last whole simulated second at `epoch_ms` (0 at the start)."""
        return (epoch_ms - self.start_epoch_ms) // 1000
