"""The per-IP request weight budget shared by every actor that calls Binance: pure, no I/O.

Binance counts weight per IP in the fixed UTC clock minute (2400 by default) and bans clients
that ignore 429s. `WeightBudget` hands out start times (epoch seconds) for requests:

- lanes are GCRA buckets (we store the *next allowed time*, never a float token count: a
  `sleep(deficit/rate)` bucket spins under MockClock): `oi` for openInterest polls at
  MAX_REQ_PER_MIN, `other` for everything else, `hist` for openInterestHist's own limit;
- it follows Binance's `X-MBX-USED-WEIGHT-1M`: weight the server counted beyond ours is
  "another process on the same IP"; the OI lane slows down so the IP stays under its limit, and
  no request is started that would push the current minute over it;
- after a 429 or 418 every lane holds until Retry-After (or the documented fallback).
"""

from __future__ import annotations

import math
from enum import Enum

import attrs

MINUTE_S = 60.0
DEFAULT_MARGIN = 0.05
"""Share of the IP limit never planned for: headroom for clock skew and estimation error."""
GUARD_FRACTION = 0.01
"""A request is deferred to the next minute when it would bring the minute within 1 % of the limit."""
FALLBACK_429_S = 1.0
"""After a 429 without Retry-After: the rest of the minute plus this."""
FALLBACK_418_S = 120.0
"""After a 418 without Retry-After: Binance's shortest ban."""
BOUNDARY_SKEW_S = 2.0
"""Header readings this close after our minute boundary are ignored: the exchange's clock may
still be in the previous minute, and its count would read as another process's weight."""
MIN_OI_PER_MIN = 30.0
"""The OI lane never plans below this; the minute guard still protects the limit."""
HIST_PER_5MIN = 1000
"""openInterestHist's own limit per IP; we plan for 90 % of it."""


class Lane(Enum):
    OI = "oi"
    OTHER = "other"
    HIST = "hist"


@attrs.define
class Gcra:
    """Generic cell rate algorithm over epoch seconds: at most `rate_per_s` plus `burst`."""

    rate_per_s: float
    burst: float
    """Weight that may start ahead of the steady rate (at least the heaviest single request)."""
    tat: float = -math.inf
    """Theoretical arrival time: when the bucket would be empty at the steady rate."""

    def reserve(self, weight: float, now: float) -> float:
        interval = 1.0 / self.rate_per_s
        start = max(now, self.tat - self.burst * interval)
        self.tat = max(self.tat, start) + weight * interval
        return start


@attrs.frozen
class Reservation:
    start: float
    """Epoch seconds at which the request may be sent."""
    minute: int
    """The UTC minute (epoch seconds // 60) the request is counted in."""
    counted: int
    """Our weight in that minute including this request: what the header should show, minus others."""
    weight: int


@attrs.define
class WeightBudget:
    ip_limit_per_min: int = 2400
    oi_per_min: int = 2000
    """MAX_REQ_PER_MIN: the share planned for openInterest polls."""
    margin: float = DEFAULT_MARGIN
    hold_until: float = -math.inf
    """Epoch seconds before which nothing may be sent (after a 429/418)."""
    hold_reason: str = ""
    lanes: dict[Lane, Gcra] = attrs.Factory(dict)
    sent_by_minute: dict[int, int] = attrs.Factory(dict)
    """Our weight per UTC minute, by the minute each request starts in."""
    foreign_by_minute: dict[int, int] = attrs.Factory(dict)
    """Latest weight the server counted beyond ours, per minute (another process on our IP).
    The latest, not the largest: one misread response must not stick for the whole minute."""
    last_server_used: int = 0
    last_server_minute: int = -1

    def __attrs_post_init__(self) -> None:
        if not self.lanes:
            self.lanes = {
                Lane.OI: Gcra(
                    self.oi_per_min / MINUTE_S, burst=max(2.0, self.oi_per_min / MINUTE_S)
                ),
                Lane.OTHER: Gcra(self.other_per_min / MINUTE_S, burst=50.0),
                Lane.HIST: Gcra(0.9 * HIST_PER_5MIN / 300.0, burst=5.0),
            }

    @property
    def plannable_per_min(self) -> float:
        return self.ip_limit_per_min * (1.0 - self.margin)

    @property
    def other_per_min(self) -> float:
        return max(60.0, self.plannable_per_min - self.oi_per_min)

    # -- what the server tells us ------------------------------------------------------------

    def foreign_per_min(self, now: float) -> float:
        """Estimated weight per minute spent by others on our IP."""
        minute = int(now // MINUTE_S)
        previous = self.foreign_by_minute.get(minute - 1, 0)
        current = self.foreign_by_minute.get(minute, 0)
        elapsed = max((now % MINUTE_S) / MINUTE_S, 0.2)
        return max(previous, current / elapsed)

    def oi_rate_per_min(self, now: float) -> float:
        """The OI lane's rate now: MAX_REQ_PER_MIN, less what others on the IP are using."""
        room = self.plannable_per_min - self.other_per_min - self.foreign_per_min(now)
        return max(MIN_OI_PER_MIN, min(float(self.oi_per_min), room))

    def observe(self, reservation: Reservation, used_weight: int, now: float) -> None:
        """Record the X-MBX-USED-WEIGHT-1M of a response to `reservation`."""
        minute = int(now // MINUTE_S)
        into_minute = now - minute * MINUTE_S
        if (
            minute == reservation.minute
            and reservation.start - minute * MINUTE_S >= BOUNDARY_SKEW_S
        ):
            self.foreign_by_minute[minute] = max(0, used_weight - reservation.counted)
        if minute >= self.last_server_minute and into_minute >= BOUNDARY_SKEW_S:
            self.last_server_minute, self.last_server_used = minute, used_weight
        self._retune(now)
        for old in [m for m in self.sent_by_minute if m < minute - 2]:
            del self.sent_by_minute[old]
        for old in [m for m in self.foreign_by_minute if m < minute - 2]:
            del self.foreign_by_minute[old]

    def _retune(self, now: float) -> None:
        lane = self.lanes[Lane.OI]
        rate = self.oi_rate_per_min(now) / MINUTE_S
        if not math.isclose(rate, lane.rate_per_s, rel_tol=0.02):
            lane.rate_per_s = rate

    def refused(self, status: int, retry_after_s: float | None, now: float) -> float:
        """A 429/418 arrived: every lane holds; returns the hold's end (epoch seconds)."""
        if retry_after_s is not None and retry_after_s >= 0:
            until = now + retry_after_s
        elif status == 418:
            until = now + FALLBACK_418_S
        else:
            until = (now // MINUTE_S + 1) * MINUTE_S + FALLBACK_429_S
        if until > self.hold_until:
            self.hold_until = until
            self.hold_reason = f"HTTP {status}"
        # The server's count is the truth now: treat the current minute as spent.
        minute = int(now // MINUTE_S)
        self.sent_by_minute[minute] = max(self.sent_by_minute.get(minute, 0), self.ip_limit_per_min)
        return self.hold_until

    # -- handing out start times -----------------------------------------------------------------

    def projected(self, minute: int) -> int:
        """Weight the server will have counted in `minute` from us and (as seen so far) others."""
        return self.sent_by_minute.get(minute, 0) + self.foreign_by_minute.get(minute, 0)

    def reserve(self, lane: Lane, weight: int, now: float) -> Reservation:
        """When a request of `weight` on `lane` may start (≥ now). Never over the minute's limit."""
        # openInterestHist weighs 0 but counts against its own request limit: pace by requests.
        lane_cost = 1 if lane is Lane.HIST else weight
        start = max(self.lanes[lane].reserve(lane_cost, now), self.hold_until)
        guard = self.ip_limit_per_min * (1.0 - GUARD_FRACTION)
        minute = int(start // MINUTE_S)
        # A request heavier than a whole minute's allowance could never start: let it go alone
        # into an otherwise empty minute rather than loop forever.
        while self.projected(minute) + weight > guard and self.projected(minute) > 0:
            minute += 1
            start = minute * MINUTE_S
        counted = self.sent_by_minute.get(minute, 0) + weight
        self.sent_by_minute[minute] = counted
        return Reservation(start, minute, counted, weight)
