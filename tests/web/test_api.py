"""The HTTP API: routes, validation, auth and the frontend cache, driven in memory.

Most tests build a `Service` by hand (tests/web/conftest.py: its snapshots set as a test needs
them, a synthetic tracked universe), serve it with `create_app` and drive it with quart's test
client: no sockets, no simulator, the real web feed applying what is posted, `autojump_clock`
for anything that waits. Tests that store rows run on the real clock against a fresh embedded
Postgres (tests/conftest.py) and count rows with psycopg. One test keeps the whole pipeline —
the service against the simulator, its API on a loopback port (port 0), Postgres behind it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
import trio

from tests.conftest import START_MS, count_rows
from tests.service_harness import ALERT_KEYS, INGEST_ONLY, Stack, start_stack, wait_until
from tests.web.conftest import API_KEY, make_service, start_app, unfed_app
from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.history import OiHistory
from volspike_oi.messages import LiquidMember, UniverseUpdate
from volspike_oi.polling import plan_polls
from volspike_oi.service import Service
from volspike_oi.snapshots import ActorHealth, ActorState
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.schema import ensure_partitions
from volspike_oi.universe import Thresholds
from volspike_oi.views import iso

AUTH = {"X-API-Key": API_KEY}
INGEST = "/api/market/open-interest/ingest"
ALERT_INGEST = "/api/open-interest-alerts/ingest"
FRONTEND = "/api/market/open-interest"
LATEST = "/api/market/open-interest/latest"
SAMPLES = "/api/market/open-interest/samples"
ALERTS = "/api/open-interest-alerts"
SAMPLE_KEYS = {
    "symbol",
    "openInterest",
    "openInterestUsd",
    "markPrice",
    "sampleTime",
    "exchangeTime",
    "ageSeconds",
    "source",
    "venue",
    "asset",
    "coin",
}
TRACKED = frozenset(f"T{i:03d}USDT" for i in range(400))
"""The hand-built universe: enough tracked perps for seed 000's 342-symbol batch."""
LIQUID = 25
ACTORS: dict[str, tuple[bool, ActorState]] = {
    # name: (critical, state) — as `service.run` starts them with no store, no poller and no
    # alert evaluator
    "status": (False, "running"),
    "web_feed": (False, "running"),
    "forwarder": (False, "disabled"),
    "alert_evaluator": (False, "disabled"),
    "backfill": (False, "disabled"),
    "mark_prices": (False, "running"),
    "oi_poller": (True, "disabled"),
    "classifier": (True, "running"),
    "exchange_info": (True, "running"),
    "http": (True, "running"),
}


def classified(at: float) -> UniverseUpdate:
    """The universe as the classifier would publish it at `at`: `TRACKED`, the first `LIQUID`
    of them liquid."""
    members = sorted(TRACKED)[:LIQUID]
    return UniverseUpdate(
        tracked=TRACKED,
        liquid=tuple(LiquidMember(s, 5e6 + 1e5 * i, at - 600) for i, s in enumerate(members)),
        entered=frozenset(),
        exited=frozenset(),
        thresholds=Thresholds(4e6, 2e6),
        classified_at=at,
    )


def in_memory_service() -> Service:
    """A hand-built service at the simulated epoch with its universe classified."""
    service = make_service(WallClock.starting_now(START_MS / 1000))
    service.status.universe = classified(service.clock.now())
    return service


async def serve_in_memory(
    nursery: trio.Nursery,
    service: Service | None = None,
    *,
    api_key: str | None = API_KEY,
    store: PostgresStore | None = None,
) -> tuple[Service, Any]:
    """(service, quart test client) with the real web feed applying what is posted."""
    service = service or in_memory_service()
    app = await start_app(nursery, service, api_key=api_key, store=store)
    return service, app.test_client()


def symbols(n: int) -> list[str]:
    return sorted(TRACKED)[:n]


def now_iso(service: Service, offset_s: float = 0.0) -> str:
    return iso(service.clock.now() + offset_s)


def oi_item(symbol: str, contracts: float, mark: float, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "openInterest": contracts,
        "openInterestUsd": round(contracts * mark, 2),
        "markPrice": mark,
        **extra,
    }


def legacy_payload(
    symbols: list[str], at: str, *, mark: float = 2.5, **extra: Any
) -> dict[str, Any]:
    """Seed 000's 5-minute snapshot body: `{data, timestamp, totalSymbols}`."""
    return {
        "data": [oi_item(s, 1000.0 + i, mark) for i, s in enumerate(symbols)],
        "timestamp": at,
        "totalSymbols": len(symbols),
        **extra,
    }


def alert_payload(at: str, symbol: str = "BTCUSDT", **extra: Any) -> dict[str, Any]:
    """Seed 001 §5.3's alert body."""
    return {
        "symbol": symbol,
        "direction": "UP",
        "baseline": 150000.0,
        "current": 165000.0,
        "pctChange": 0.1,
        "absChange": 15000.0,
        "timestamp": at,
        "source": "oi_realtime_poller",
        **extra,
    }


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def nothing_held(service: Service) -> bool:
    web = service.web
    return not web.snapshot and not web.realtime and not web.recent_alerts


async def get_json(client: Any, path: str, **query: Any) -> Any:
    return await (await client.get(path, query_string=query or None)).get_json()


# -- auth -------------------------------------------------------------------------------------


async def test_ingest_without_a_key_is_refused_and_nothing_is_kept(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    body = legacy_payload(symbols(3), now_iso(service))
    oi = await client.post(INGEST, json=body)
    alert = await client.post(ALERT_INGEST, json=alert_payload(now_iso(service)))
    assert (oi.status_code, alert.status_code) == (401, 401)
    assert "API key" in (await oi.get_json())["error"]
    assert nothing_held(service)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "wrong-key"},
        {"X-API-Key": API_KEY + "x"},
        {"X-API-Key": API_KEY[:-1]},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": API_KEY},
        {"Authorization": f"Basic {API_KEY}"},
    ],
    ids=["wrong", "longer", "prefix", "wrong-bearer", "no-scheme", "basic"],
)
async def test_ingest_with_a_wrong_key_is_refused(nursery, autojump_clock, headers):
    service, client = await serve_in_memory(nursery)
    oi = await client.post(
        INGEST, json=legacy_payload(symbols(3), now_iso(service)), headers=headers
    )
    alert = await client.post(ALERT_INGEST, json=alert_payload(now_iso(service)), headers=headers)
    assert (oi.status_code, alert.status_code) == (401, 401)
    assert nothing_held(service)


async def test_ingest_takes_the_key_as_x_api_key_or_bearer_token(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    a, b, c = symbols(3)
    by_header = await client.post(INGEST, json=legacy_payload([a], now_iso(service)), headers=AUTH)
    by_bearer = await client.post(
        INGEST,
        json=legacy_payload([b], now_iso(service)),
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    by_lower_bearer = await client.post(
        INGEST,
        json=legacy_payload([c], now_iso(service)),
        headers={"Authorization": f"bearer {API_KEY}"},
    )
    alert = await client.post(
        ALERT_INGEST,
        json=alert_payload(now_iso(service)),
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert [r.status_code for r in (by_header, by_bearer, by_lower_bearer, alert)] == [200] * 4
    assert set(service.web.snapshot) == {a, b, c}


async def test_a_server_without_a_key_refuses_every_ingest(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery, api_key=None)
    attempts = [
        {},
        AUTH,
        {"X-API-Key": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {API_KEY}"},
    ]
    responses = []
    for headers in attempts:
        responses.append(
            await client.post(
                INGEST, json=legacy_payload(symbols(3), now_iso(service)), headers=headers
            )
        )
        responses.append(
            await client.post(ALERT_INGEST, json=alert_payload(now_iso(service)), headers=headers)
        )
    errors = [(await r.get_json())["error"] for r in responses]
    assert {r.status_code for r in responses} == {503}
    assert all("VOLSPIKE_API_KEY" in error for error in errors)
    assert nothing_held(service)


# -- ingest: what is kept, what is rejected ---------------------------------------------------


@contextlib.asynccontextmanager
async def served(
    nursery: trio.Nursery, store: PostgresStore
) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    """The whole service against the simulator, its API on a free loopback port, once the
    tracked universe is known."""
    stack = await start_stack(
        nursery, env={**INGEST_ONLY, "VOLSPIKE_API_KEY": API_KEY}, store=store
    )
    await wait_until(lambda: stack.service.status.universe is not None, 30)
    async with httpx.AsyncClient(base_url=stack.service.http_binds[0], timeout=30) as client:
        yield stack, client


async def test_a_legacy_342_symbol_snapshot_is_stored_and_served_for_every_symbol(
    pg_uri: str, pg_store: PostgresStore
):
    async with trio.open_nursery() as nursery, served(nursery, pg_store) as (stack, client):
        universe = stack.service.status.universe
        assert universe is not None
        tracked = sorted(universe.tracked)[:342]
        assert len(tracked) == 342
        body = legacy_payload(tracked, iso(stack.service.clock.now()))  # seed 000's shape
        posted = await client.post(INGEST, json=body, headers=AUTH)
        reposted = await client.post(INGEST, json=body, headers=AUTH)  # the script retried
        served_now = await client.get(FRONTEND)
        nursery.cancel_scope.cancel()
    assert posted.status_code == 200, posted.text
    assert posted.json() == {
        "stored": 342,
        "duplicates": 0,
        "rejected": [],
        "received": 342,
        "totalSymbols": 342,
    }
    # The same batch again stores nothing new, and says so instead of "342 inserted".
    assert reposted.json()["stored"] == 0
    assert reposted.json()["duplicates"] == 342
    with psycopg.connect(pg_uri) as conn:
        rows = conn.execute(
            "SELECT source, count(*), count(DISTINCT symbol) FROM open_interest_snapshots "
            "GROUP BY source"
        ).fetchall()
    assert rows == [("snapshot", 342, 342)]
    frontend = served_now.json()
    assert set(frontend) == {"data", "timestamp", "cacheExpiry"}
    assert frontend["data"] == {i["symbol"]: i["openInterestUsd"] for i in body["data"]}
    assert frontend["timestamp"] == body["timestamp"]


async def test_a_realtime_batch_with_missing_prices_leaves_no_symbol_out(nursery, autojump_clock):
    """Seed 003: 300 of 342 realtime items came with markPrice 0 and the dashboard showed 43
    symbols at $0.00. Those items are rejected with a reason, and every symbol that still has a
    fresh sample (here the snapshot of a minute before) is served with its value."""
    service, client = await serve_in_memory(nursery)
    batch = symbols(342)
    snapshot = legacy_payload(batch, now_iso(service), mark=2.0)
    assert (await client.post(INGEST, json=snapshot, headers=AUTH)).status_code == 200
    await trio.sleep(60)
    realtime = legacy_payload(batch, now_iso(service), mark=3.0, source="realtime")
    for item in realtime["data"][42:]:
        item["markPrice"] = 0
        item["openInterestUsd"] = 0
    posted = await client.post(INGEST, json=realtime, headers=AUTH)
    frontend = (await get_json(client, FRONTEND))["data"]
    result = await posted.get_json()
    assert posted.status_code == 200, result
    assert result["stored"] == 42
    assert [r["index"] for r in result["rejected"]] == list(range(42, 342))
    assert all("markPrice" in r["reason"] for r in result["rejected"])
    assert len(frontend) == 342
    assert 0 not in frontend.values()
    for i, symbol in enumerate(batch):
        expected = realtime if i < 42 else snapshot
        assert frontend[symbol] == expected["data"][i]["openInterestUsd"], symbol


@pytest.mark.parametrize("mark", [0, 0.0, "0", -1.5, None], ids=repr)
async def test_an_item_without_a_positive_mark_price_is_rejected_not_shown_as_0(
    nursery, autojump_clock, mark
):
    service, client = await serve_in_memory(nursery)
    good, bad = symbols(2)
    body = legacy_payload([good, bad], now_iso(service))
    body["data"][1]["markPrice"] = mark
    body["data"][1]["openInterestUsd"] = 0
    posted = await client.post(INGEST, json=body, headers=AUTH)
    frontend = (await get_json(client, FRONTEND))["data"]
    latest = await get_json(client, LATEST)
    result = await posted.get_json()
    assert posted.status_code == 200, result
    [rejected] = result["rejected"]
    assert rejected["index"] == 1
    assert rejected["symbol"] == bad
    assert "markPrice must be > 0" in rejected["reason"]
    assert result["stored"] == 1
    assert frontend == {good: body["data"][0]["openInterestUsd"]}
    assert [row["symbol"] for row in latest["data"]] == [good]


async def test_an_unknown_symbol_is_rejected_with_its_reason(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    [known] = symbols(1)
    body = legacy_payload([known, "NOTAPERPUSDT", "btcusd_perp"], now_iso(service))
    posted = await client.post(INGEST, json=body, headers=AUTH)
    frontend = (await get_json(client, FRONTEND))["data"]
    result = await posted.get_json()
    assert posted.status_code == 200, result
    assert result["stored"] == 1
    assert [(r["index"], r["symbol"]) for r in result["rejected"]] == [
        (1, "NOTAPERPUSDT"),
        (2, "BTCUSD_PERP"),
    ]
    assert all("unknown symbol" in r["reason"] for r in result["rejected"])
    assert list(frontend) == [known]


def malformed_oi_bodies(symbol: str, at: str) -> list[tuple[str, bytes, str]]:
    """(case, raw body, the field the 400 must name). Every body starts with a valid item,
    so a partial store would show."""

    def with_items(*items: Any, **top: Any) -> bytes:
        body: dict[str, Any] = {
            "data": [oi_item(symbol, 1000.0, 2.5), *items],
            "timestamp": at,
            "totalSymbols": 2,
            **top,
        }
        return json.dumps(body).encode()

    valid = json.dumps(oi_item(symbol, 1000.0, 2.5))
    return [
        ("not JSON", b"symbol=BTCUSDT&openInterest=1", "$"),
        ("truncated JSON", with_items()[:-3], "$"),
        ("not an object", b"[1, 2, 3]", "$"),
        ("empty body", b"", "$"),
        ("no data", json.dumps({"timestamp": at}).encode(), "data"),
        ("data not a list", json.dumps({"data": {"a": 1}, "timestamp": at}).encode(), "data"),
        ("item not an object", with_items(42), "data[1]"),
        (
            "openInterest letters",
            with_items(oi_item("ETHUSDT", 1.0, 2.0, openInterest="abc")),
            "data[1].openInterest",
        ),
        (
            "missing openInterest",
            with_items({"symbol": "ETHUSDT", "markPrice": 2.0}),
            "data[1].openInterest",
        ),
        ("missing symbol", with_items({"openInterest": 1.0, "markPrice": 2.0}), "data[1].symbol"),
        (
            "markPrice a list",
            with_items(oi_item("ETHUSDT", 1.0, 2.0, markPrice=[1])),
            "data[1].markPrice",
        ),
        ("missing timestamp", json.dumps({"data": [json.loads(valid)]}).encode(), "timestamp"),
        ("timestamp a number", with_items(timestamp=1_791_360_000), "timestamp"),
        ("timestamp not ISO", with_items(timestamp="yesterday"), "timestamp"),
        ("totalSymbols negative", with_items(totalSymbols=-1), "totalSymbols"),
        ("unknown source", with_items(source="magic"), "source"),
        ("source a list", with_items(source=[]), "source"),
        ("year 0 in UTC", with_items(timestamp="0001-01-01T00:00:00+14:00"), "timestamp"),
        (
            "openInterest out of range",
            with_items(oi_item("ETHUSDT", 1.0, 2.0, openInterest="1e999999")),
            "data[1].openInterest",
        ),
        ("nested too deeply", b"[" * 100_000, "$"),
        (
            "NaN",
            f'{{"data": [{valid}, {{"symbol": "ETHUSDT", "openInterest": NaN, '
            f'"markPrice": 2.0}}], "timestamp": "{at}"}}'.encode(),
            "data[1].openInterest",
        ),
        (
            "Infinity",
            f'{{"data": [{valid}, {{"symbol": "ETHUSDT", "openInterest": 1, '
            f'"markPrice": Infinity}}], "timestamp": "{at}"}}'.encode(),
            "data[1].markPrice",
        ),
    ]


def malformed_alert_bodies(at: str) -> list[tuple[str, bytes, str]]:
    def alert(**changes: Any) -> bytes:
        body = alert_payload(at)
        for key, value in changes.items():
            if value is ...:
                del body[key]
            else:
                body[key] = value
        return json.dumps(body).encode()

    return [
        ("not JSON", b"{'symbol': 'BTCUSDT'}", "$"),
        ("a list", b"[]", "$"),
        ("missing symbol", alert(symbol=...), "symbol"),
        ("bad direction", alert(direction="SIDEWAYS"), "direction"),
        ("baseline letters", alert(baseline="abc"), "baseline"),
        ("baseline 0", alert(baseline=0), "baseline"),
        ("missing current", alert(current=...), "current"),
        ("missing timestamp", alert(timestamp=...), "timestamp"),
        ("source a number", alert(source=5), "source"),
        ("NUL in symbol", alert(symbol="BTC\x00USDT"), "symbol"),
        ("NaN", alert(pctChange=0.1).replace(b"0.1", b"NaN"), "pctChange"),
    ]


async def test_malformed_bodies_are_refused_with_400_naming_the_field_and_nothing_is_stored(
    pg_uri: str, pg_store: PostgresStore
):
    answers: list[tuple[str, str, int, dict[str, Any]]] = []
    async with trio.open_nursery() as nursery:
        service, client = await serve_in_memory(nursery, store=pg_store)
        [symbol] = symbols(1)
        at = now_iso(service)
        headers = {**AUTH, "Content-Type": "application/json"}
        for case, raw, field in malformed_oi_bodies(symbol, at):
            r = await client.post(INGEST, data=raw, headers=headers)
            answers.append((f"oi: {case}", field, r.status_code, await r.get_json()))
        for case, raw, field in malformed_alert_bodies(at):
            r = await client.post(ALERT_INGEST, data=raw, headers=headers)
            answers.append((f"alert: {case}", field, r.status_code, await r.get_json()))
        nursery.cancel_scope.cancel()
    for case, field, status, body in answers:
        assert status == 400, (case, body)
        assert body["field"] == field, (case, body)
        assert body["error"], case
    assert count_rows(pg_uri, "open_interest_snapshots") == 0
    assert count_rows(pg_uri, "open_interest_alerts") == 0
    assert nothing_held(service)


# -- the frontend cache -----------------------------------------------------------------------


async def test_a_fresh_realtime_sample_wins_over_a_newer_snapshot(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    [symbol] = symbols(1)
    realtime = {
        "data": [oi_item(symbol, 5000.0, 3.0)],
        "timestamp": now_iso(service),
        "source": "realtime",
    }
    assert (await client.post(INGEST, json=realtime, headers=AUTH)).status_code == 200
    await trio.sleep(200)
    snapshot = legacy_payload([symbol], now_iso(service), mark=2.0)
    assert (await client.post(INGEST, json=snapshot, headers=AUTH)).status_code == 200
    while_fresh = (await get_json(client, FRONTEND))["data"]
    latest = (await get_json(client, LATEST))["data"]
    await trio.sleep(101)  # the realtime sample is now 301 s old; the snapshot 101 s
    after = (await get_json(client, FRONTEND))["data"]
    assert while_fresh == {symbol: 15000.0}
    assert [row["source"] for row in latest] == ["realtime"]
    assert after == {symbol: snapshot["data"][0]["openInterestUsd"]}


async def test_a_realtime_item_in_a_snapshot_batch_is_taken_as_realtime(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    a, b = symbols(2)
    body = legacy_payload([a, b], now_iso(service))
    body["data"][1]["source"] = "realtime"
    assert (await client.post(INGEST, json=body, headers=AUTH)).status_code == 200
    assert set(service.web.snapshot) == {a}
    assert set(service.web.realtime) == {b}


async def test_entries_older_than_the_ttl_are_left_out(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    batch = symbols(5)
    posted = await client.post(INGEST, json=legacy_payload(batch, now_iso(service)), headers=AUTH)
    assert posted.status_code == 200
    await trio.sleep(299)
    fresh = await get_json(client, FRONTEND)
    await trio.sleep(2)
    stale = await get_json(client, FRONTEND)
    latest = await get_json(client, LATEST)
    assert sorted(fresh["data"]) == batch
    assert stale["data"] == {}
    assert latest["data"] == []
    assert latest["count"] == 0


async def test_the_frontend_cache_expires_five_minutes_after_its_newest_sample(
    nursery, autojump_clock
):
    service, client = await serve_in_memory(nursery)
    at = now_iso(service)
    await client.post(INGEST, json=legacy_payload(symbols(2), at), headers=AUTH)
    body = await get_json(client, FRONTEND)
    assert body["timestamp"] == at
    assert parse_iso(body["cacheExpiry"]) - parse_iso(at) == dt.timedelta(minutes=5)


# -- reads: shapes and parameters -------------------------------------------------------------


async def test_latest_lists_each_fresh_sample_with_its_age_and_source(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    a, b = symbols(2)
    body = legacy_payload([a, b], now_iso(service), mark=4.0)
    await client.post(INGEST, json=body, headers=AUTH)
    await trio.sleep(10)
    latest = await get_json(client, LATEST)
    assert set(latest) == {"data", "count", "timestamp"}
    assert latest["count"] == 2
    assert [row["symbol"] for row in latest["data"]] == [a, b]
    row = latest["data"][0]
    assert set(row) == SAMPLE_KEYS
    assert row["openInterest"] == 1000.0
    assert row["markPrice"] == 4.0
    assert row["openInterestUsd"] == 4000.0
    assert row["sampleTime"] == body["timestamp"]
    assert row["source"] == "snapshot"
    assert 9.9 <= row["ageSeconds"] <= 10.5


async def test_liquid_universe_lists_the_liquid_symbols_and_the_poll_interval():
    service = in_memory_service()
    universe = service.status.universe
    assert universe is not None
    service.poller.plan = plan_polls(
        len(universe.liquid), len(universe.tracked) - LIQUID, 2000, 5, 20
    )
    service.poller.liquid_gaps_s.extend([5.0, 5.2, 4.9])
    body = await get_json(
        unfed_app(service).test_client(), "/api/market/open-interest/liquid-universe"
    )
    assert body["count"] == len(universe.liquid) > 0
    assert body["trackedCount"] == len(universe.tracked)
    assert [m["symbol"] for m in body["symbols"]] == [m.symbol for m in universe.liquid]
    assert set(body["symbols"][0]) == {"symbol", "quoteVolume24h", "enteredAt"}
    assert body["thresholds"]["enterQuote24h"] > body["thresholds"]["exitQuote24h"] > 0
    interval = body["interval"]
    assert set(interval) == {
        "designSec",
        "plannedSec",
        "achievedSec",
        "othersSec",
        "fitsBudget",
        "note",
    }
    assert interval["plannedSec"] > 0
    assert isinstance(interval["fitsBudget"], bool)
    assert body["updatedAt"].endswith("Z")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "symbol"),
        ("?limit=10", "symbol"),
        ("?symbol=", "symbol"),
        ("?symbol=BTC%20USDT", "symbol"),
        ("?symbol=" + "X" * 41, "symbol"),
        ("?symbol=BTCUSDT&limit=abc", "limit"),
        ("?symbol=BTCUSDT&limit=0", "limit"),
        ("?symbol=BTCUSDT&limit=-5", "limit"),
        ("?symbol=BTCUSDT&limit=1.5", "limit"),
        ("?symbol=BTCUSDT&limit=%C2%B2", "limit"),  # "²": a digit to str.isdigit, not to int
        ("?symbol=BTCUSDT&limit=" + "9" * 5000, "limit"),
        ("?symbol=BTCUSDT&since=yesterday", "since"),
        ("?symbol=BTCUSDT&since=%C2%B2", "since"),
        ("?symbol=BTCUSDT&since=" + "9" * 30, "since"),
        ("?symbol=%00", "symbol"),
    ],
)
async def test_samples_parameters_are_validated(query, field):
    r = await unfed_app(in_memory_service()).test_client().get(SAMPLES + query)
    body = await r.get_json()
    assert r.status_code == 400
    assert body["field"] == field
    assert body["error"]


@pytest.mark.parametrize(
    "since", ["0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-12:00", "1969-12-31"]
)
async def test_a_since_outside_1970_to_2099_is_a_lower_bound_like_any_other(
    pg_store: PostgresStore, since: str
):
    """A well-formed time is a fair question (the spec allows any RFC 3339 time): before the
    first reading it means all of them, after the last none."""
    client = unfed_app(in_memory_service(), store=pg_store).test_client()
    r = await client.get(SAMPLES + "?symbol=BTCUSDT&since=" + since)
    assert r.status_code in (200, 404), await r.get_data()


async def test_bad_read_parameters_are_refused_before_the_database_sees_them(
    pg_store: PostgresStore,
):
    queries = [
        (SAMPLES + "?symbol=%00", "symbol"),
        (SAMPLES + "?symbol=BTCUSDT&since=" + "9" * 30, "since"),
        (SAMPLES + "?symbol=BTCUSDT&limit=" + "9" * 5000, "limit"),
        (ALERTS + "?symbol=%00", "symbol"),
    ]
    client = unfed_app(in_memory_service(), store=pg_store).test_client()
    for query, field in queries:
        r = await client.get(query)
        body = await r.get_json()
        assert r.status_code == 400, (query, body)
        assert body["field"] == field, query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=abc", "limit"),
        ("?limit=0", "limit"),
        ("?symbol=BTC%20USDT", "symbol"),
        ("?symbol=" + "X" * 41, "symbol"),
    ],
)
async def test_alerts_parameters_are_validated(query, field):
    r = await unfed_app(in_memory_service()).test_client().get(ALERTS + query)
    assert r.status_code == 400
    assert (await r.get_json())["field"] == field


async def test_samples_come_from_the_in_memory_history_without_a_store():
    service = in_memory_service()
    [symbol] = symbols(1)
    history = service.alerts.histories[symbol] = OiHistory(100)
    now = service.clock.now()
    for k in range(30):
        history.append(now - 300 + 10 * k, 1000.0 + k)
    client = unfed_app(service).test_client()
    body = await get_json(client, SAMPLES, symbol=symbol.lower())
    one = await get_json(client, SAMPLES, symbol=symbol, limit=1)
    assert body["symbol"] == symbol
    assert body["count"] == len(body["samples"]) > 0
    times = [row["ts"] for row in body["samples"]]
    assert times == sorted(times, reverse=True)  # newest first
    assert one["count"] == 1
    assert one["samples"][0] == body["samples"][0]


async def test_an_ingested_alert_is_listed_and_filtered_by_symbol(nursery, autojump_clock):
    service, client = await serve_in_memory(nursery)
    posted = await client.post(
        ALERT_INGEST, json=alert_payload(now_iso(service), "BTCUSDT"), headers=AUTH
    )
    await trio.sleep(1)
    await client.post(
        ALERT_INGEST,
        json=alert_payload(now_iso(service), "ETHUSDT", direction="DOWN"),
        headers=AUTH,
    )
    everything = await get_json(client, ALERTS)
    btc = await get_json(client, ALERTS, symbol="btcusdt")
    one = await get_json(client, ALERTS, limit=1)
    none = await get_json(client, ALERTS, symbol="XRPUSDT")
    result = await posted.get_json()
    assert posted.status_code == 200, result
    assert result["stored"] == 1
    assert set(result["alert"]) == ALERT_KEYS
    assert everything["count"] == 2
    assert [a["symbol"] for a in everything["alerts"]] == ["ETHUSDT", "BTCUSDT"]  # newest first
    assert set(everything["alerts"][0]) == ALERT_KEYS
    assert btc["count"] == 1
    assert btc["alerts"][0]["direction"] == "UP"
    assert btc["alerts"][0]["pctChange"] == 0.1
    assert one["count"] == 1
    assert none == {"count": 0, "alerts": []}


async def test_samples_and_alerts_are_read_back_from_postgres_with_limits_capped(
    pg_uri: str, pg_store: PostgresStore
):
    async with trio.open_nursery() as nursery:
        service, client = await serve_in_memory(nursery, store=pg_store)
        [symbol] = symbols(1)
        start = service.clock.now() - 6000 * 10
        days = {
            (dt.datetime.fromtimestamp(start, dt.UTC) + dt.timedelta(days=d)).date() for d in (0, 1)
        }
        with psycopg.connect(pg_uri) as conn:
            ensure_partitions(conn, days)
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY open_interest_snapshots (symbol, ts, open_interest, source) FROM STDIN"
                ) as copy:
                    for k in range(6000):
                        ts = dt.datetime.fromtimestamp(start + 10 * k, dt.UTC)
                        copy.write_row((symbol, ts, 1000 + k, "realtime"))
                with cur.copy(
                    "COPY open_interest_alerts (symbol, direction, baseline, current, pct_change, "
                    "abs_change, source, ts) FROM STDIN"
                ) as copy:
                    for k in range(1200):
                        ts = dt.datetime.fromtimestamp(start + 10 * k, dt.UTC)
                        copy.write_row(("ETHUSDT", "UP", 100, 110, 0.1, 10, "test", ts))
        posted = await client.post(
            INGEST, json=legacy_payload([symbol], now_iso(service)), headers=AUTH
        )
        alert = await client.post(ALERT_INGEST, json=alert_payload(now_iso(service)), headers=AUTH)
        capped = await get_json(client, SAMPLES, symbol=symbol, limit=100000)
        default = await get_json(client, SAMPLES, symbol=symbol)
        since_ms = round((start + 10 * 5990 - 5) * 1000)
        recent = await get_json(client, SAMPLES, symbol=symbol, since=since_ms)
        alerts_capped = await get_json(client, ALERTS + "?limit=100000")
        btc = await get_json(client, ALERTS + "?symbol=BTCUSDT")
        nursery.cancel_scope.cancel()
    assert posted.status_code == alert.status_code == 200
    assert capped["count"] == len(capped["samples"]) == 5000
    newest = capped["samples"][0]
    assert newest["source"] == "snapshot"  # the ingested sample, the newest of all
    assert newest["openInterest"] == 1000.0
    assert newest["markPrice"] == 2.5
    assert newest["openInterestUsd"] == 2500.0
    assert default["count"] == 100
    assert recent["count"] == 11  # the last ten copied rows and the ingested one
    assert alerts_capped["count"] == 1000
    [stored_alert] = btc["alerts"]
    ingested = (await alert.get_json())["alert"]
    assert {k: v for k, v in stored_alert.items() if k != "timestamp"} == {
        k: v for k, v in ingested.items() if k != "timestamp"
    }
    assert parse_iso(stored_alert["timestamp"]) == parse_iso(ingested["timestamp"])


# -- operations -------------------------------------------------------------------------------


def with_actors(service: Service) -> Service:
    """`service` with every actor's health as `service.run` publishes it (see `ACTORS`)."""
    for name, (critical, state) in ACTORS.items():
        service.health[name] = ActorHealth(name, critical, state=state)
    return service


async def test_health_reports_every_actor_and_503_when_a_critical_one_is_down():
    service = with_actors(in_memory_service())
    client = unfed_app(service).test_client()
    ok = await client.get("/health")
    service.health["classifier"].state = "restarting"
    down = await client.get("/health")
    service.health["classifier"].state = "running"
    service.health["status"].state = "restarting"  # not critical
    degraded = await client.get("/health")
    assert ok.status_code == 200
    body = await ok.get_json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert set(body["actors"]) == set(service.health)
    classifier = body["actors"]["classifier"]
    assert {k: classifier[k] for k in ("state", "critical", "restarts", "lastError")} == {
        "state": "running",
        "critical": True,
        "restarts": 0,
        "lastError": None,
    }
    assert classifier["lastSuccessAt"].endswith("Z")  # it has classified the universe
    assert body["actors"]["oi_poller"]["state"] == "disabled"
    down_body = await down.get_json()
    assert down.status_code == 503
    assert down_body["status"] == "down"
    assert down_body["down"] == ["classifier"]
    assert down_body["actors"]["classifier"]["state"] == "restarting"
    assert degraded.status_code == 200


async def test_metrics_are_prometheus_text_with_polls_and_websocket_clients():
    service = with_actors(in_memory_service())
    service.health["oi_poller"].state = "running"
    service.metrics.inc(m.OI_POLLS, 40)
    r = await unfed_app(service).test_client().get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = (await r.get_data(as_text=True)).splitlines()
    polls = [line for line in lines if line.startswith("volspike_oi_oi_polls_total ")]
    assert len(polls) == 1
    assert int(polls[0].split()[1]) > 0
    assert "volspike_oi_ws_clients 0" in lines
    assert "# TYPE volspike_oi_ws_clients gauge" in lines
    assert 'volspike_oi_actor_up{actor="oi_poller"} 1' in lines
