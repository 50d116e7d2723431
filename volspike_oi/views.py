"""What the HTTP API serves about "now": the freshest OI of every symbol, and pure views of it.

Realtime samples win over snapshots while fresh; an entry older than the TTL is left out, and
a symbol without a USD value (no fresh mark price) or with a zero value is never shown as $0.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from volspike_oi.messages import OiAlert, OiSample, UniverseUpdate
from volspike_oi.polling import PollPlan

CACHE_TTL_S = 300.0
"""The frontend's contract (seed 000): entries older than 5 minutes are left out."""


def iso(epoch_s: float) -> str:
    """UTC ISO 8601 with a Z, as the existing backend sends timestamps."""
    return (
        dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@attrs.define
class WebState:
    realtime: dict[str, OiSample] = attrs.Factory(dict)
    snapshot: dict[str, OiSample] = attrs.Factory(dict)
    ttl_s: float = CACHE_TTL_S

    def record(self, sample: OiSample) -> None:
        book = self.realtime if sample.source == "realtime" else self.snapshot
        current = book.get(sample.symbol)
        if current is None or sample.received_at >= current.received_at:
            book[sample.symbol] = sample

    def freshest(self, now: float) -> dict[str, OiSample]:
        """One sample per symbol: realtime when fresh, else a fresh snapshot."""
        out = {s: x for s, x in self.snapshot.items() if now - x.received_at <= self.ttl_s}
        out.update({s: x for s, x in self.realtime.items() if now - x.received_at <= self.ttl_s})
        return out


def frontend_view(state: WebState, now: float) -> dict[str, Any]:
    """`GET /api/market/open-interest`: `{data: {SYMBOL: usd}, timestamp, cacheExpiry}`."""
    fresh = state.freshest(now)
    data = {
        symbol: float(sample.usd)
        for symbol, sample in sorted(fresh.items())
        if sample.usd is not None and sample.usd > 0
    }
    newest = max((s.received_at for s in fresh.values()), default=now)
    return {"data": data, "timestamp": iso(newest), "cacheExpiry": iso(newest + state.ttl_s)}


def sample_view(sample: OiSample, now: float) -> dict[str, Any]:
    return {
        "symbol": sample.symbol,
        "openInterest": float(sample.contracts),
        "openInterestUsd": _num(sample.usd),
        "markPrice": _num(sample.mark_price),
        "sampleTime": iso(sample.received_at),
        "exchangeTime": iso(sample.exchange_time_ms / 1000),
        "ageSeconds": round(now - sample.received_at, 3),
        "source": sample.source,
    }


def latest_view(state: WebState, now: float) -> dict[str, Any]:
    """`GET /api/market/open-interest/latest`."""
    fresh = state.freshest(now)
    return {
        "data": [sample_view(fresh[s], now) for s in sorted(fresh)],
        "count": len(fresh),
        "timestamp": iso(now),
    }


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def alert_view(alert: OiAlert) -> dict[str, Any]:
    """Seed 001 §5.3's alert payload (plus the baseline's sample count and the USD change)."""
    return {
        "symbol": alert.symbol,
        "direction": alert.direction,
        "baseline": alert.baseline,
        "current": alert.current,
        "pctChange": alert.pct_change,
        "absChange": alert.abs_change,
        "timestamp": iso(alert.timestamp),
        "source": alert.source,
        "baselineSamples": alert.baseline_samples,
        "usdChange": alert.usd_change,
    }


def universe_view(
    update: UniverseUpdate | None, plan: PollPlan | None, achieved_s: float | None
) -> dict[str, Any]:
    """`GET /api/market/open-interest/liquid-universe` and the `universe` WebSocket event."""
    return {
        "symbols": []
        if update is None
        else [
            {
                "symbol": m.symbol,
                "quoteVolume24h": m.quote_volume_24h,
                "enteredAt": iso(m.entered_at),
            }
            for m in update.liquid
        ],
        "count": 0 if update is None else len(update.liquid),
        "trackedCount": 0 if update is None else len(update.tracked),
        "entered": [] if update is None else sorted(update.entered),
        "exited": [] if update is None else sorted(update.exited),
        "thresholds": None
        if update is None
        else {
            "enterQuote24h": update.thresholds.enter_quote_24h,
            "exitQuote24h": update.thresholds.exit_quote_24h,
        },
        "interval": {
            "designSec": None if plan is None else plan.design_interval_s,
            "plannedSec": None if plan is None else plan.liquid_interval_s,
            "achievedSec": achieved_s,
            "othersSec": None if plan is None else plan.other_interval_s,
            "fitsBudget": None if plan is None else plan.fits,
            "note": None if plan is None else plan.note,
        },
        "updatedAt": None if update is None else iso(update.classified_at),
    }
