"""The HTTP API served by a real hypercorn on loopback, driven with httpx.

Tests without a database run the whole service against the simulator under `autojump_clock`
(no store is passed, so the service keeps none); tests that store rows run on the real clock
against a fresh embedded Postgres (tests/store/conftest.py) and count rows with psycopg.
Loopback only, port 0. The OI poller is off unless a test needs it, so the only samples the
API holds are the ones a test ingests.
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

from tests.service_harness import Stack, start_stack, wait_until
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.schema import ensure_partitions
from volspike_oi.web.state import iso

API_KEY = "test-key"
AUTH = {"X-API-Key": API_KEY}
QUIET = {
    "VOLSPIKE_API_KEY": API_KEY,
    "MARK_PRICE_STREAM": "!markPrice@arr",
    "MARK_PRICE_STREAM_ENABLED": "false",
    "OI_REALTIME_ENABLED": "false",
    "OI_ALERTS_ENABLED": "false",
    "STATUS_LOG_SEC": "3600",
}
"""No poller and no alert evaluator: nothing but the test's own ingests reaches the API."""
POLLING = {"OI_REALTIME_ENABLED": "true", "OI_ALERTS_ENABLED": "true"}
INGEST = "/api/market/open-interest/ingest"
ALERT_INGEST = "/api/open-interest-alerts/ingest"
FRONTEND = "/api/market/open-interest"
SAMPLE_KEYS = {
    "symbol",
    "openInterest",
    "openInterestUsd",
    "markPrice",
    "sampleTime",
    "exchangeTime",
    "ageSeconds",
    "source",
}
ALERT_KEYS = {
    "symbol",
    "direction",
    "baseline",
    "current",
    "pctChange",
    "absChange",
    "timestamp",
    "source",
    "baselineSamples",
    "usdChange",
}


@pytest.fixture
async def store(pg_uri: str) -> AsyncIterator[PostgresStore]:
    """A migrated store on a fresh database (real clock: the test must not ask for autojump)."""
    store = PostgresStore(pg_uri)
    await store.migrate()
    yield store
    await store.aclose()


@contextlib.asynccontextmanager
async def served(
    nursery: trio.Nursery, env: dict[str, str] | None = None, store: PostgresStore | None = None
) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    """The service with its API on a free loopback port, once the tracked universe is known."""
    stack = await start_stack(nursery, env={**QUIET, **(env or {})}, store=store)
    await wait_until(lambda: stack.service.status.universe is not None, 30)
    async with httpx.AsyncClient(base_url=stack.service.http_binds[0], timeout=30) as client:
        yield stack, client


def tracked(stack: Stack, n: int) -> list[str]:
    universe = stack.service.status.universe
    assert universe is not None
    symbols = sorted(universe.tracked)
    assert len(symbols) >= n
    return symbols[:n]


def now_iso(stack: Stack, offset_s: float = 0.0) -> str:
    return iso(stack.service.clock.now() + offset_s)


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


def count_rows(uri: str, table: str) -> int:
    with psycopg.connect(uri) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def nothing_held(stack: Stack) -> bool:
    web = stack.service.web
    return not web.snapshot and not web.realtime and not stack.service.alerts.recent


# -- auth -------------------------------------------------------------------------------------


async def test_ingest_without_a_key_is_refused_and_nothing_is_kept(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        body = legacy_payload(tracked(stack, 3), now_iso(stack))
        oi = await client.post(INGEST, json=body)
        alert = await client.post(ALERT_INGEST, json=alert_payload(now_iso(stack)))
    assert (oi.status_code, alert.status_code) == (401, 401)
    assert "API key" in oi.json()["error"]
    assert nothing_held(stack)


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
    async with served(nursery) as (stack, client):
        oi = await client.post(
            INGEST, json=legacy_payload(tracked(stack, 3), now_iso(stack)), headers=headers
        )
        alert = await client.post(ALERT_INGEST, json=alert_payload(now_iso(stack)), headers=headers)
    assert (oi.status_code, alert.status_code) == (401, 401)
    assert nothing_held(stack)


async def test_ingest_takes_the_key_as_x_api_key_or_bearer_token(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        a, b, c = tracked(stack, 3)
        by_header = await client.post(
            INGEST, json=legacy_payload([a], now_iso(stack)), headers=AUTH
        )
        by_bearer = await client.post(
            INGEST,
            json=legacy_payload([b], now_iso(stack)),
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        by_lower_bearer = await client.post(
            INGEST,
            json=legacy_payload([c], now_iso(stack)),
            headers={"Authorization": f"bearer {API_KEY}"},
        )
        alert = await client.post(
            ALERT_INGEST,
            json=alert_payload(now_iso(stack)),
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert [r.status_code for r in (by_header, by_bearer, by_lower_bearer, alert)] == [200] * 4
    assert set(stack.service.web.snapshot) == {a, b, c}


async def test_a_server_without_a_key_refuses_every_ingest(nursery, autojump_clock):
    async with served(nursery, env={"VOLSPIKE_API_KEY": ""}) as (stack, client):
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
                    INGEST, json=legacy_payload(tracked(stack, 3), now_iso(stack)), headers=headers
                )
            )
            responses.append(
                await client.post(ALERT_INGEST, json=alert_payload(now_iso(stack)), headers=headers)
            )
    assert {r.status_code for r in responses} == {503}
    assert all("VOLSPIKE_API_KEY" in r.json()["error"] for r in responses)
    assert nothing_held(stack)


# -- ingest: what is kept, what is rejected ---------------------------------------------------


async def test_a_legacy_342_symbol_snapshot_is_stored_and_served_for_every_symbol(
    pg_uri: str, store: PostgresStore
):
    async with trio.open_nursery() as nursery, served(nursery, store=store) as (stack, client):
        symbols = tracked(stack, 342)
        body = legacy_payload(symbols, now_iso(stack))  # seed 000's shape, no `source`
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
    async with served(nursery) as (stack, client):
        symbols = tracked(stack, 342)
        snapshot = legacy_payload(symbols, now_iso(stack), mark=2.0)
        assert (await client.post(INGEST, json=snapshot, headers=AUTH)).status_code == 200
        await trio.sleep(60)
        realtime = legacy_payload(symbols, now_iso(stack), mark=3.0, source="realtime")
        for item in realtime["data"][42:]:
            item["markPrice"] = 0
            item["openInterestUsd"] = 0
        posted = await client.post(INGEST, json=realtime, headers=AUTH)
        frontend = (await client.get(FRONTEND)).json()["data"]
    assert posted.status_code == 200, posted.text
    result = posted.json()
    assert result["stored"] == 42
    assert [r["index"] for r in result["rejected"]] == list(range(42, 342))
    assert all("markPrice" in r["reason"] for r in result["rejected"])
    assert len(frontend) == 342
    assert 0 not in frontend.values()
    for i, symbol in enumerate(symbols):
        expected = realtime if i < 42 else snapshot
        assert frontend[symbol] == expected["data"][i]["openInterestUsd"], symbol


@pytest.mark.parametrize("mark", [0, 0.0, "0", -1.5, None], ids=repr)
async def test_an_item_without_a_positive_mark_price_is_rejected_not_shown_as_0(
    nursery, autojump_clock, mark
):
    async with served(nursery) as (stack, client):
        good, bad = tracked(stack, 2)
        body = legacy_payload([good, bad], now_iso(stack))
        body["data"][1]["markPrice"] = mark
        body["data"][1]["openInterestUsd"] = 0
        posted = await client.post(INGEST, json=body, headers=AUTH)
        frontend = (await client.get(FRONTEND)).json()["data"]
        latest = (await client.get("/api/market/open-interest/latest")).json()
    assert posted.status_code == 200, posted.text
    [rejected] = posted.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["symbol"] == bad
    assert "markPrice must be > 0" in rejected["reason"]
    assert posted.json()["stored"] == 1
    assert frontend == {good: body["data"][0]["openInterestUsd"]}
    assert [row["symbol"] for row in latest["data"]] == [good]


async def test_an_unknown_symbol_is_rejected_with_its_reason(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        [known] = tracked(stack, 1)
        body = legacy_payload([known, "NOTAPERPUSDT", "btcusd_perp"], now_iso(stack))
        posted = await client.post(INGEST, json=body, headers=AUTH)
        frontend = (await client.get(FRONTEND)).json()["data"]
    assert posted.status_code == 200, posted.text
    result = posted.json()
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
    pg_uri: str, store: PostgresStore
):
    answers: list[tuple[str, str, int, dict[str, Any]]] = []
    async with trio.open_nursery() as nursery, served(nursery, store=store) as (stack, client):
        [symbol] = tracked(stack, 1)
        at = now_iso(stack)
        headers = {**AUTH, "Content-Type": "application/json"}
        for case, raw, field in malformed_oi_bodies(symbol, at):
            r = await client.post(INGEST, content=raw, headers=headers)
            answers.append((f"oi: {case}", field, r.status_code, r.json()))
        for case, raw, field in malformed_alert_bodies(at):
            r = await client.post(ALERT_INGEST, content=raw, headers=headers)
            answers.append((f"alert: {case}", field, r.status_code, r.json()))
        nursery.cancel_scope.cancel()
    for case, field, status, body in answers:
        assert status == 400, (case, body)
        assert body["field"] == field, (case, body)
        assert body["error"], case
    assert count_rows(pg_uri, "open_interest_snapshots") == 0
    assert count_rows(pg_uri, "open_interest_alerts") == 0
    assert nothing_held(stack)


# -- the frontend cache -----------------------------------------------------------------------


async def test_a_fresh_realtime_sample_wins_over_a_newer_snapshot(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        [symbol] = tracked(stack, 1)
        realtime = {
            "data": [oi_item(symbol, 5000.0, 3.0)],
            "timestamp": now_iso(stack),
            "source": "realtime",
        }
        assert (await client.post(INGEST, json=realtime, headers=AUTH)).status_code == 200
        await trio.sleep(200)
        snapshot = legacy_payload([symbol], now_iso(stack), mark=2.0)
        assert (await client.post(INGEST, json=snapshot, headers=AUTH)).status_code == 200
        while_fresh = (await client.get(FRONTEND)).json()["data"]
        latest = (await client.get("/api/market/open-interest/latest")).json()["data"]
        await trio.sleep(101)  # the realtime sample is now 301 s old; the snapshot 101 s
        after = (await client.get(FRONTEND)).json()["data"]
    assert while_fresh == {symbol: 15000.0}
    assert [row["source"] for row in latest] == ["realtime"]
    assert after == {symbol: snapshot["data"][0]["openInterestUsd"]}


async def test_a_realtime_item_in_a_snapshot_batch_is_taken_as_realtime(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        a, b = tracked(stack, 2)
        body = legacy_payload([a, b], now_iso(stack))
        body["data"][1]["source"] = "realtime"
        assert (await client.post(INGEST, json=body, headers=AUTH)).status_code == 200
    assert set(stack.service.web.snapshot) == {a}
    assert set(stack.service.web.realtime) == {b}


async def test_entries_older_than_the_ttl_are_left_out(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        symbols = tracked(stack, 5)
        posted = await client.post(
            INGEST, json=legacy_payload(symbols, now_iso(stack)), headers=AUTH
        )
        assert posted.status_code == 200
        await trio.sleep(299)
        fresh = (await client.get(FRONTEND)).json()
        await trio.sleep(2)
        stale = (await client.get(FRONTEND)).json()
        latest = (await client.get("/api/market/open-interest/latest")).json()
    assert sorted(fresh["data"]) == symbols
    assert stale["data"] == {}
    assert latest["data"] == []
    assert latest["count"] == 0


async def test_the_frontend_cache_expires_five_minutes_after_its_newest_sample(
    nursery, autojump_clock
):
    async with served(nursery) as (stack, client):
        symbols = tracked(stack, 2)
        at = now_iso(stack)
        await client.post(INGEST, json=legacy_payload(symbols, at), headers=AUTH)
        body = (await client.get(FRONTEND)).json()
    assert body["timestamp"] == at
    assert parse_iso(body["cacheExpiry"]) - parse_iso(at) == dt.timedelta(minutes=5)


# -- reads: shapes and parameters -------------------------------------------------------------


async def test_latest_lists_each_fresh_sample_with_its_age_and_source(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        a, b = tracked(stack, 2)
        body = legacy_payload([a, b], now_iso(stack), mark=4.0)
        await client.post(INGEST, json=body, headers=AUTH)
        await trio.sleep(10)
        latest = (await client.get("/api/market/open-interest/latest")).json()
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


async def test_liquid_universe_lists_the_liquid_symbols_and_the_poll_interval(
    nursery, autojump_clock
):
    async with served(nursery, env=POLLING) as (stack, client):
        await wait_until(lambda: stack.service.poller.plan is not None, 30)
        await trio.sleep(30)
        body = (await client.get("/api/market/open-interest/liquid-universe")).json()
    universe = stack.service.status.universe
    assert universe is not None
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
        ("?symbol=BTCUSDT&since=0001-01-01T00:00:00%2B14:00", "since"),
        ("?symbol=%00", "symbol"),
    ],
)
async def test_samples_parameters_are_validated(nursery, autojump_clock, query, field):
    async with served(nursery) as (_, client):
        r = await client.get("/api/market/open-interest/samples" + query)
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert r.json()["error"]


async def test_bad_read_parameters_are_refused_before_the_database_sees_them(
    store: PostgresStore,
):
    queries = [
        ("/api/market/open-interest/samples?symbol=%00", "symbol"),
        ("/api/market/open-interest/samples?symbol=BTCUSDT&since=" + "9" * 30, "since"),
        (
            "/api/market/open-interest/samples?symbol=BTCUSDT&since=9999-12-31T23:59:59-12:00",
            "since",
        ),
        ("/api/market/open-interest/samples?symbol=BTCUSDT&limit=" + "9" * 5000, "limit"),
        ("/api/open-interest-alerts?symbol=%00", "symbol"),
    ]
    async with trio.open_nursery() as nursery, served(nursery, store=store) as (_, client):
        answers = [(query, field, await client.get(query)) for query, field in queries]
        nursery.cancel_scope.cancel()
    for query, field, r in answers:
        assert r.status_code == 400, (query, r.text)
        assert r.json()["field"] == field, query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=abc", "limit"),
        ("?limit=0", "limit"),
        ("?symbol=BTC%20USDT", "symbol"),
        ("?symbol=" + "X" * 41, "symbol"),
    ],
)
async def test_alerts_parameters_are_validated(nursery, autojump_clock, query, field):
    async with served(nursery) as (_, client):
        r = await client.get("/api/open-interest-alerts" + query)
    assert r.status_code == 400
    assert r.json()["field"] == field


async def test_samples_come_from_the_in_memory_history_without_a_store(nursery, autojump_clock):
    async with served(nursery, env=POLLING) as (stack, client):
        await wait_until(lambda: bool(stack.service.alerts.histories), 60)
        symbol = sorted(stack.service.alerts.histories)[0]
        await trio.sleep(30)
        body = (
            await client.get("/api/market/open-interest/samples", params={"symbol": symbol.lower()})
        ).json()
        one = (
            await client.get(
                "/api/market/open-interest/samples", params={"symbol": symbol, "limit": 1}
            )
        ).json()
    assert body["symbol"] == symbol
    assert body["count"] == len(body["samples"]) > 0
    times = [row["ts"] for row in body["samples"]]
    assert times == sorted(times, reverse=True)  # newest first
    assert one["count"] == 1
    assert one["samples"][0] == body["samples"][0]


async def test_an_ingested_alert_is_listed_and_filtered_by_symbol(nursery, autojump_clock):
    async with served(nursery) as (stack, client):
        posted = await client.post(
            ALERT_INGEST, json=alert_payload(now_iso(stack), "BTCUSDT"), headers=AUTH
        )
        await trio.sleep(1)
        await client.post(
            ALERT_INGEST,
            json=alert_payload(now_iso(stack), "ETHUSDT", direction="DOWN"),
            headers=AUTH,
        )
        everything = (await client.get("/api/open-interest-alerts")).json()
        btc = (await client.get("/api/open-interest-alerts", params={"symbol": "btcusdt"})).json()
        one = (await client.get("/api/open-interest-alerts", params={"limit": 1})).json()
        none = (await client.get("/api/open-interest-alerts", params={"symbol": "XRPUSDT"})).json()
    assert posted.status_code == 200, posted.text
    assert posted.json()["stored"] == 1
    assert set(posted.json()["alert"]) == ALERT_KEYS
    assert everything["count"] == 2
    assert [a["symbol"] for a in everything["alerts"]] == ["ETHUSDT", "BTCUSDT"]  # newest first
    assert set(everything["alerts"][0]) == ALERT_KEYS
    assert btc["count"] == 1
    assert btc["alerts"][0]["direction"] == "UP"
    assert btc["alerts"][0]["pctChange"] == 0.1
    assert one["count"] == 1
    assert none == {"count": 0, "alerts": []}


async def test_samples_and_alerts_are_read_back_from_postgres_with_limits_capped(
    pg_uri: str, store: PostgresStore
):
    async with trio.open_nursery() as nursery, served(nursery, store=store) as (stack, client):
        [symbol] = tracked(stack, 1)
        start = stack.service.clock.now() - 6000 * 10
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
            INGEST, json=legacy_payload([symbol], now_iso(stack)), headers=AUTH
        )
        alert = await client.post(ALERT_INGEST, json=alert_payload(now_iso(stack)), headers=AUTH)
        samples = "/api/market/open-interest/samples"
        capped = (await client.get(samples, params={"symbol": symbol, "limit": 100000})).json()
        default = (await client.get(samples, params={"symbol": symbol})).json()
        since_ms = round((start + 10 * 5990 - 5) * 1000)
        recent = (await client.get(samples, params={"symbol": symbol, "since": since_ms})).json()
        alerts_capped = (await client.get("/api/open-interest-alerts?limit=100000")).json()
        btc = (await client.get("/api/open-interest-alerts?symbol=BTCUSDT")).json()
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
    ingested = alert.json()["alert"]
    assert {k: v for k, v in stored_alert.items() if k != "timestamp"} == {
        k: v for k, v in ingested.items() if k != "timestamp"
    }
    assert parse_iso(stored_alert["timestamp"]) == parse_iso(ingested["timestamp"])


# -- operations -------------------------------------------------------------------------------


async def test_health_reports_every_actor_and_503_when_a_critical_one_is_down(
    nursery, autojump_clock
):
    async with served(nursery) as (stack, client):
        ok = await client.get("/health")
        stack.service.health["classifier"].state = "restarting"
        down = await client.get("/health")
        stack.service.health["classifier"].state = "running"
        stack.service.health["status"].state = "restarting"  # not critical
        degraded = await client.get("/health")
    assert ok.status_code == 200
    body = ok.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert set(body["actors"]) == set(stack.service.health)
    classifier = body["actors"]["classifier"]
    assert {k: classifier[k] for k in ("state", "critical", "restarts", "lastError")} == {
        "state": "running",
        "critical": True,
        "restarts": 0,
        "lastError": None,
    }
    assert classifier["lastSuccessAt"].endswith("Z")  # it has classified the universe
    assert body["actors"]["oi_poller"]["state"] == "disabled"
    assert down.status_code == 503
    assert down.json()["status"] == "down"
    assert down.json()["down"] == ["classifier"]
    assert down.json()["actors"]["classifier"]["state"] == "restarting"
    assert degraded.status_code == 200


async def test_metrics_are_prometheus_text_with_polls_and_websocket_clients(
    nursery, autojump_clock
):
    async with served(nursery, env=POLLING) as (_, client):
        await trio.sleep(20)
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    polls = [line for line in lines if line.startswith("volspike_oi_oi_polls_total ")]
    assert len(polls) == 1
    assert int(polls[0].split()[1]) > 0
    assert "volspike_oi_ws_clients 0" in lines
    assert "# TYPE volspike_oi_ws_clients gauge" in lines
    assert 'volspike_oi_actor_up{actor="oi_poller"} 1' in lines
