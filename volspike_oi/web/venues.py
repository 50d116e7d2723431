"""`GET /api/market/open-interest/venues`: every venue's feed, Binance's from its poller."""

from __future__ import annotations

from volspike_oi import metrics as m
from volspike_oi.health_rules import NO_POLL_INTERVALS
from volspike_oi.venues.model import VENUES, VenueName
from volspike_oi.views import VenuesView, VenueView, iso, venue_view
from volspike_oi.web.handle import WebHandle

BINANCE_DEFAULT_STALE_S = 60.0
"""Binance's staleness limit before the first plan (then 2 × the planned liquid interval)."""


def venues_view(handle: WebHandle) -> VenuesView:
    now = handle.clock.now()
    rows: list[VenueView] = []
    for venue in VENUES:
        if venue not in handle.venues_enabled:
            rows.append(_disabled(venue))
        elif venue == "binance":
            rows.append(_binance(handle, now))
        elif venue in handle.venues:
            rows.append(venue_view(handle.venues[venue], now))
    return VenuesView(venues=rows, timestamp=iso(now))


def _binance(handle: WebHandle, now: float) -> VenueView:
    poller = handle.poller
    last = max(poller.last_poll_at.values(), default=None)
    plan = poller.plan
    stale_s = (
        BINANCE_DEFAULT_STALE_S if plan is None else NO_POLL_INTERVALS * plan.liquid_interval_s
    )
    age = None if last is None else max(0.0, now - last)
    healthy = age is not None and age <= stale_s
    errors = handle.metrics.get(m.OI_POLL_FAILURES)
    held = handle.budget.hold_until if handle.budget.hold_until > now else None
    cadence = poller.achieved_interval_s()
    return VenueView(
        venue="binance",
        state="polling" if healthy else ("starting" if last is None and not errors else "down"),
        healthy=healthy,
        symbols=poller.n_liquid + poller.n_other,
        cadence_seconds=None if cadence is None else round(cadence, 3),
        last_update=None if last is None else iso(last),
        age_seconds=None if age is None else round(age, 3),
        stale_after_seconds=stale_s,
        updates=handle.metrics.get(m.OI_POLLS),
        errors=errors,
        last_error=None,
        stream_connected=None,
        reconnects=0,
        rate_limited_until=None if held is None else iso(held),
    )


def _disabled(venue: VenueName) -> VenueView:
    return VenueView(
        venue=venue,
        state="disabled",
        healthy=False,
        symbols=0,
        cadence_seconds=None,
        last_update=None,
        age_seconds=None,
        stale_after_seconds=0.0,
        updates=0,
        errors=0,
        last_error=None,
        stream_connected=None,
        reconnects=0,
        rate_limited_until=None,
    )
