"""The latest mark price of every symbol, from one source: published by the mark-prices actor.

Readers get a price only while it is fresh; a stale or missing price is `None`, so a USD value
is reported as unknown, never as $0 (the failure of seed 003).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

DEFAULT_MAX_AGE_S = 60.0


@attrs.define
class MarkPriceBook:
    max_age_s: float = DEFAULT_MAX_AGE_S
    prices: dict[str, tuple[Decimal, float]] = attrs.Factory(dict)
    """symbol → (mark price, epoch seconds it was valid at)."""
    last_stream_frame_at: float = float("-inf")
    last_rest_refresh_at: float = float("-inf")

    def update(self, symbol: str, price: Decimal, at: float) -> None:
        if price <= 0:
            return  # a non-positive mark is not a price; keep the last good one
        current = self.prices.get(symbol)
        if current is None or at >= current[1]:
            self.prices[symbol] = (price, at)

    def fresh(self, symbol: str, now: float) -> Decimal | None:
        entry = self.prices.get(symbol)
        if entry is None or now - entry[1] > self.max_age_s:
            return None
        return entry[0]

    def fresh_count(self, now: float) -> int:
        return sum(1 for _, at in self.prices.values() if now - at <= self.max_age_s)
