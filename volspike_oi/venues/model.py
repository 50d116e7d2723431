"""What every venue's client hands the service: instruments and readings in one unit model.

Venue-neutral (no venue imports another; each imports this). A venue's client decodes its own
JSON at its boundary and returns these values, so nothing past the client knows a venue's wire
format. Units are the point: `contracts` is what the venue reports (a Deribit inverse perpetual
reports USD, an OKX swap contracts of `ctVal` coin, Bybit and Binance coin of the symbol's base),
`coin` is OI in units of the canonical `asset`, and USD is `coin` × that venue's own mark price.
Contracts of different venues are never added: only `coin` (and USD) compare across venues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal, Protocol

import attrs
import trio

VenueName = Literal["binance", "bybit", "okx", "deribit", "hyperliquid"]
VENUES: tuple[VenueName, ...] = ("binance", "bybit", "okx", "deribit", "hyperliquid")
"""Every venue the service knows, in the order the API and the page list them."""

ContractKind = Literal["linear", "inverse"]
"""linear: OI counts units of the base asset (or contracts of a fixed coin size);
inverse: OI counts USD (contracts of a fixed USD face value), coin = USD / mark price."""


@attrs.frozen
class Instrument:
    """One perpetual of a venue, with what it takes to turn its OI into coin."""

    symbol: str
    """The venue's own name: BTCUSDT (Binance, Bybit), BTC-USDT-SWAP (OKX), BTC-PERPETUAL
    (Deribit), BTC (Hyperliquid)."""
    asset: str
    """Canonical asset: BTC, ETH, PEPE (Binance's 1000PEPEUSDT is PEPE)."""
    kind: ContractKind
    coin_per_contract: Decimal
    """linear: coin per reported OI unit (1 for Bybit/Binance/Hyperliquid, 1000 for 1000PEPEUSDT,
    ctVal × ctMult for OKX); inverse: USD per reported OI unit (1 for Deribit, which reports USD)."""

    def coin(self, contracts: Decimal, mark_price: Decimal | None) -> Decimal | None:
        """OI in units of the asset; None for an inverse contract without a mark price."""
        if self.kind == "linear":
            return contracts * self.coin_per_contract
        if mark_price is None or mark_price <= 0:
            return None
        return contracts * self.coin_per_contract / mark_price


@attrs.frozen
class VenueReading:
    """One OI reading of one instrument, decoded and converted at the venue's client."""

    symbol: str
    asset: str
    contracts: Decimal
    """As the venue reports it (see `Instrument.kind`)."""
    coin: Decimal | None
    """OI in units of `asset`; None only for an inverse contract whose mark price is unknown."""
    mark_price: Decimal | None
    """The venue's own mark price (USD per coin); None when unknown, never 0."""
    exchange_time_ms: int | None
    """The venue's timestamp of the value, when it sends one."""

    @property
    def usd(self) -> Decimal | None:
        if self.coin is None or self.mark_price is None or self.mark_price <= 0:
            return None
        return self.coin * self.mark_price


class VenueClient(Protocol):
    """A venue as the generic feed actor (`actors/venue_feed.py`) drives it.

    Every method raises only `venues.errors.VenueError` subclasses for the venue's failures
    (cancellation passes through). REST calls wait on the venue's own `RateLimiter`.
    """

    @property
    def venue(self) -> VenueName: ...

    @property
    def stale_after_s(self) -> float:
        """No stream message (data or heartbeat) for this long: the stream is stale, reconnect
        and serve REST meanwhile."""
        ...

    @property
    def fallback_interval_s(self) -> float:
        """How often `snapshot` is called while the stream is down or stale."""
        ...

    async def instruments(self) -> Mapping[str, Instrument]:
        """The venue's trading USD(T/C)-settled perpetuals, by symbol."""
        ...

    async def snapshot(self, instruments: Mapping[str, Instrument]) -> Sequence[VenueReading]:
        """Every instrument's OI and mark price over REST (as few calls as the venue allows)."""
        ...

    async def stream(
        self,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect, subscribe to every instrument, call `task_status.started()` once subscribed,
        then send a full reading (deltas already merged) for every update until the connection
        drops (raises `VenueStreamDropped`) or the caller cancels."""
        ...


class VenueHistory(Protocol):
    """A venue whose recent OI can be read back (Bybit, OKX), for a baseline on a first start.

    Raises only `VenueError` subclasses; waits on the venue's own limiter."""

    async def history(self, instrument: Instrument, since_ms: int) -> list[tuple[float, Decimal]]:
        """(epoch seconds, coin of `instrument.asset`) every 5 minutes from `since_ms`, oldest
        first."""
        ...
