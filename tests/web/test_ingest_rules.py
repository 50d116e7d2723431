"""Ingest rules that need "now": a sender's clock far ahead must not freeze a value as fresh.

A time further ahead than `MAX_AHEAD_S` is taken as our clock's now (logged): refusing it would
lose a reading that is fresh now, and the OpenAPI document cannot say "not after the server's
clock", so the server does not refuse what the document allows (issue 13).
"""

from __future__ import annotations

import datetime as dt

import pytest

from volspike_oi.web.ingest import MAX_AHEAD_S, IngestError, parse_alert_ingest, parse_oi_ingest

NOW = dt.datetime(2025, 11, 6, 12, 5, tzinfo=dt.UTC).timestamp()


def snapshot(at: dt.datetime) -> dict[str, object]:
    item = {
        "symbol": "BTCUSDT",
        "openInterest": 1.5,
        "openInterestUsd": 150000.0,
        "markPrice": 100000.0,
    }
    return {"data": [item], "timestamp": at.isoformat().replace("+00:00", "Z"), "totalSymbols": 1}


def test_a_snapshot_up_to_five_minutes_ahead_is_accepted():
    at = dt.datetime.fromtimestamp(NOW + MAX_AHEAD_S, tz=dt.UTC)
    assert len(parse_oi_ingest(snapshot(at), None, now=NOW).samples) == 1


def test_a_snapshot_further_ahead_is_stored_at_our_clock_not_at_its_own():
    at = dt.datetime.fromtimestamp(NOW + MAX_AHEAD_S + 60, tz=dt.UTC)
    [sample] = parse_oi_ingest(snapshot(at), None, now=NOW).samples
    assert sample.received_at == NOW


def test_a_snapshot_just_ahead_keeps_its_own_time():
    at = dt.datetime.fromtimestamp(NOW + MAX_AHEAD_S - 1, tz=dt.UTC)
    [sample] = parse_oi_ingest(snapshot(at), None, now=NOW).samples
    assert sample.received_at == NOW + MAX_AHEAD_S - 1


def test_a_time_written_before_2000_is_refused_naming_the_timestamp():
    with pytest.raises(IngestError) as info:
        parse_oi_ingest(
            {**snapshot(dt.datetime.now(dt.UTC)), "timestamp": "1999-12-31T23:59:59-17:00"},
            None,
            now=NOW,
        )
    assert info.value.field == "timestamp"


def test_an_alert_from_the_future_is_taken_at_our_clock():
    alert = {
        "symbol": "BTCUSDT",
        "direction": "UP",
        "baseline": 100.0,
        "current": 112.0,
        "pctChange": 0.12,
        "absChange": 12.0,
        "timestamp": "2025-11-06T13:00:00Z",
        "source": "oi_realtime_poller",
    }
    assert parse_alert_ingest(alert, now=NOW).timestamp == NOW


SEED_ALERT: dict[str, object] = {
    "symbol": "BTCUSDT",
    "direction": "UP",
    "baseline": 150000.0,
    "current": 165000.0,
    "pctChange": 0.1,
    "absChange": 15000.0,
    "timestamp": "2025-11-06T12:00:00Z",
    "source": "oi_realtime_poller",
}
"""Seed 001 §5.3's payload, unchanged."""


def test_the_seed_alert_payload_is_accepted_with_its_context_unknown():
    alert = parse_alert_ingest(SEED_ALERT, now=NOW)
    assert (alert.baseline, alert.current, alert.pct_change) == (150000.0, 165000.0, 0.1)
    assert (alert.baseline_usd, alert.current_usd) == (None, None)
    assert (alert.mark_price_change_pct, alert.window_minutes) == (None, None)


def test_an_alerts_context_members_are_taken_as_numbers_or_decimal_strings():
    context = {
        "baselineUsd": "12450000000.5",
        "currentUsd": 13695000000.55,
        "markPriceChangePct": -0.004,
        "windowMinutes": 60,
    }
    alert = parse_alert_ingest({**SEED_ALERT, **context}, now=NOW)
    assert (alert.baseline_usd, alert.current_usd) == (12450000000.5, 13695000000.55)
    assert (alert.mark_price_change_pct, alert.window_minutes) == (-0.004, 60.0)


@pytest.mark.parametrize("field", ["baselineUsd", "currentUsd", "windowMinutes"])
def test_a_zero_usd_level_or_window_is_refused_naming_it(field: str):
    with pytest.raises(IngestError) as info:
        parse_alert_ingest({**SEED_ALERT, field: 0}, now=NOW)
    assert info.value.field == field
