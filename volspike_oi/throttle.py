"""How often a pushed reading is stored (pure, no I/O).

A push venue sends a symbol's ticker up to ten times a second; storing each would be ~40 M rows
a day for Bybit alone. A venue-symbol is stored at most once per `min_interval_s`, and only
when its open interest changed since the last stored row (a mark-price-only tick changes
nothing a trader reads back from the history). A change that arrives inside the interval is
kept as pending and stored once the interval has passed (`due`), so the last value of a symbol
that then goes quiet is never lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

import attrs

T = TypeVar("T")


@attrs.define
class StoreThrottle(Generic[T]):
    min_interval_s: float
    _last: dict[str, tuple[float, Decimal]] = attrs.Factory(dict)
    _pending: dict[str, tuple[Decimal, T]] = attrs.Factory(dict)
    skipped: int = 0
    """Readings never stored: unchanged, or replaced by a newer one inside the interval."""

    def offer(self, symbol: str, now: float, contracts: Decimal, item: T) -> T | None:
        """The item to store now, or None (kept as pending when it changed, else dropped)."""
        last = self._last.get(symbol)
        if last is not None and contracts == last[1]:
            if self._pending.pop(symbol, None) is not None:
                self.skipped += 1  # moved away and back inside the interval: nothing to store
            self.skipped += 1
            return None
        if last is not None and now - last[0] < self.min_interval_s:
            if self._pending.get(symbol) is not None:
                self.skipped += 1
            self._pending[symbol] = (contracts, item)
            return None
        self._pending.pop(symbol, None)
        self._last[symbol] = (now, contracts)
        return item

    def due(self, now: float) -> list[T]:
        """Pending changes whose interval has passed, now stored (remembered as the last)."""
        out: list[T] = []
        for symbol, (contracts, item) in list(self._pending.items()):
            if now - self._last[symbol][0] >= self.min_interval_s:
                del self._pending[symbol]
                self._last[symbol] = (now, contracts)
                out.append(item)
        return out
