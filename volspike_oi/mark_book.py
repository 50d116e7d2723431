"""The latest mark price of every symbol, from one source: published by the mark-prices actor.

Readers get a price only while it is fresh; a stale or missing price is `None`, so a USD value
is reported as unknown, never as $0 (the failure of seed 003). Freshness is judged by when we
received a price, on our clock: the exchange's timestamps only order prices, so an exchange clock
a minute off cannot make every price look stale.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

DEFAULT_MAX_AGE_S = 60.0


@attrs.define
class MarkPriceBook:
    max_age_s: float = DEFAULT_MAX_AGE_S
    prices: dict[str, tuple[Decimal, float, float]] = attrs.Factory(dict)
    """symbol → (mark price, exchange epoch seconds it was valid at, our epoch seconds we got it)."""
    last_stream_frame_at: float = float("-inf")
    last_rest_refresh_at: float = float("-inf")

    def update(
        self, symbol: str, price: Decimal, at: float, received_at: float | None = None
    ) -> None:
        """`at`: the exchange's time of the price (orders updates); `received_at`: ours (judges
        freshness; `at` when not given)."""
        if price <= 0:
            return  # a non-positive mark is not a price; keep the last good one
        current = self.prices.get(symbol)
        if current is None or at >= current[1]:
            self.prices[symbol] = (price, at, at if received_at is None else received_at)

    def fresh(self, symbol: str, now: float) -> Decimal | None:
        entry = self.prices.get(symbol)
        if entry is None or now - entry[2] > self.max_age_s:
            return None
        return entry[0]

    def fresh_count(self, now: float) -> int:
        return sum(1 for *_, got in self.prices.values() if now - got <= self.max_age_s)
