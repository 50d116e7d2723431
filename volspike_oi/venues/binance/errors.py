"""The one error family the Binance client raises: callers catch `ExchangeError` and decide
from the subclass whether to wait (RateLimited), skip (InvalidSymbol) or try later."""

from __future__ import annotations


class ExchangeError(Exception):
    """Binance could not give an answer we can use."""


class RateLimited(ExchangeError):
    """429 or 418 (or a firewall's 403/451): every request holds until `hold_until` (epoch
    seconds); status 0 when a request was not sent because a hold or a probe was under way."""

    def __init__(self, status: int, hold_until: float) -> None:
        super().__init__(f"HTTP {status}: holding every request until {hold_until:.0f}")
        self.status, self.hold_until = status, hold_until


class InvalidSymbol(ExchangeError):
    """-1121: the symbol does not trade (any more)."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"{symbol}: Invalid symbol (-1121)")
        self.symbol = symbol


class ExchangeUnavailable(ExchangeError):
    """Every attempt failed with a server error, a timeout or a transport error."""


class DecodeError(ExchangeError):
    """A Binance body did not have the shape we rely on; `messages` name the fields."""

    def __init__(self, what: str, messages: list[str]) -> None:
        super().__init__(f"{what}: " + "; ".join(messages[:5]))
        self.messages = messages
