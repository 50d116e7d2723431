"""The service's wall clock: epoch seconds derived from trio's clock.

Actors read time only through this, so tests under `MockClock` run hours in seconds and stamp
samples with simulated epoch times that match the simulator's. A clock that follows the system's
(`WallClock.following`) is re-anchored by `keep_anchored` when the system clock is stepped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import attrs
import trio

log = logging.getLogger(__name__)

REANCHOR_EVERY_S = 60.0
"""How often the system clock is compared with ours."""
REANCHOR_THRESHOLD_S = 0.25
"""A difference beyond this is a step (NTP, an operator) and moves our anchor. Without steps
both follow the same slewed kernel clock, so reading them costs microseconds of difference;
systemd-timesyncd steps from 0.4 s on."""


@attrs.define(eq=False)
class WallClock:
    start_epoch_s: float
    """Epoch seconds at trio time `start_trio`."""
    start_trio: float
    real_time: Callable[[], float] | None = None
    """The system clock this one follows (`time.time`); None: a fixed anchor, never moved
    (tests and benchmarks on the simulator's epoch)."""

    @classmethod
    def starting_now(cls, epoch_s: float | None = None) -> WallClock:
        """Anchored at `epoch_s` now; without it, following the system clock."""
        if epoch_s is None:
            return cls.following(time.time)
        return cls(epoch_s, trio.current_time())

    @classmethod
    def following(cls, real_time: Callable[[], float]) -> WallClock:
        """Anchored on `real_time()` now; `keep_anchored` moves the anchor when it is stepped."""
        return cls(real_time(), trio.current_time(), real_time)

    def now(self) -> float:
        return self.start_epoch_s + (trio.current_time() - self.start_trio)

    def trio_time_at(self, epoch_s: float) -> float:
        return self.start_trio + (epoch_s - self.start_epoch_s)

    async def sleep_until(self, epoch_s: float) -> None:
        await trio.sleep_until(self.trio_time_at(epoch_s))

    def reanchor(self) -> float:
        """Anchor on the system clock now; the step (seconds, + when it moved forward)."""
        if self.real_time is None:
            return 0.0
        real, trio_now = self.real_time(), trio.current_time()
        step_s = real - (self.start_epoch_s + (trio_now - self.start_trio))
        self.start_epoch_s, self.start_trio = real, trio_now
        return step_s


async def keep_anchored(
    clock: WallClock,
    *,
    every_s: float = REANCHOR_EVERY_S,
    threshold_s: float = REANCHOR_THRESHOLD_S,
) -> None:
    """Every `every_s`, compare the system clock with `clock`; past `threshold_s`, re-anchor and
    log the step once. Returns at once for a fixed anchor.

    Times already turned into trio deadlines keep them; epoch times stored before a backward step
    (the budget's lanes, the poll schedule) are that much later in the new time.
    """
    if clock.real_time is None:
        return
    next_check = trio.current_time() + every_s
    while True:
        await trio.sleep_until(next_check)
        next_check += every_s
        if abs(clock.real_time() - clock.now()) > threshold_s:
            step_s = clock.reanchor()
            log.warning(
                "the system clock was stepped by %+.3f s (NTP?): the wall clock is re-anchored",
                step_s,
            )
