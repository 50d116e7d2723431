"""JSON views of messages and snapshots: the bodies the HTTP API, the WebSocket feed and the
backend forwarder send, declared once as frozen attrs classes (`volspike_oi.wire`) from which
both the JSON and the OpenAPI schemas are generated. The view functions are pure, no I/O.

A symbol without a USD value (no fresh mark price) or with a zero value is never shown as $0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, cast

import attrs

from volspike_oi.aggregate import AGGREGATE_VENUE, SAMPLE_EVERY_S, AssetTotal
from volspike_oi.alerts import Direction
from volspike_oi.messages import OiAlert, OiSample, SampleSource, UniverseUpdate
from volspike_oi.polling import PollPlan
from volspike_oi.snapshots import CACHE_TTL_S, VenueStatus, WebState
from volspike_oi.venues.model import VenueName
from volspike_oi.wire import ABSENT, Absent, Count, IsoTime, described

SOURCE_DESCRIPTION = (
    "realtime: liquid symbols polled every few seconds; snapshot: the 5-minute coverage of every "
    "perp; snapshot_legacy: posted by the legacy 5-minute script."
)


def iso(epoch_s: float) -> str:
    """UTC ISO 8601 with a Z, as the existing backend sends timestamps."""
    return (
        dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


# -- the bodies ------------------------------------------------------------------------------


@attrs.frozen
class FrontendOpenInterest:
    """`GET /api/market/open-interest`: seed 000's frontend cache, unchanged."""

    data: dict[str, float] = attrs.field(
        metadata=described(
            "Symbol → open interest in USD. Only symbols with a fresh, non-zero USD value: a "
            "symbol without a mark price is absent, never $0."
        )
    )
    timestamp: IsoTime = attrs.field(
        metadata=described("Time of the newest entry (now when there is none).")
    )
    cache_expiry: IsoTime = attrs.field(
        metadata=described(
            f"timestamp + {CACHE_TTL_S:.0f} s: entries older are left out.", json="cacheExpiry"
        )
    )


@attrs.frozen
class OiSampleView:
    """One venue-symbol's latest reading (REST `latest` and the WebSocket `oi` event)."""

    symbol: str = attrs.field(metadata=described("The venue's own symbol."))
    open_interest: float = attrs.field(
        metadata=described(
            "Open interest as the venue reports it (contracts; USD for Deribit's inverse "
            "perpetuals). Never add it across venues: use coin.",
            json="openInterest",
        )
    )
    open_interest_usd: float | None = attrs.field(
        metadata=described("USD value, or null without a fresh mark price.", json="openInterestUsd")
    )
    mark_price: float | None = attrs.field(
        metadata=described("Mark price, or null without a fresh one.", json="markPrice")
    )
    sample_time: IsoTime = attrs.field(metadata=described("When it was read.", json="sampleTime"))
    exchange_time: IsoTime = attrs.field(
        metadata=described("The venue's own time of the reading.", json="exchangeTime")
    )
    age_seconds: float = attrs.field(
        metadata=described("Seconds since sampleTime when this was served.", json="ageSeconds")
    )
    source: SampleSource = attrs.field(metadata=described(SOURCE_DESCRIPTION))
    venue: VenueName = attrs.field(metadata=described("The venue that reported it."))
    asset: str = attrs.field(metadata=described("Canonical asset (BTC; 1000PEPEUSDT is PEPE)."))
    coin: float | None = attrs.field(
        metadata=described(
            "Open interest in units of the asset, comparable across venues (null only for an "
            "inverse contract without a mark price)."
        )
    )


@attrs.frozen
class LatestOpenInterest:
    # Assigned, not a docstring literal, so that the description follows CACHE_TTL_S.
    __doc__ = (
        "`GET /api/market/open-interest/latest`: every symbol with a reading younger than "
        f"{CACHE_TTL_S:.0f} s (realtime preferred over snapshot)."
    )

    data: list[OiSampleView] = attrs.field(metadata=described("By symbol."))
    count: Count = attrs.field(metadata=described("Length of data."))
    timestamp: IsoTime = attrs.field(metadata=described("When this was served."))


@attrs.frozen
class LiquidMemberView:
    symbol: str
    quote_volume_24h: float = attrs.field(
        metadata=described(
            "24h quote volume in USDT at the last classification.", json="quoteVolume24h"
        )
    )
    entered_at: IsoTime = attrs.field(
        metadata=described("When it joined the liquid set.", json="enteredAt")
    )


@attrs.frozen
class UniverseThresholds:
    enter_quote_24h: float = attrs.field(
        metadata=described(
            "A symbol joins at this 24h quote volume (USDT) or more.", json="enterQuote24h"
        )
    )
    exit_quote_24h: float = attrs.field(
        metadata=described("A liquid symbol leaves below this.", json="exitQuote24h")
    )


@attrs.frozen
class PollInterval:
    """Polling of liquid symbols; null fields before the first plan."""

    design_sec: float | None = attrs.field(
        metadata=described("The interval seed 001 §4.2 asks for.", json="designSec")
    )
    planned_sec: float | None = attrs.field(
        metadata=described("The interval the request budget allows.", json="plannedSec")
    )
    achieved_sec: float | None = attrs.field(
        metadata=described("Median gap between two polls of one symbol.", json="achievedSec")
    )
    others_sec: float | None = attrs.field(
        metadata=described("Interval of the non-liquid perps.", json="othersSec")
    )
    fits_budget: bool | None = attrs.field(
        metadata=described(
            "False when the budget cannot give the design interval.", json="fitsBudget"
        )
    )
    note: str | None


@attrs.frozen
class LiquidUniverse:
    """`GET /api/market/open-interest/liquid-universe` and the `universe` event."""

    symbols: list[LiquidMemberView]
    count: Count = attrs.field(metadata=described("Liquid symbols."))
    tracked_count: Count = attrs.field(
        metadata=described("Trading USDT-M perpetuals.", json="trackedCount")
    )
    entered: list[str] = attrs.field(metadata=described("Joined at the last classification."))
    exited: list[str] = attrs.field(metadata=described("Left at the last classification."))
    thresholds: UniverseThresholds | None
    interval: PollInterval
    updated_at: IsoTime | None = attrs.field(
        metadata=described("Last classification; null before the first.", json="updatedAt")
    )


@attrs.frozen
class OiStoredSample:
    """One stored reading. Without a database only ts and openInterest are known (the alert
    engine's in-memory history)."""

    ts: IsoTime = attrs.field(metadata=described("When it was read."))
    open_interest: float = attrs.field(metadata=described("Contracts.", json="openInterest"))
    open_interest_usd: float | Absent | None = attrs.field(
        default=ABSENT, metadata=described("USD value.", json="openInterestUsd")
    )
    mark_price: float | Absent | None = attrs.field(
        default=ABSENT, metadata=described("Mark price.", json="markPrice")
    )
    source: SampleSource | Absent = attrs.field(
        default=ABSENT, metadata=described(SOURCE_DESCRIPTION)
    )
    exchange_time: IsoTime | Absent | None = attrs.field(
        default=ABSENT,
        metadata=described("The venue's own time of the reading.", json="exchangeTime"),
    )
    coin: float | Absent | None = attrs.field(
        default=ABSENT,
        metadata=described(
            "Open interest in units of the asset (after contract size and multipliers); null "
            "for rows stored before venues were recorded."
        ),
    )


@attrs.frozen
class Samples:
    """`GET /api/market/open-interest/samples`."""

    symbol: str
    count: Count = attrs.field(metadata=described("Length of samples."))
    samples: list[OiStoredSample] = attrs.field(metadata=described("Newest first."))


@attrs.frozen
class AlertDriverView:
    """One venue's own move within an aggregate alert, in coin of the asset."""

    venue: VenueName
    baseline: float = attrs.field(metadata=described("Median coin of its baseline window."))
    current: float = attrs.field(metadata=described("Its coin when the alert fired."))
    pct_change: float = attrs.field(metadata=described("Its own move.", json="pctChange"))
    share_of_change: float | None = attrs.field(
        metadata=described(
            "Its part of the total's change (negative: it moved against the total).",
            json="shareOfChange",
        )
    )


@attrs.frozen
class OiAlertView:
    """Seed 001 §5.3's alert, plus the baseline's sample count and what a trader needs in USD:
    the change, both levels and the mark price's own move over the same window."""

    symbol: str
    direction: Direction
    baseline: float = attrs.field(metadata=described("Baseline open interest in contracts."))
    current: float = attrs.field(metadata=described("Open interest in contracts when it fired."))
    pct_change: float = attrs.field(
        metadata=described("(current − baseline) / baseline: 0.1 is +10 %.", json="pctChange")
    )
    abs_change: float = attrs.field(
        metadata=described("current − baseline, in contracts.", json="absChange")
    )
    timestamp: IsoTime = attrs.field(metadata=described("When it fired."))
    source: str = attrs.field(metadata=described("oi_realtime_poller, or the ingester's."))
    baseline_samples: Count = attrs.field(
        metadata=described(
            "Samples the baseline was the median of (0: ingested).", json="baselineSamples"
        )
    )
    usd_change: float | None = attrs.field(
        metadata=described("absChange in USD, when a mark price was known.", json="usdChange")
    )
    baseline_usd: float | None = attrs.field(
        default=None,
        metadata=described(
            "baseline × the baseline window's median mark price; null when no price was known.",
            json="baselineUsd",
        ),
    )
    current_usd: float | None = attrs.field(
        default=None,
        metadata=described(
            "current × the mark price when it fired; null without a fresh price.",
            json="currentUsd",
        ),
    )
    mark_price_change_pct: float | None = attrs.field(
        default=None,
        metadata=described(
            "The mark price's own move over the same window (0.02 is +2 %): OI up with the price "
            "flat is new positions, not a repricing. Null when either price is unknown.",
            json="markPriceChangePct",
        ),
    )
    window_minutes: float | None = attrs.field(
        default=None,
        metadata=described(
            "The baseline is the median of the window that starts this many minutes before "
            "timestamp (OI_BASELINE_FROM_MIN); null for an ingested alert without it.",
            json="windowMinutes",
        ),
    )
    venue: str = attrs.field(
        default="binance",
        metadata=described(
            'The venue whose symbol moved, or "all": an asset\'s total across venues (symbol is '
            "then the asset, baseline and current its coin summed over the venues in drivers)."
        ),
    )
    drivers: list[AlertDriverView] | Absent = attrs.field(
        default=ABSENT,
        metadata=described(
            'For venue "all": every venue summed, its own move, largest share of the change first.'
        ),
    )


@attrs.frozen
class Alerts:
    """`GET /api/open-interest-alerts`."""

    count: Count = attrs.field(metadata=described("Length of alerts."))
    alerts: list[OiAlertView] = attrs.field(metadata=described("Newest first."))


# -- building them ---------------------------------------------------------------------------


def frontend_view(state: WebState, now: float) -> FrontendOpenInterest:
    """`GET /api/market/open-interest`: `{data: {SYMBOL: usd}, timestamp, cacheExpiry}`."""
    fresh = state.freshest(now)
    data = {
        symbol: float(sample.usd)
        for symbol, sample in sorted(fresh.items())
        if sample.usd is not None and sample.usd > 0
    }
    newest = max((s.received_at for s in fresh.values()), default=now)
    return FrontendOpenInterest(data, iso(newest), iso(newest + state.ttl_s))


def sample_view(sample: OiSample, now: float) -> OiSampleView:
    return OiSampleView(
        symbol=sample.symbol,
        open_interest=float(sample.contracts),
        open_interest_usd=_num(sample.usd),
        mark_price=_num(sample.mark_price),
        sample_time=iso(sample.received_at),
        exchange_time=iso(sample.exchange_time_ms / 1000),
        age_seconds=round(now - sample.received_at, 3),
        source=sample.source,
        venue=sample.venue,
        asset=sample.asset,
        coin=_num(sample.coin),
    )


def latest_view(state: WebState, now: float, venue: VenueName = "binance") -> LatestOpenInterest:
    """`GET /api/market/open-interest/latest[?venue=]`."""
    fresh = state.venue_latest(venue, now)
    return LatestOpenInterest(
        data=[sample_view(fresh[s], now) for s in sorted(fresh)],
        count=len(fresh),
        timestamp=iso(now),
    )


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def alert_view(alert: OiAlert) -> OiAlertView:
    """Seed 001 §5.3's alert payload (plus the baseline's sample count and the USD change)."""
    return OiAlertView(
        symbol=alert.symbol,
        direction=alert.direction,
        baseline=alert.baseline,
        current=alert.current,
        pct_change=alert.pct_change,
        abs_change=alert.abs_change,
        timestamp=iso(alert.timestamp),
        source=alert.source,
        baseline_samples=alert.baseline_samples,
        usd_change=alert.usd_change,
        baseline_usd=alert.baseline_usd,
        current_usd=alert.current_usd,
        mark_price_change_pct=alert.mark_price_change_pct,
        window_minutes=alert.window_minutes,
        venue=alert.venue,
        drivers=[
            AlertDriverView(
                cast(VenueName, d.venue), d.baseline, d.current, d.pct_change, d.share_of_change
            )
            for d in alert.drivers
        ]
        if alert.venue == AGGREGATE_VENUE
        else ABSENT,
    )


def universe_view(
    update: UniverseUpdate | None, plan: PollPlan | None, achieved_s: float | None
) -> LiquidUniverse:
    """`GET /api/market/open-interest/liquid-universe` and the `universe` WebSocket event."""
    interval = PollInterval(
        design_sec=None if plan is None else plan.design_interval_s,
        planned_sec=None if plan is None else plan.liquid_interval_s,
        achieved_sec=achieved_s,
        others_sec=None if plan is None else plan.other_interval_s,
        fits_budget=None if plan is None else plan.fits,
        note=None if plan is None else plan.note,
    )
    if update is None:
        return LiquidUniverse([], 0, 0, [], [], None, interval, None)
    return LiquidUniverse(
        symbols=[
            LiquidMemberView(m.symbol, m.quote_volume_24h, iso(m.entered_at)) for m in update.liquid
        ],
        count=len(update.liquid),
        tracked_count=len(update.tracked),
        entered=sorted(update.entered),
        exited=sorted(update.exited),
        thresholds=UniverseThresholds(
            update.thresholds.enter_quote_24h, update.thresholds.exit_quote_24h
        ),
        interval=interval,
        updated_at=iso(update.classified_at),
    )


# -- venues ----------------------------------------------------------------------------------


VenueViewState = Literal["starting", "streaming", "polling", "down", "disabled"]
"""A feed's state (`snapshots.VenueFeedState`) or disabled (not in OI_VENUES)."""


@attrs.frozen
class VenueView:
    """One venue's feed as `/venues` reports it."""

    venue: VenueName
    state: VenueViewState = attrs.field(
        metadata=described(
            "streaming: the push channel delivers; polling: REST (Binance always; another venue "
            "while its stream is down or stale); down: nothing within the staleness limit; "
            "starting; disabled: not in OI_VENUES."
        )
    )
    healthy: bool = attrs.field(
        metadata=described("A reading arrived within the venue's staleness limit.")
    )
    symbols: Count = attrs.field(metadata=described("Perpetuals tracked on this venue."))
    cadence_seconds: float | None = attrs.field(
        metadata=described(
            "Measured median seconds between two readings of one symbol (Binance: between two "
            "polls of a liquid symbol); null before two have arrived.",
            json="cadenceSeconds",
        )
    )
    last_update: IsoTime | None = attrs.field(
        metadata=described("When the newest reading arrived.", json="lastUpdate")
    )
    age_seconds: float | None = attrs.field(
        metadata=described("Seconds since lastUpdate.", json="ageSeconds")
    )
    stale_after_seconds: float = attrs.field(
        metadata=described(
            "A venue without a reading for this long is unhealthy.", json="staleAfterSeconds"
        )
    )
    updates: Count = attrs.field(metadata=described("Readings received since the start."))
    errors: Count = attrs.field(
        metadata=described("Failed calls, refusals and dropped streams since the start.")
    )
    last_error: str | None = attrs.field(metadata=described("The newest error.", json="lastError"))
    stream_connected: bool | None = attrs.field(
        metadata=described(
            "Whether the push channel is subscribed (null for Binance: no OI stream exists).",
            json="streamConnected",
        )
    )
    reconnects: Count = attrs.field(metadata=described("Stream reconnections since the start."))
    rate_limited_until: IsoTime | None = attrs.field(
        metadata=described(
            "Until when the venue refuses our requests (nothing is sent before).",
            json="rateLimitedUntil",
        )
    )


@attrs.frozen
class VenuesView:
    """`GET /api/market/open-interest/venues`: every venue, its state and measured cadence."""

    venues: list[VenueView]
    timestamp: IsoTime = attrs.field(metadata=described("When this was served."))


def venue_view(status: VenueStatus, now: float) -> VenueView:
    held = status.rate_limited_until
    return VenueView(
        venue=cast(VenueName, status.venue),
        state=status.state_at(now),
        healthy=status.healthy(now),
        symbols=status.symbols,
        cadence_seconds=_rounded(status.cadence_s()),
        last_update=None if status.last_update_at is None else iso(status.last_update_at),
        age_seconds=_rounded(status.age_s(now)),
        stale_after_seconds=status.stale_after_s,
        updates=status.updates,
        errors=status.errors,
        last_error=status.last_error or None,
        stream_connected=status.stream_connected,
        reconnects=status.reconnects,
        rate_limited_until=iso(held) if held is not None and held > now else None,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- assets across venues (issue 12) ----------------------------------------------------------


@attrs.frozen
class AssetSummaryView:
    """One asset summed over its fresh venues (`/assets` and the `assets` WebSocket event)."""

    asset: str = attrs.field(metadata=described("Canonical asset: BTC, ETH, PEPE."))
    coin: float = attrs.field(
        metadata=described("Open interest in units of the asset, summed over the fresh venues.")
    )
    usd: float = attrs.field(
        metadata=described("Σ of each fresh venue's coin × that venue's own mark price.")
    )
    venues: Count = attrs.field(metadata=described("Venues counted in the sums."))
    stale: list[VenueName] = attrs.field(
        metadata=described("Venues listing the asset whose reading is too old: left out.")
    )
    change_1h_pct: float | None = attrs.field(
        metadata=described(
            "Total coin now against the total an hour ago (0.02 is +2 %); null before an hour "
            "of totals. Venues that joined or left in between move it: see /assets/{asset}.",
            json="change1hPct",
        )
    )
    timestamp: IsoTime = attrs.field(metadata=described("When this total was computed."))


@attrs.frozen
class AssetsView:
    """`GET /api/market/open-interest/assets`: every asset, largest total USD first."""

    assets: list[AssetSummaryView]
    count: Count = attrs.field(metadata=described("Length of assets."))
    timestamp: IsoTime = attrs.field(metadata=described("When this was served."))


@attrs.frozen
class AssetVenueView:
    """One venue's part of an asset's total."""

    venue: VenueName
    coin: float = attrs.field(metadata=described("This venue's OI in units of the asset."))
    usd: float | None = attrs.field(
        metadata=described("coin × this venue's mark price; null without one.")
    )
    share: float | None = attrs.field(
        metadata=described("This venue's part of the total USD (0..1; shares sum to 1).")
    )
    age_seconds: float = attrs.field(
        metadata=described("Age of its oldest reading of the asset.", json="ageSeconds")
    )
    symbols: list[str] = attrs.field(metadata=described("The venue's symbols of the asset."))


@attrs.frozen
class AssetPointView:
    ts: IsoTime
    coin: float
    usd: float


@attrs.frozen
class AssetDetailView:
    """`GET /api/market/open-interest/assets/{asset}`: the per-venue breakdown and the last
    hour of totals."""

    asset: str
    coin: float = attrs.field(metadata=described("Σ coin over the fresh venues."))
    usd: float = attrs.field(metadata=described("Σ USD over the fresh venues."))
    venues: list[AssetVenueView] = attrs.field(metadata=described("Largest USD first."))
    stale: list[VenueName] = attrs.field(
        metadata=described("Venues whose reading of the asset is too old: not in the sums.")
    )
    missing: list[VenueName] = attrs.field(
        metadata=described("Tracked venues with no reading of the asset (it does not list it).")
    )
    history: list[AssetPointView] = attrs.field(
        metadata=described(
            f"The total every {SAMPLE_EVERY_S:g} s over the last hour, oldest first."
        )
    )
    timestamp: IsoTime = attrs.field(metadata=described("When this was served."))


def _change_1h(
    series: Sequence[tuple[float, float, float]] | None, coin: float, now: float
) -> float | None:
    if not series:
        return None
    hour_ago = now - 3600.0
    old = [p for p in series if p[0] <= hour_ago + SAMPLE_EVERY_S]
    if not old or old[-1][1] <= 0:
        return None
    return coin / old[-1][1] - 1.0


def asset_summary_view(
    total: AssetTotal, series: Sequence[tuple[float, float, float]] | None, now: float
) -> AssetSummaryView:
    return AssetSummaryView(
        asset=total.asset,
        coin=total.coin,
        usd=total.usd,
        venues=len(total.venues),
        stale=[cast(VenueName, v) for v in total.stale],
        change_1h_pct=_change_1h(series, total.coin, now),
        timestamp=iso(now),
    )


def asset_detail_view(
    total: AssetTotal, series: Sequence[tuple[float, float, float]] | None, now: float
) -> AssetDetailView:
    return AssetDetailView(
        asset=total.asset,
        coin=total.coin,
        usd=total.usd,
        venues=[
            AssetVenueView(
                venue=cast(VenueName, p.venue),
                coin=p.coin,
                usd=p.usd,
                share=p.share,
                age_seconds=round(p.age_s, 3),
                symbols=list(p.symbols),
            )
            for p in total.venues
        ],
        stale=[cast(VenueName, v) for v in total.stale],
        missing=[cast(VenueName, v) for v in total.missing],
        history=[AssetPointView(iso(t), coin, usd) for t, coin, usd in series or ()],
        timestamp=iso(now),
    )
