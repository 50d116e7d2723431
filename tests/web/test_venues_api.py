"""Venues in the API (issue 11): `/venues`, `venue=` on `/latest` and `/samples`, the legacy map
still Binance's alone, and `venues` on the WebSocket subscription — in memory, no sockets."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import trio

from tests.web.conftest import make_service, unfed_app
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiSample
from volspike_oi.service import Service
from volspike_oi.snapshots import VenueStatus
from volspike_oi.web.hub import Hub
from volspike_oi.web.ws_ops import apply_op

NOW = 1_764_000_000.0


def sample(venue: str, symbol: str, **kw: Any) -> OiSample:
    fields: dict[str, Any] = {
        "symbol": symbol,
        "contracts": Decimal(100),
        "exchange_time_ms": int(NOW * 1000),
        "received_at": NOW - 1,
        "mark_price": Decimal(80000),
        "usd": Decimal(80000),
        "source": "realtime",
        "venue": venue,
        **kw,
    }
    return OiSample(**fields)


def service_with_venues() -> Service:
    service = make_service(WallClock(NOW, 0.0))
    bybit = service.venues["bybit"] = VenueStatus("bybit", stale_after_s=30.0)
    bybit.state, bybit.symbols, bybit.updates = "streaming", 412, 9000
    bybit.last_update_at, bybit.stream_connected = NOW - 0.5, True
    bybit.update_gaps_s.extend([0.1, 0.1, 0.3])
    okx = service.venues["okx"] = VenueStatus("okx", stale_after_s=25.0)
    okx.state, okx.errors, okx.last_error = "down", 3, "stream: connection refused"
    okx.last_update_at, okx.rate_limited_until = NOW - 100, NOW + 50
    service.web.record(sample("binance", "BTCUSDT"))
    service.web.record(
        sample("bybit", "BTCUSDT", contracts=Decimal(52774), asset="BTC", coin=Decimal(52774))
    )
    service.web.record(
        sample("hyperliquid", "kPEPE", contracts=Decimal(10), asset="PEPE", coin=Decimal(10_000))
    )
    return service


def app_for(service: Service, enabled: tuple[str, ...]) -> Any:
    service.settings = attrs.evolve(service.settings, oi_venues=enabled)
    return unfed_app(service)


async def get(app: Any, path: str) -> tuple[int, Any]:
    response = await app.test_client().get(path)
    return response.status_code, json.loads(await response.get_data())


async def test_venues_lists_every_venue_with_its_state_cadence_and_errors(
    autojump_clock: trio.abc.Clock,
) -> None:
    service = service_with_venues()
    app = app_for(service, ("binance", "bybit", "okx"))
    status, body = await get(app, "/api/market/open-interest/venues")
    assert status == 200
    rows = {v["venue"]: v for v in body["venues"]}
    assert list(rows) == ["binance", "bybit", "okx", "deribit", "hyperliquid"]
    assert rows["bybit"]["state"] == "streaming"
    assert rows["bybit"]["healthy"] is True
    assert rows["bybit"]["cadenceSeconds"] == 0.1
    assert rows["bybit"]["symbols"] == 412
    assert rows["okx"]["healthy"] is False
    assert rows["okx"]["lastError"] == "stream: connection refused"
    assert rows["okx"]["rateLimitedUntil"] is not None
    assert rows["deribit"]["state"] == "disabled"
    assert rows["binance"]["streamConnected"] is None


async def test_latest_takes_a_venue_and_defaults_to_binance(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = app_for(service_with_venues(), ("binance", "bybit", "hyperliquid"))
    _, binance = await get(app, "/api/market/open-interest/latest")
    assert [(r["venue"], r["symbol"], r["openInterest"]) for r in binance["data"]] == [
        ("binance", "BTCUSDT", 100.0)
    ]
    _, bybit = await get(app, "/api/market/open-interest/latest?venue=bybit")
    assert [(r["venue"], r["asset"], r["coin"]) for r in bybit["data"]] == [
        ("bybit", "BTC", 52774.0)
    ]
    # Another venue's symbols keep their case; a differently cased query finds them.
    status, pepe = await get(app, "/api/market/open-interest/latest?venue=hyperliquid&symbol=KPEPE")
    assert status == 200
    assert [(r["symbol"], r["asset"], r["coin"]) for r in pepe["data"]] == [
        ("kPEPE", "PEPE", 10_000.0)
    ]


async def test_an_unknown_venue_is_a_400_naming_the_field(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = app_for(service_with_venues(), ("binance", "bybit"))
    for path in (
        "/api/market/open-interest/latest?venue=ftx",
        "/api/market/open-interest/samples?venue=ftx&symbol=BTCUSDT",
    ):
        status, body = await get(app, path)
        assert status == 400
        assert body["field"] == "venue"


async def test_the_frontends_legacy_map_stays_binance_only(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = app_for(service_with_venues(), ("binance", "bybit", "hyperliquid"))
    _, body = await get(app, "/api/market/open-interest")
    assert body["data"] == {"BTCUSDT": 80000.0}


async def test_samples_of_another_venue_without_a_store_are_empty_not_binances(
    autojump_clock: trio.abc.Clock,
) -> None:
    service = service_with_venues()
    app = app_for(service, ("binance", "bybit"))
    status, body = await get(app, "/api/market/open-interest/samples?venue=bybit&symbol=BTCUSDT")
    assert status == 200
    assert body["samples"] == []
    status, _ = await get(app, "/api/market/open-interest/samples?venue=bybit&symbol=NOPEUSDT")
    assert status == 404


def test_websocket_rows_come_from_binance_until_a_subscription_names_venues() -> None:
    hub = Hub()
    _old_client, old_rx = hub.subscribe()
    new_client, new_rx = hub.subscribe()
    reply = apply_op(new_client, '{"op": "subscribe", "channels": ["oi"], "venues": ["bybit"]}')
    assert json.loads(reply or "")["venues"] == ["bybit"]
    hub.publish_oi(
        [
            {"symbol": "BTCUSDT", "venue": "binance"},
            {"symbol": "BTCUSDT", "venue": "bybit"},
        ]
    )
    assert [r["venue"] for r in json.loads(old_rx.receive_nowait())["data"]] == ["binance"]
    assert [r["venue"] for r in json.loads(new_rx.receive_nowait())["data"]] == ["bybit"]
    bad = apply_op(new_client, '{"op": "subscribe", "venues": ["ftx"]}')
    assert json.loads(bad or "")["field"] == "venues"
    assert new_client.venues == frozenset({"bybit"})


async def test_a_feed_last_seen_streaming_whose_readings_are_past_the_limit_shows_down(
    autojump_clock: trio.abc.Clock,
) -> None:
    service = service_with_venues()
    stuck = service.venues["bybit"]
    stuck.last_update_at = NOW - 120  # waiting out a 10-minute ban: its actor cannot say so
    app = app_for(service, ("binance", "bybit", "okx"))
    _, body = await get(app, "/api/market/open-interest/venues")
    bybit = next(v for v in body["venues"] if v["venue"] == "bybit")
    assert (bybit["state"], bybit["healthy"]) == ("down", False)
