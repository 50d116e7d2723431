"""Ingest rules that need "now": a sender's clock far ahead must not freeze a value as fresh."""

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


def test_a_snapshot_further_ahead_is_refused_naming_the_timestamp():
    at = dt.datetime.fromtimestamp(NOW + MAX_AHEAD_S + 60, tz=dt.UTC)
    with pytest.raises(IngestError) as info:
        parse_oi_ingest(snapshot(at), None, now=NOW)
    assert info.value.field == "timestamp"
    assert "in the future" in info.value.message


def test_an_alert_from_the_future_is_refused():
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
    with pytest.raises(IngestError, match="in the future"):
        parse_alert_ingest(alert, now=NOW)
