"""Counters every actor writes and the status actor, `/health` and `/metrics` read.

Writes are plain increments (actors run on one trio thread), so no actor ever waits on another
to count something. Names are Prometheus-style; labels are part of the key.
"""

from __future__ import annotations

from collections import Counter

import attrs


@attrs.define
class Metrics:
    counters: Counter[str] = attrs.Factory(Counter)

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counters)


# Counter names used across actors (one place, so a typo cannot create a second series).
OI_POLLS = "oi_polls_total"
OI_POLL_FAILURES = "oi_poll_failures_total"
HTTP_429 = "binance_http_429_total"
HTTP_418 = "binance_http_418_total"
HTTP_403 = "binance_http_403_total"
"""A firewall (CDN/WAF) in front of Binance refused the request."""
HTTP_451 = "binance_http_451_total"
"""Binance refused the request from a restricted location."""
PROBES = "binance_probes_total"
"""Single requests sent at the end of a hold to see whether the exchange takes requests again."""
HTTP_5XX = "binance_http_5xx_total"
TIMEOUTS = "binance_timeouts_total"
TRANSPORT_ERRORS = "binance_transport_errors_total"
MALFORMED = "binance_malformed_total"
INVALID_SYMBOL = "binance_invalid_symbol_total"
WEIGHT_SPENT = "binance_weight_spent_total"
ALERTS = "oi_alerts_total"
MARK_STREAM_FRAMES = "mark_stream_frames_total"
MARK_STREAM_RECONNECTS = "mark_stream_reconnects_total"
MARK_REST_FALLBACKS = "mark_rest_fallback_calls_total"
SAMPLES_WITHOUT_MARK = "oi_samples_without_mark_total"
STORE_ROWS_WRITTEN = "store_rows_written_total"
STORE_WRITE_FAILURES = "store_write_failures_total"
STORE_DROPPED = "store_samples_dropped_total"
BACKFILL_CALLS = "backfill_open_interest_hist_calls_total"
WS_CONNECTIONS = "ws_connections_total"
FORWARD_POSTS = "forward_posts_total"
FORWARD_FAILURES = "forward_failures_total"


def alerts_suppressed(reason: str) -> str:
    """Samples whose move was held back by the rule `reason` (an `alerts.SUPPRESSIONS` name)."""
    return f'oi_alerts_suppressed_total{{reason="{reason}"}}'


def dropped(kind: str, consumer: str) -> str:
    """Items of `kind` ("samples", "alerts") a non-critical consumer lost: its buffer was full."""
    return f'{kind}_dropped_total{{consumer="{consumer}"}}'


def holds(reason: str) -> str:
    """Holds of every request started for `reason` (a `budget.HOLD_REASONS` value)."""
    return f'binance_holds_total{{reason="{reason}"}}'


def actor_restarts(name: str) -> str:
    return f'actor_restarts_total{{actor="{name}"}}'


def venue_updates(venue: str) -> str:
    """Readings a venue delivered (stream and REST)."""
    return f'venue_updates_total{{venue="{venue}"}}'


def venue_errors(venue: str) -> str:
    """A venue's failed calls, refusals and dropped streams."""
    return f'venue_errors_total{{venue="{venue}"}}'


def venue_reconnects(venue: str) -> str:
    return f'venue_stream_reconnects_total{{venue="{venue}"}}'
