"""The per-IP request weight budget shared by every actor that calls Binance: pure, no I/O.

Binance counts weight per IP in the fixed UTC clock minute (2400 by default) and bans clients
that ignore 429s. `WeightBudget` hands out start times (epoch seconds) for requests:

- lanes are GCRA buckets (we store the *next allowed time*, never a float token count: a
  `sleep(deficit/rate)` bucket spins under MockClock): `oi` for openInterest polls at
  MAX_REQ_PER_MIN, `other` for everything else, `hist` for openInterestHist's own limit;
- minutes are the exchange's: its clock's offset from ours is read from the `Date` headers;
- it follows Binance's `X-MBX-USED-WEIGHT-1M`: weight the server counted beyond ours is
  "another process on the same IP"; the OI lane gets what neither they nor our other lanes
  (sized by what they really spend, plus the heaviest request) use, and no request is started
  that would push the current minute over the limit (deferred ones start spread out);
- after a 429 or 418 every lane holds until Retry-After, else the ban's end named in the 418's
  body, else the documented fallback; after a firewall's 403/451, for a backoff that doubles
  with every refused probe. Once a hold ends one probe goes first; only its answer releases
  the lanes, and they ramp up (no burst credit, a rate growing over RAMP_S) instead of
  flushing what waited.
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
"""After a 418 with neither Retry-After nor "banned until" in its body: Binance's shortest ban."""
BAN_END_MARGIN_S = 0.5
"""Added to the ban's end a 418's body names (epoch ms on the exchange's clock)."""
FIREWALL_FIRST_HOLD_S = 2.0
"""The first hold after a firewall's 403/451; it doubles with every refused probe."""
REFUSED_PROBE_FIRST_HOLD_S = 1.0
"""Least hold after a probe was refused with 429/418 (the hold it knew of was too short, as
when the clocks disagree); it doubles with every further refusal."""
MAX_BACKOFF_HOLD_S = 30.0
"""Longest backoff hold: a long block is still noticed within this once it ends."""
PROBE_WAIT_S = 2.0
"""While the probe is out, other requests start no earlier than this after it (or after now)."""
PROBE_TIMEOUT_S = 15.0
"""A probe unanswered this long (its sender was cancelled, say) is replaced by a new one."""
RAMP_S = 20.0
"""After a probe releases the lanes their rates grow linearly over this many seconds..."""
RAMP_FLOOR = 0.1
"""...from this share of the steady rate."""

HEAVIEST_OTHER_WEIGHT = 40
"""The heaviest request outside the OI lane (ticker/24hr for every symbol): headroom kept on top
of what the other lanes were seen to spend."""
OTHER_HISTORY_MIN = 3
"""Complete minutes of other-lane spending looked at; before that many, their whole share is kept."""

DEFER_STEP_S = 0.05
"""Requests deferred to the next minute start this far apart..."""
DEFER_SPREAD_MAX_S = 3.0
"""...and no later than this into it."""

RATE_LIMITED = "rate_limited"
BINANCE_BAN = "binance_ban"
BINANCE_FIREWALL = "binance_firewall"
HOLD_REASONS = {429: RATE_LIMITED, 418: BINANCE_BAN, 403: BINANCE_FIREWALL, 451: BINANCE_FIREWALL}
"""`WeightBudget.hold_reason` by the status that started the hold."""
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

    def drain(self, now: float) -> None:
        """No credit left at `now`: the next request may start now, the ones after at the rate."""
        self.tat = max(self.tat, now + self.burst / self.rate_per_s)


def backoff_hold_s(first_s: float, escalation: int) -> float:
    """The `escalation`-th hold of a backoff starting at `first_s` (1 → first_s), doubling."""
    return min(MAX_BACKOFF_HOLD_S, first_s * 2.0 ** max(0, min(escalation - 1, 30)))


def ramp_factor(released_at: float, now: float) -> float:
    """Share of the steady rate a lane may use `now`, after a probe released it at `released_at`."""
    if now >= released_at + RAMP_S:
        return 1.0
    return max(RAMP_FLOOR, (now - released_at) / RAMP_S)


@attrs.define
class ExchangeClock:
    """The exchange's clock minus ours (seconds), from the whole-second `Date` header of its
    responses: the exchange stamped each one between our sending and our receiving it, so each
    bounds the offset to an interval one second wide; the intersection of many narrows it to
    about the round trip. Bounds that stop overlapping mean a clock stepped: start over."""

    low: float = -math.inf
    high: float = math.inf

    def observe_date(self, date_s: float, sent_at: float, received_at: float) -> None:
        low, high = date_s - received_at, date_s + 1.0 - sent_at
        if low > self.high or high < self.low:
            self.low, self.high = low, high
        else:
            self.low, self.high = max(self.low, low), min(self.high, high)

    @property
    def offset_s(self) -> float:
        if math.isinf(self.low) or math.isinf(self.high):
            return 0.0
        return (self.low + self.high) / 2


@attrs.frozen
class Reservation:
    start: float
    """Epoch seconds at which the request may be sent."""
    minute: int
    """The exchange's UTC minute (its epoch seconds // 60) the request is counted in."""
    counted: int
    """Our weight in that minute including this request: what the header should show, minus others."""
    weight: int
    probe: bool = False
    """The one request sent after a hold; the lanes open only when it is answered."""


@attrs.define
class WeightBudget:
    ip_limit_per_min: int = 2400
    oi_per_min: int = 2000
    """MAX_REQ_PER_MIN: the share planned for openInterest polls."""
    margin: float = DEFAULT_MARGIN
    hold_until: float = -math.inf
    """Epoch seconds before which nothing may be sent (after a 429/418/403/451)."""
    hold_reason: str = ""
    """Why requests hold (a `HOLD_REASONS` value) until a probe is answered; "" when they flow."""
    hold_detail: str = ""
    """What the exchange said, for logs: "HTTP 418: banned until 1791383040000", say."""
    escalation: int = 0
    """Holds started since the lanes last opened (each refused probe adds one)."""
    probe_at: float | None = None
    """Start of the probe handed out and not answered yet."""
    released_at: float = -math.inf
    """When the last probe's answer opened the lanes (their ramp starts there)."""
    lanes: dict[Lane, Gcra] = attrs.Factory(dict)
    sent_by_minute: dict[int, int] = attrs.Factory(dict)
    """Our weight per UTC minute, by the minute each request starts in."""
    foreign_by_minute: dict[int, int] = attrs.Factory(dict)
    """Latest weight the server counted beyond ours, per minute (another process on our IP).
    The latest, not the largest: one misread response must not stick for the whole minute."""
    last_server_used: int = 0
    last_server_minute: int = -1
    other_sent_by_minute: dict[int, int] = attrs.Factory(dict)
    """Our weight outside the OI lane per UTC minute: what the other lanes really spend."""
    first_minute: int | None = None
    """The minute of our first request (other-lane history starts there)."""
    deferred_by_minute: dict[int, int] = attrs.Factory(dict)
    """Requests deferred into each minute so far (they start spread out)."""
    exchange_clock: ExchangeClock = attrs.Factory(ExchangeClock)
    """Where the exchange's clock stands against ours: minutes are planned on its clock."""

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

    @property
    def exchange_offset_s(self) -> float:
        """The exchange's clock minus ours, as far as its Date headers tell (0 until they do)."""
        return self.exchange_clock.offset_s

    def minute_of(self, t: float) -> int:
        """The exchange's UTC minute (epoch seconds // 60 on its clock) at our epoch time `t`."""
        return int((t + self.exchange_offset_s) // MINUTE_S)

    def minute_start(self, minute: int) -> float:
        """When (our epoch seconds) the exchange's `minute` begins."""
        return minute * MINUTE_S - self.exchange_offset_s

    def foreign_per_min(self, now: float) -> float:
        """Estimated weight per minute spent by others on our IP."""
        minute = self.minute_of(now)
        previous = self.foreign_by_minute.get(minute - 1, 0)
        current = self.foreign_by_minute.get(minute, 0)
        if previous > 0:
            # Others were seen a whole minute: their spending may come in bursts (600 at :50),
            # which extrapolating this minute's share would overstate.
            return float(max(previous, current))
        elapsed = max((now - self.minute_start(minute)) / MINUTE_S, 0.2)
        return current / elapsed

    def other_reserved_per_min(self, now: float) -> float:
        """Weight per minute kept for our other lanes: the most they spent in any of the last
        OTHER_HISTORY_MIN minutes (or so far in this one) plus the heaviest request, never more
        than their share; their whole share until that much history exists."""
        minute = self.minute_of(now)
        if self.first_minute is None or minute - self.first_minute < OTHER_HISTORY_MIN + 1:
            return self.other_per_min
        recent = max(
            self.other_sent_by_minute.get(m, 0)
            for m in range(minute - OTHER_HISTORY_MIN, minute + 1)
        )
        return min(self.other_per_min, float(recent + HEAVIEST_OTHER_WEIGHT))

    def oi_rate_per_min(self, now: float) -> float:
        """The OI lane's rate now: MAX_REQ_PER_MIN, less what others on the IP and our other
        lanes are using."""
        room = self.plannable_per_min - self.other_reserved_per_min(now) - self.foreign_per_min(now)
        return max(MIN_OI_PER_MIN, min(float(self.oi_per_min), room))

    def observe(self, reservation: Reservation, used_weight: int, now: float) -> None:
        """Record the X-MBX-USED-WEIGHT-1M of a response to `reservation`."""
        minute = self.minute_of(now)
        into_minute = now - self.minute_start(minute)
        if (
            minute == reservation.minute
            and reservation.start - self.minute_start(minute) >= BOUNDARY_SKEW_S
        ):
            self.foreign_by_minute[minute] = max(0, used_weight - reservation.counted)
        if minute >= self.last_server_minute and into_minute >= BOUNDARY_SKEW_S:
            self.last_server_minute, self.last_server_used = minute, used_weight
        self._retune(now)
        for old in [m for m in self.sent_by_minute if m < minute - 2]:
            del self.sent_by_minute[old]
        for old in [m for m in self.foreign_by_minute if m < minute - 2]:
            del self.foreign_by_minute[old]
        for old in [m for m in self.other_sent_by_minute if m < minute - OTHER_HISTORY_MIN - 1]:
            del self.other_sent_by_minute[old]
        for old in [m for m in self.deferred_by_minute if m < minute - 2]:
            del self.deferred_by_minute[old]

    def _retune(self, now: float) -> None:
        lane = self.lanes[Lane.OI]
        rate = self.oi_rate_per_min(now) / MINUTE_S
        if not math.isclose(rate, lane.rate_per_s, rel_tol=0.02):
            lane.rate_per_s = rate

    def refused(
        self,
        status: int,
        retry_after_s: float | None,
        now: float,
        banned_until_s: float | None = None,
    ) -> float:
        """A 429/418 arrived: every lane holds; returns the hold's end (epoch seconds).

        `banned_until_s` is the ban's end a 418's body names, used when Retry-After is missing.
        """
        if retry_after_s is not None and retry_after_s >= 0:
            until = now + retry_after_s
        elif status == 418 and banned_until_s is not None:
            until = banned_until_s + BAN_END_MARGIN_S
        elif status == 418:
            until = now + FALLBACK_418_S
        else:
            until = self.minute_start(self.minute_of(now) + 1) + FALLBACK_429_S
        escalation = self._escalate(now)
        if escalation > 1:
            until = max(until, now + backoff_hold_s(REFUSED_PROBE_FIRST_HOLD_S, escalation - 1))
        detail = f"HTTP {status}"
        if banned_until_s is not None:
            detail += f": banned until {banned_until_s * 1000:.0f}"
        self._hold(until, HOLD_REASONS.get(status, RATE_LIMITED), detail)
        # The server's count is the truth now: treat the exchange's current minute as spent.
        minute = self.minute_of(now)
        self.sent_by_minute[minute] = max(self.sent_by_minute.get(minute, 0), self.ip_limit_per_min)
        return self.hold_until

    def blocked(self, status: int, now: float, detail: str = "") -> float:
        """A firewall in front of the exchange answered (403, 451): every lane holds for a backoff
        that doubles with each refused probe; returns the hold's end (epoch seconds)."""
        until = now + backoff_hold_s(FIREWALL_FIRST_HOLD_S, self._escalate(now))
        self._hold(until, BINANCE_FIREWALL, f"HTTP {status}" + (f": {detail}" if detail else ""))
        return self.hold_until

    def _escalate(self, now: float) -> int:
        # A refusal that arrives while a hold is already on answers a request sent before it:
        # the same incident, not a refused probe.
        if now >= self.hold_until:
            self.escalation += 1
        return max(1, self.escalation)

    def _hold(self, until: float, reason: str, detail: str) -> None:
        if until > self.hold_until:
            self.hold_until = until
        if not self.hold_reason or reason != RATE_LIMITED:
            self.hold_reason, self.hold_detail = reason, detail
        self.probe_at = None  # whatever probe was out has its answer (or never mattered)

    # -- probing after a hold --------------------------------------------------------------------

    def may_send(self, reservation: Reservation, now: float) -> bool:
        """Whether `reservation` may go out `now`: no hold, and the lanes open (or it is the probe)."""
        if now < self.hold_until:
            return False
        return not self.hold_reason or (reservation.probe and reservation.start == self.probe_at)

    def answered(self, reservation: Reservation, now: float) -> bool:
        """The exchange answered `reservation` without refusing it. If it was the probe after a
        hold, the lanes open and ramp up; returns whether that happened."""
        if not (self.hold_reason and reservation.probe and reservation.start == self.probe_at):
            return False
        if now < self.hold_until:
            return False
        self.hold_reason, self.hold_detail, self.escalation = "", "", 0
        self.probe_at = None
        self.released_at = now
        for lane in self.lanes.values():
            lane.drain(now)
        return True

    def probe_lost(self, reservation: Reservation, now: float) -> None:
        """The probe got no answer (timeout, transport error): another follows after a wait."""
        if reservation.probe and reservation.start == self.probe_at:
            self.probe_at = None
            self.hold_until = max(self.hold_until, now + PROBE_WAIT_S)

    # -- handing out start times -----------------------------------------------------------------

    def projected(self, minute: int) -> int:
        """Weight the server will have counted in `minute` from us and (as seen so far) others."""
        return self.sent_by_minute.get(minute, 0) + self.foreign_by_minute.get(minute, 0)

    def reserve(self, lane: Lane, weight: int, now: float) -> Reservation:
        """When a request of `weight` on `lane` may start (≥ now). Never over the minute's limit."""
        # openInterestHist weighs 0 but counts against its own request limit: pace by requests.
        lane_cost: float = 1 if lane is Lane.HIST else weight
        # Just after a probe opened the lanes each request costs its lane more, so rates grow.
        lane_cost /= ramp_factor(self.released_at, now)
        start = max(self.lanes[lane].reserve(lane_cost, now), self.hold_until)
        probe = False
        if self.hold_reason:
            if self.probe_at is None or now - self.probe_at > PROBE_TIMEOUT_S:
                start, probe = max(now, self.hold_until), True
            else:
                start = max(start, self.probe_at + PROBE_WAIT_S, now + PROBE_WAIT_S)
        guard = self.ip_limit_per_min * (1.0 - GUARD_FRACTION)
        minute = self.minute_of(start)
        # A request heavier than a whole minute's allowance could never start: let it go alone
        # into an otherwise empty minute rather than loop forever.
        deferred = False
        while self.projected(minute) + weight > guard and self.projected(minute) > 0:
            minute += 1
            deferred = True
        if deferred:
            # Spread out, not all at :00 of the exchange's minute.
            spread = self.deferred_by_minute.get(minute, 0)
            self.deferred_by_minute[minute] = spread + 1
            start = self.minute_start(minute) + min(DEFER_SPREAD_MAX_S, DEFER_STEP_S * spread)
        counted = self.sent_by_minute.get(minute, 0) + weight
        self.sent_by_minute[minute] = counted
        if self.first_minute is None:
            self.first_minute = self.minute_of(now)
        if lane is not Lane.OI:
            self.other_sent_by_minute[minute] = self.other_sent_by_minute.get(minute, 0) + weight
        if probe:
            self.probe_at = start
        return Reservation(start, minute, counted, weight, probe)
