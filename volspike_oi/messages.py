"""Every message that travels between actors: frozen attrs classes, one catalogue.

Times are epoch seconds (float) unless a name says `_ms`; contracts and prices are Decimal as
Binance sent them, so nothing is rounded before it is stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import attrs
import trio

from volspike_oi.alerts import Direction
from volspike_oi.universe import Thresholds

SampleSource = Literal["realtime", "snapshot", "snapshot_legacy"]
ALERT_SOURCE = "oi_realtime_poller"
"""The source of the alerts this service raises (seed 001 §5.3); ingested ones keep theirs."""


@attrs.frozen
class TrackedPerpetuals:
    """exchange-info → classifier: the USDT-M perpetuals that trade now."""

    symbols: frozenset[str]
    """Symbols passing the perpetual filter."""
    fetched_at: float
    source: str
    """Where exchangeInfo came from: "binance-proxy" or "binance"."""


@attrs.frozen
class LiquidMember:
    symbol: str
    quote_volume_24h: float
    """24h quote volume in USDT at the last classification."""
    entered_at: float


@attrs.frozen
class UniverseUpdate:
    """classifier → OI poller (and store, web): the tracked perps and the liquid subset."""

    tracked: frozenset[str]
    liquid: tuple[LiquidMember, ...]
    """Sorted by symbol."""
    entered: frozenset[str]
    exited: frozenset[str]
    thresholds: Thresholds
    classified_at: float
    quote_volume_24h: dict[str, float] = attrs.field(factory=dict, eq=False)
    """Every tracked symbol's 24h quote volume at this classification (for the history table)."""

    @property
    def liquid_symbols(self) -> frozenset[str]:
        return frozenset(m.symbol for m in self.liquid)


@attrs.frozen
class OiSample:
    """OI poller → alert evaluator, store, web: one openInterest reading."""

    symbol: str
    contracts: Decimal
    exchange_time_ms: int
    """Binance's `time` field."""
    received_at: float
    mark_price: Decimal | None
    """Fresh mark price, or None: a missing price is reported as missing, never as 0."""
    usd: Decimal | None
    """contracts × mark price, or None without a fresh mark price."""
    source: SampleSource
    """"realtime" for liquid symbols, "snapshot" for the 5-minute coverage of the others."""


@attrs.frozen
class OiAlert:
    """alert evaluator → store, web, forwarder: seed 001 §5.3."""

    symbol: str
    direction: Direction
    baseline: float
    current: float
    pct_change: float
    abs_change: float
    timestamp: float
    baseline_samples: int
    usd_change: float | None = None
    source: str = ALERT_SOURCE
    baseline_usd: float | None = None
    """Baseline contracts × the baseline window's median mark price (None: no price known)."""
    current_usd: float | None = None
    """Contracts × mark price when it fired (None: no fresh mark price)."""
    mark_price_change_pct: float | None = None
    """Mark price now against the baseline window's median (0.02 is +2 %)."""
    window_minutes: float | None = None
    """The baseline window started this many minutes before the alert (None: ingested without)."""


@attrs.frozen
class HistoryBackfill:
    """warm start / backfill → alert evaluator: older samples of one symbol for its ring buffer."""

    symbol: str
    samples: tuple[tuple[float, float, float], ...]
    """(epoch seconds, contracts, mark price or NaN when unknown), oldest first."""
    source: str
    """"postgres" (warm restart) or "openInterestHist" (first start)."""


@attrs.frozen(eq=False)
class Ingested:
    """HTTP ingest → web feed: readings and alerts a client posted (already stored, if there is
    a store). The web feed owns the served state; the route waits for `applied` so a client
    reads its own writes."""

    samples: tuple[OiSample, ...] = ()
    alerts: tuple[OiAlert, ...] = ()
    applied: trio.Event = attrs.Factory(trio.Event)
