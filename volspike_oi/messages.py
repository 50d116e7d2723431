"""Every message that travels between actors: frozen attrs classes, one catalogue.

Times are epoch seconds (float) unless a name says `_ms`; contracts and prices are Decimal as
Binance sent them, so nothing is rounded before it is stored.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Literal

import attrs
import trio

from volspike_oi.alerts import Direction
from volspike_oi.universe import Thresholds
from volspike_oi.venues.model import VenueName
from volspike_oi.venues.units import binance_style_base, split_bundle

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


@functools.lru_cache(maxsize=4096)
def binance_bundle(symbol: str) -> tuple[str, Decimal]:
    """A Binance USDT-M symbol's asset and how many of it one unit of OI counts."""
    return split_bundle(binance_style_base(symbol))


def _asset_of(sample: OiSample) -> str:
    return binance_bundle(sample.symbol)[0]


def _coin_of(sample: OiSample) -> Decimal | None:
    if sample.venue != "binance":
        return None
    return sample.contracts * binance_bundle(sample.symbol)[1]


@attrs.frozen
class OiSample:
    """OI poller / venue feed → alert evaluator, store, web: one open interest reading.

    Binance's readings need only the symbol: `asset` and `coin` follow from it (1000PEPEUSDT
    counts 1000 PEPE per unit). Other venues' readings come converted by their client
    (`venues.model.VenueReading`) and set all three.
    """

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
    venue: VenueName = "binance"
    asset: str = attrs.field(default=attrs.Factory(_asset_of, takes_self=True))
    """Canonical asset (BTC, PEPE)."""
    coin: Decimal | None = attrs.field(default=attrs.Factory(_coin_of, takes_self=True))
    """OI in units of `asset` (never the contracts of different venues: those do not add up);
    None only where a venue's contracts cannot be converted without a price."""


@attrs.frozen
class AlertDriver:
    """One venue's own move within an aggregate (venue "all") alert, in coin of the asset."""

    venue: str
    baseline: float
    current: float
    pct_change: float
    share_of_change: float | None
    """This venue's change / the total's change (None when the total did not move)."""


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
    venue: str = "binance"
    """The venue whose symbol moved, or "all" for an asset's total across venues (`symbol` is
    then the asset, `baseline`/`current` its coin summed over the venues it names)."""
    drivers: tuple[AlertDriver, ...] = ()
    """For venue "all": each venue used, its own move, largest share of the change first."""


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


@attrs.frozen
class CoinBackfill:
    """venue feed → aggregator: one venue-symbol's recent OI read back from the venue's history
    endpoint on a first start, so aggregate alerts need not wait half an hour for a baseline."""

    venue: str
    asset: str
    symbol: str
    points: tuple[tuple[float, float], ...]
    """(epoch seconds, coin), oldest first."""
