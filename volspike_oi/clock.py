"""The service's wall clock: epoch seconds derived from trio's clock.

Actors read time only through this, so tests under `MockClock` run hours in seconds and stamp
samples with simulated epoch times that match the simulator's.
"""

from __future__ import annotations

import time

import attrs
import trio


@attrs.frozen
class WallClock:
    start_epoch_s: float
    """Epoch seconds at trio time `start_trio`."""
    start_trio: float

    @classmethod
    def starting_now(cls, epoch_s: float | None = None) -> WallClock:
        # The real wall clock is read once, here; everything after follows trio's clock.
        return cls(time.time() if epoch_s is None else epoch_s, trio.current_time())

    def now(self) -> float:
        return self.start_epoch_s + (trio.current_time() - self.start_trio)

    def trio_time_at(self, epoch_s: float) -> float:
        return self.start_trio + (epoch_s - self.start_epoch_s)

    async def sleep_until(self, epoch_s: float) -> None:
        await trio.sleep_until(self.trio_time_at(epoch_s))
