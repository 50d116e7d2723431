"""The error family every venue client but Binance's raises (Binance keeps its own, older
family in `venues/binance/errors.py`). The feed actor decides from the subclass whether to wait
(rate limited), reconnect (stream dropped) or retry later (unavailable, decode)."""

from __future__ import annotations


class VenueError(Exception):
    """A venue could not give an answer we can use."""


class VenueRateLimited(VenueError):
    """The venue refused for rate (429, Bybit's 403 "access too frequent", OKX 50011, Deribit
    10028): nothing is sent to it before `hold_until` (trio clock seconds)."""

    def __init__(self, venue: str, detail: str, hold_until: float) -> None:
        super().__init__(f"{venue}: rate limited ({detail}); holding until t={hold_until:.1f}")
        self.venue, self.detail, self.hold_until = venue, detail, hold_until


class VenueUnavailable(VenueError):
    """A server error, a timeout or a transport error, after the client's own retries."""


class VenueDecodeError(VenueError):
    """A body did not have the shape we rely on; `messages` name the venue's fields."""

    def __init__(self, what: str, messages: list[str]) -> None:
        super().__init__(f"{what}: " + "; ".join(messages[:5]))
        self.messages = messages


class VenueStreamDropped(VenueError):
    """The WebSocket closed, failed, or went silent past the venue's staleness limit."""
