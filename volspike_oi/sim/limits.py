"""Binance's per-IP request limits, as pure state machines over epoch milliseconds.

`IpWeightLimiter`: weight counted in the fixed UTC clock minute; past the limit a 429 with
Retry-After (to the next minute); a client that keeps sending after its 429s is banned with a
418 whose duration doubles per repeat offence, from 2 minutes up to 3 days. `WindowCounter`:
the separate request count of `/futures/data/*` (1000 per 5 minutes per IP).
"""

from __future__ import annotations

import math

import attrs

MINUTE_MS = 60_000
FIRST_BAN_MS = 120_000
MAX_BAN_MS = 3 * 86_400_000


@attrs.frozen
class Admission:
    """The limiter's verdict on one request."""

    status: int
    """200 (serve it), 429 (over the limit) or 418 (banned)."""
    used_weight: int
    """The IP's weight in the current minute after this request, as the header reports it."""
    retry_after_s: int = 0
    banned_until_ms: int = 0


@attrs.define
class _IpState:
    window_ms: int = -1
    used: int = 0
    refused_in_window: int = 0
    banned_until_ms: int = 0
    bans: int = 0


def background_weight(per_min: int, now_ms: int, burst: int = 0, burst_at_ms: int = 0) -> int:
    """Weight "another process on the same IP" has spent so far in this minute: `per_min` evenly
    spread, plus `burst` all at once `burst_at_ms` into every minute."""
    into_minute = now_ms % MINUTE_MS
    return per_min * into_minute // MINUTE_MS + (burst if into_minute >= burst_at_ms else 0)


@attrs.define
class IpWeightLimiter:
    limit: int
    """REQUEST_WEIGHT per minute per IP (Binance: 2400)."""
    ban_after: int = 10
    """Requests refused with 429 within one minute after which the IP is banned (418)."""
    background_per_min: int = 0
    """Weight per minute spent by another process on the same IP."""
    background_burst: int = 0
    """Weight another process on the same IP spends at once, `background_burst_at_ms` into every
    minute (on the exchange's clock)."""
    background_burst_at_ms: int = 50_000
    forced_until_ms: int = 0
    """Until then every request is refused with 429 (simulated throttling by the exchange)."""
    banned_all_until_ms: int = 0
    """Until then every IP, seen or not, is banned (simulated automated ban)."""
    _ips: dict[str, _IpState] = attrs.Factory(dict)

    def _state(self, ip: str, now_ms: int) -> _IpState:
        state = self._ips.setdefault(ip, _IpState())
        window = now_ms - now_ms % MINUTE_MS
        if window != state.window_ms:
            state.window_ms, state.used, state.refused_in_window = window, 0, 0
        return state

    def _background(self, now_ms: int) -> int:
        return background_weight(
            self.background_per_min, now_ms, self.background_burst, self.background_burst_at_ms
        )

    def used(self, ip: str, now_ms: int) -> int:
        return self._state(ip, now_ms).used + self._background(now_ms)

    def admit(self, ip: str, weight: int, now_ms: int) -> Admission:
        state = self._state(ip, now_ms)
        background = self._background(now_ms)
        banned_until = max(state.banned_until_ms, self.banned_all_until_ms)
        if now_ms < banned_until:
            return Admission(
                418,
                state.used + background,
                retry_after_s=math.ceil((banned_until - now_ms) / 1000),
                banned_until_ms=banned_until,
            )
        over = state.used + background + weight > self.limit
        if over or now_ms < self.forced_until_ms:
            state.refused_in_window += 1
            if state.refused_in_window > self.ban_after:
                state.bans += 1
                duration = min(FIRST_BAN_MS * 2 ** (state.bans - 1), MAX_BAN_MS)
                return self.ban(ip, duration, now_ms)
            until = max(state.window_ms + MINUTE_MS, self.forced_until_ms)
            return Admission(
                429,
                state.used + background,
                retry_after_s=max(1, math.ceil((until - now_ms) / 1000)),
            )
        state.used += weight
        return Admission(200, state.used + background)

    def ban(self, ip: str, duration_ms: int, now_ms: int) -> Admission:
        state = self._state(ip, now_ms)
        state.banned_until_ms = now_ms + duration_ms
        return Admission(
            418,
            state.used + self._background(now_ms),
            retry_after_s=math.ceil(duration_ms / 1000),
            banned_until_ms=state.banned_until_ms,
        )

    def ban_all(self, duration_ms: int, now_ms: int) -> None:
        self.banned_all_until_ms = now_ms + duration_ms


@attrs.define
class WindowCounter:
    """Requests per IP in fixed windows of `window_ms`; past `limit` a 429 until the window ends."""

    limit: int
    window_ms: int
    _counts: dict[str, tuple[int, int]] = attrs.Factory(dict)

    def admit(self, ip: str, now_ms: int) -> Admission:
        window = now_ms - now_ms % self.window_ms
        start, count = self._counts.get(ip, (window, 0))
        if start != window:
            count = 0
        if count >= self.limit:
            self._counts[ip] = (window, count)
            return Admission(
                429, 0, retry_after_s=max(1, math.ceil((window + self.window_ms - now_ms) / 1000))
            )
        self._counts[ip] = (window, count + 1)
        return Admission(200, 0)
