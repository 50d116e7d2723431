"""Every published snapshot: state one actor owns and writes, and others (status, web) read.

Snapshots live here, not in the actors that write them, so no actor imports another and the
web layer reads them without importing an actor. Each has exactly one writer (named in its
docstring); readers never mutate them. Messages between actors are in `messages.py`.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any, Literal

import attrs

from volspike_oi.aggregate import AssetBook, AssetHistory, AssetTotal
from volspike_oi.alerts import AlertGate
from volspike_oi.history import OiHistory
from volspike_oi.messages import OiAlert, OiSample, UniverseUpdate
from volspike_oi.polling import PollPlan

ActorState = Literal["starting", "running", "restarting", "stopped", "disabled"]
ACTOR_STATES: tuple[ActorState, ...] = ("starting", "running", "restarting", "stopped", "disabled")

RECENT_ALERTS = 1000
"""Alerts the web layer keeps in memory for `/api/open-interest-alerts` without a store."""
CACHE_TTL_S = 300.0
"""The frontend's contract (seed 000): entries older than 5 minutes are left out."""


@attrs.define
class ActorHealth:
    """Written by the supervisor: one actor's life as `/health` and `/metrics` report it."""

    name: str
    critical: bool
    state: ActorState = "starting"
    restarts: int = 0
    last_error: str = ""
    started_at: float | None = None


@attrs.define
class FanOutStatus:
    """Written by a producer's fan-out (`fanout.FanOut`): what its consumers cost it."""

    dropped: dict[str, int] = attrs.Factory(dict)
    """Items a non-critical consumer lost because its buffer was full, by consumer."""
    waiting_since: dict[str, float] = attrs.Factory(dict)
    """Critical consumers the producer is waiting on (their buffer is full), with since when."""


@attrs.define
class PollerStatus:
    """Written by the OI poller; read by status, health and the web API."""

    plan: PollPlan | None = None
    planned_rate_per_min: float = 1.0
    """The OI rate the current plan was made for; a move of more than 3 % re-plans."""
    n_liquid: int = 0
    n_other: int = 0
    liquid_gaps_s: deque[float] = attrs.Factory(lambda: deque(maxlen=2000))
    """Recent gaps between two polls of one liquid symbol."""
    last_poll_at: dict[str, float] = attrs.Factory(dict)
    quarantined: dict[str, float] = attrs.Factory(dict)
    """Symbols answered -1121, with when."""
    outputs: FanOutStatus = attrs.Factory(FanOutStatus)
    """Samples dropped for slow consumers, and the critical consumer polling waits on."""

    def achieved_interval_s(self) -> float | None:
        return statistics.median(self.liquid_gaps_s) if self.liquid_gaps_s else None


@attrs.define
class AlertState:
    """Written by the alert evaluator: every symbol's ring-buffer history (read by the web API)
    and the alert gate, both kept across the evaluator's restarts."""

    histories: dict[str, OiHistory] = attrs.Factory(dict)
    insufficient_baseline: int = 0
    """Samples judged without enough baseline samples (reported, never as 0 %)."""
    gate: AlertGate = attrs.Factory(AlertGate)
    """Cooldown and escalation state per (symbol, direction)."""
    gate_restored: bool = False
    """Whether the gate was restored from the stored alerts (once per process)."""
    outputs: FanOutStatus = attrs.Factory(FanOutStatus)
    """Alerts dropped for slow consumers, and the critical consumer the evaluator waits on."""


@attrs.define
class WriterStatus:
    """Written by the store writer."""

    buffered: int = 0
    dropped: int = 0
    """Samples dropped because the buffer bound was reached while the database was down."""
    written: int = 0
    last_write_at: float | None = None
    down_since: float | None = None
    last_error: str = ""


@attrs.define
class TargetStatus:
    """One backend as the forwarder sees it."""

    url: str
    posted: int = 0
    """Requests the backend accepted (2xx)."""
    failed: int = 0
    """Requests that did not succeed: retried (5xx, timeout, transport) or refused (4xx)."""
    samples_sent: int = 0
    """Readings in accepted snapshots (each snapshot carries every symbol again)."""
    alerts_sent: int = 0
    snapshot_symbols: int = 0
    """Symbols in the last snapshot the backend accepted (its whole OI cache)."""
    rejected: int = 0
    """Items in requests refused with a 4xx and dropped (they would never succeed)."""
    dropped: int = 0
    """Waiting alerts dropped, oldest first, because the buffer bound was reached."""
    buffered: int = 0
    """Alerts waiting to be posted, plus the readings of a snapshot whose post is retried."""
    last_error: str = ""
    last_success_at: float | None = None
    failing_since: float | None = None


@attrs.define
class ForwarderStatus:
    """Written by the forwarder."""

    targets: dict[str, TargetStatus] = attrs.Factory(dict)
    """By base URL, in the order configured (PROD first)."""
    skipped_without_price: int = 0
    """Readings never forwarded: no positive mark price (so no USD value; the backend drops
    markPrice <= 0) or a USD value of 0."""


@attrs.define
class ServiceStatus:
    """Written by the status actor: the universe as last classified and the last status line."""

    universe: UniverseUpdate | None = None
    last_minute: dict[str, Any] = attrs.Factory(dict)
    """The figures of the last status line."""
    line: str = ""


@attrs.define
class WebState:
    """Written by the web feed: what the HTTP API serves about "now".

    Realtime samples win over snapshots while fresh; an entry older than the TTL is left out.
    """

    realtime: dict[str, OiSample] = attrs.Factory(dict)
    snapshot: dict[str, OiSample] = attrs.Factory(dict)
    """Binance's readings by symbol (what the legacy routes and the forwarder serve)."""
    venues: dict[str, dict[str, OiSample]] = attrs.Factory(dict)
    """Every other venue's newest reading, by venue then the venue's symbol."""
    recent_alerts: deque[OiAlert] = attrs.Factory(lambda: deque(maxlen=RECENT_ALERTS))
    """The newest alerts, from the evaluator and from ingest, oldest first."""
    ttl_s: float = CACHE_TTL_S

    def record(self, sample: OiSample) -> None:
        if sample.venue != "binance":
            self.venues.setdefault(sample.venue, {})[sample.symbol] = sample
            return
        book = self.realtime if sample.source == "realtime" else self.snapshot
        current = book.get(sample.symbol)
        if current is None or sample.received_at >= current.received_at:
            book[sample.symbol] = sample

    def freshest(self, now: float) -> dict[str, OiSample]:
        """One sample per symbol: realtime when fresh, else a fresh snapshot."""
        out = {s: x for s, x in self.snapshot.items() if now - x.received_at <= self.ttl_s}
        out.update({s: x for s, x in self.realtime.items() if now - x.received_at <= self.ttl_s})
        return out

    def venue_latest(self, venue: str, now: float) -> dict[str, OiSample]:
        """A venue's readings younger than the TTL, by its symbol (Binance: `freshest`)."""
        if venue == "binance":
            return self.freshest(now)
        book = self.venues.get(venue, {})
        return {s: x for s, x in book.items() if now - x.received_at <= self.ttl_s}


VenueFeedState = Literal["starting", "streaming", "polling", "down"]


@attrs.define
class VenueStatus:
    """Written by one venue's feed actor (`actors/venue_feed.py`); read by `/venues`,
    `/health`, `/metrics`, the status line and the debug page."""

    venue: str
    state: VenueFeedState = "starting"
    """streaming: the push channel delivers; polling: REST stands in while the stream is down
    or stale; down: neither has answered within the staleness limit."""
    symbols: int = 0
    """Instruments tracked (the venue's trading USD-settled perpetuals)."""
    updates: int = 0
    """Readings received (stream and REST)."""
    stream_updates: int = 0
    rest_snapshots: int = 0
    errors: int = 0
    last_error: str = ""
    last_error_at: float | None = None
    last_update_at: float | None = None
    """Wall clock of the newest reading, from either path."""
    last_stream_message_at: float | None = None
    stream_connected: bool = False
    reconnects: int = 0
    rate_limited_until: float | None = None
    """Wall clock until which the venue refuses us (nothing is sent before)."""
    stale_after_s: float = 30.0
    stored: int = 0
    """Readings handed to the store writer (at most one per symbol per store interval, and
    only when they changed)."""
    update_gaps_s: deque[float] = attrs.Factory(lambda: deque(maxlen=4000))
    """Recent gaps between two readings of one symbol whose value changed."""
    last_change_at: dict[str, float] = attrs.Factory(dict)
    outputs: FanOutStatus = attrs.Factory(FanOutStatus)

    def cadence_s(self) -> float | None:
        """Median seconds between two changed readings of one symbol (the venue's real pace)."""
        return statistics.median(self.update_gaps_s) if self.update_gaps_s else None

    def age_s(self, now: float) -> float | None:
        return None if self.last_update_at is None else max(0.0, now - self.last_update_at)

    def healthy(self, now: float) -> bool:
        age = self.age_s(now)
        return age is not None and age <= self.stale_after_s

    def state_at(self, now: float) -> VenueFeedState:
        """`state` as of `now`: a feed last seen streaming or polling whose newest reading is
        past the limit is down, even while its actor waits out a refusal and cannot say so."""
        if self.state in ("streaming", "polling") and not self.healthy(now):
            return "down"
        return self.state


@attrs.define
class AssetState:
    """Written by the aggregator (`actors/aggregator.py`): every asset summed across venues, its
    per-venue history for the baseline, the last hour of totals and the aggregate alert gate."""

    book: AssetBook = attrs.Factory(AssetBook)
    history: AssetHistory = attrs.Factory(AssetHistory)
    totals: dict[str, AssetTotal] = attrs.Factory(dict)
    """The newest total of every asset (recomputed when a reading changed or went stale)."""
    series: dict[str, deque[tuple[float, float, float]]] = attrs.Factory(dict)
    """Per asset, (time, total coin, total USD) every `aggregate.SAMPLE_EVERY_S`, the last hour."""
    stale_after_s: dict[str, float] = attrs.Factory(dict)
    """Each venue's staleness limit as the totals are judged."""
    gate: AlertGate = attrs.Factory(AlertGate)
    gate_restored: bool = False
    warm_started: bool = False
    """Whether the last hour's history was read back from the store (once per process)."""
    verdicts: dict[str, int] = attrs.Factory(dict)
    """Aggregate verdicts by kind since the start (fired, cooldown, plateau, usd_gate …)."""
    outputs: FanOutStatus = attrs.Factory(FanOutStatus)
