"""A venue's request budget: a GCRA bucket on trio's clock, with holds (pure but for sleeping).

Binance has its own weight budget (`budget.py`: per-IP minute weights, other processes on the
IP). The other venues publish simpler rules (Bybit 600 requests per 5 s per IP, OKX 20 per 2 s
per endpoint, Deribit credits of 20/s with a burst of 100, Hyperliquid 1200 weight per minute),
which one bucket per rule expresses: `rate` requests per `period_s`, `burst` at once. A
refusal puts the bucket on hold until the venue's time, so no request is sent into a ban.
"""

from __future__ import annotations

import attrs
import trio


@attrs.define
class RateLimiter:
    """`acquire(cost)` waits until `cost` more units fit: at most `rate` per `period_s` on
    average and `burst` at once (GCRA: one number, the theoretical arrival time).

    Not `budget.Gcra`: there a burst is weight allowed ahead of the rate beside the request,
    whatever its weight; a venue's "N at once" includes the request, so a heavy call
    (Hyperliquid's weight 20) must fit inside `burst` itself."""

    rate: float
    period_s: float
    burst: float = 1.0
    margin: float = 0.1
    """Share of the venue's limit never used: other processes, clock skew, the venue's rounding."""
    _tat: float = attrs.field(default=float("-inf"), init=False)
    held_until: float = attrs.field(default=float("-inf"), init=False)
    """Nothing starts before this (trio clock seconds): a venue's refusal or ban."""
    refusals: int = attrs.field(default=0, init=False)

    @property
    def interval_s(self) -> float:
        """Seconds per unit at the planned rate."""
        return self.period_s / (self.rate * (1.0 - self.margin))

    def delay(self, now: float, cost: float = 1.0) -> float:
        """Seconds until `cost` units may start (0: now)."""
        tat = max(self._tat, now)
        allowed_at = tat + cost * self.interval_s - self.burst * self.interval_s
        return max(0.0, allowed_at - now, self.held_until - now)

    def take(self, now: float, cost: float = 1.0) -> None:
        self._tat = max(self._tat, now) + cost * self.interval_s

    async def acquire(self, cost: float = 1.0) -> None:
        while True:
            now = trio.current_time()
            wait = self.delay(now, cost)
            if wait <= 0:
                self.take(now, cost)
                return
            await trio.sleep(wait)

    def hold(self, until: float) -> None:
        """The venue refused: nothing starts before `until` (trio clock)."""
        self.refusals += 1
        self.held_until = max(self.held_until, until)

    def held(self, now: float) -> bool:
        return now < self.held_until
