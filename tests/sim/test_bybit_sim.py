"""The Bybit simulator: its REST and WebSocket shapes equal the captures' (tests/fixtures/bybit),
its market is realistic, and its limits, refusals, faults and control routes behave as Bybit's.

Rules: the framework-free core (`BybitSim.handle`, `TickerSession`) is driven in process under
`autojump_clock`; one test serves it on 127.0.0.1:<free port> on the real clock and speaks
WebSocket to it. "Same shape" means the same keys with the same JSON type per key; extra keys
are allowed only where Bybit added fields after the capture.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from volspike_oi.sim.bybit import WS_PATH, BybitSim, serve
from volspike_oi.sim.bybit.exchange import BAN_MS, DEFAULT_PERPETUALS, IP_LIMIT
from volspike_oi.sim.bybit.market import TICK_MS
from volspike_oi.sim.bybit.streams import IDLE_CLOSE_MS, MAX_ARGS_CHARS, TickerSession
from volspike_oi.sim.faults import Faults
from volspike_oi.venues.bybit.stream import open_ws

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bybit"
START_MS = 1_791_360_000_000
TICKERS = "/v5/market/tickers"
INSTRUMENTS = "/v5/market/instruments-info"
LINEAR = {"category": "linear"}
ADDED_SINCE_2023 = {
    "singleOpenInterest",
    "singleOpenInterestValue",
    "fundingIntervalHour",
    "fundingCap",
    "preOpenPrice",
    "preQty",
    "curPreListingPhase",
}


def capture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def types_of(obj: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in obj.items()}


def make_sim(**kw: Any) -> BybitSim:
    return BybitSim(start_ms=START_MS, **kw)


def get(sim: BybitSim, path: str, query: dict[str, str] | None = None, ip: str = "10.0.0.1") -> Any:
    return sim.handle("GET", path, query if query is not None else LINEAR, ip)


def post(sim: BybitSim, path: str, body: Any) -> Any:
    return sim.handle("POST", path, {}, "127.0.0.1", json.dumps(body).encode())


# -- the market ------------------------------------------------------------------------------


async def test_the_market_lists_btc_eth_a_bundle_and_contracts_to_leave_out() -> None:
    sim = make_sim()
    rows = {r["symbol"]: r for r in get(sim, TICKERS).json()["result"]["list"]}
    assert 75_000 < float(rows["BTCUSDT"]["markPrice"]) < 90_000
    assert 2_500 < float(rows["ETHUSDT"]["markPrice"]) < 3_500
    infos = {r["symbol"]: r for r in get(sim, INSTRUMENTS).json()["result"]["list"]}
    assert infos["1000PEPEUSDT"]["baseCoin"] == "1000PEPE"
    assert infos["BTCPERP"]["settleCoin"] == "USDC"
    assert infos["BTCUSDT-26MAR27"]["contractType"] == "LinearFutures"
    assert infos["NEWCOINUSDT"]["status"] == "PreLaunch"
    trading_usdt_perps = [
        r
        for r in infos.values()
        if (r["contractType"], r["settleCoin"], r["status"])
        == ("LinearPerpetual", "USDT", "Trading")
    ]
    assert len(trading_usdt_perps) == DEFAULT_PERPETUALS


async def test_oi_is_reported_both_sides_and_single_side_with_values_at_mark() -> None:
    sim = make_sim()
    for row in get(sim, TICKERS).json()["result"]["list"]:
        if not row["markPrice"]:
            continue  # the pre-launch contract has no mark price yet
        both, single = Decimal(row["openInterest"]), Decimal(row["singleOpenInterest"])
        mark = Decimal(row["markPrice"])
        assert both == 2 * single
        assert Decimal(row["openInterestValue"]) == (both * mark).quantize(Decimal("0.01"))
        assert Decimal(row["singleOpenInterestValue"]) == (single * mark).quantize(Decimal("0.01"))


async def test_prices_and_oi_walk_on_trios_clock(autojump_clock: trio.abc.Clock) -> None:
    sim = make_sim()
    before = {r["symbol"]: r for r in get(sim, TICKERS).json()["result"]["list"]}
    await trio.sleep(60)
    after = {r["symbol"]: r for r in get(sim, TICKERS).json()["result"]["list"]}
    moved = [s for s in before if before[s]["markPrice"] != after[s]["markPrice"]]
    assert len(moved) > 0.9 * len(before)
    assert before["BTCUSDT"]["singleOpenInterest"] != after["BTCUSDT"]["singleOpenInterest"]


async def test_the_same_seed_gives_the_same_market_whoever_looks(
    autojump_clock: trio.abc.Clock,
) -> None:
    watched, unwatched = make_sim(seed=7), make_sim(seed=7)
    for _ in range(30):
        await trio.sleep(1)
        get(watched, TICKERS)
    assert get(watched, TICKERS).json()["result"] == get(unwatched, TICKERS).json()["result"]


# -- REST shapes against the captures --------------------------------------------------------


async def test_the_tickers_envelope_has_the_docs_keys_and_types() -> None:
    docs = capture("bybit_rest_v5_market_tickers_inverse_BTCUSD_DOCS-EXAMPLE.json")
    body = get(make_sim(), TICKERS).json()
    assert types_of(body) == types_of(docs)
    assert body["retCode"] == 0
    assert body["retMsg"] == "OK"
    assert body["result"]["category"] == "linear"


@pytest.mark.parametrize(
    "name",
    [
        "bybit_rest_v5_market_tickers_linear_BTCUSDT_via-ccxt_2024-02-14.json",
        "bybit_rest_v5_market_tickers_linear_BTCUSDT_via-ccxt_2024-11-04.json",
    ],
)
async def test_a_ticker_row_has_the_captures_keys_all_strings(name: str) -> None:
    real = capture(name)["result"]["list"][0]
    real.pop("timestamp", None)  # injected by ccxt (SOURCES.md)
    row = get(make_sim(), TICKERS, {"category": "linear", "symbol": "BTCUSDT"}).json()
    [sim_row] = row["result"]["list"]
    assert set(real) <= set(sim_row)
    assert set(sim_row) - set(real) <= ADDED_SINCE_2023 | {"basisRateYear"}
    assert set(types_of(sim_row).values()) == {"str"}


async def test_an_instrument_row_has_the_docs_keys_and_types() -> None:
    docs = capture("bybit_rest_v5_market_instruments-info_linear_BTCUSDT_DOCS-EXAMPLE.json")
    body = get(make_sim(), INSTRUMENTS, {"category": "linear", "limit": "1"}).json()
    assert types_of(body) == types_of(docs)
    assert types_of(body["result"]) == types_of(docs["result"])
    [real], [row] = docs["result"]["list"], body["result"]["list"]
    assert types_of(row) == types_of(real)
    for nested in ("leverageFilter", "priceFilter", "lotSizeFilter", "riskParameters"):
        assert types_of(row[nested]) == types_of(real[nested])


async def test_instruments_are_paginated_with_an_opaque_cursor() -> None:
    sim = make_sim()
    seen: list[str] = []
    query = {"category": "linear", "limit": "64"}
    while True:
        result = get(sim, INSTRUMENTS, query).json()["result"]
        seen += [r["symbol"] for r in result["list"]]
        if not result["nextPageCursor"]:
            break
        query = {**query, "cursor": result["nextPageCursor"]}
    assert len(seen) == len(set(seen)) == len(sim.market.contracts)


@pytest.mark.parametrize(
    ("query", "ret_msg"),
    [
        ({}, "params error: category is invalid"),
        ({"category": "linear", "limit": "1001"}, "params error: limit must be in [1, 1000]"),
    ],
)
async def test_bad_parameters_get_a_ret_code_in_a_200(query: dict[str, str], ret_msg: str) -> None:
    answer = get(make_sim(), INSTRUMENTS, query)
    assert answer.status == 200
    assert (answer.json()["retCode"], answer.json()["retMsg"]) == (10001, ret_msg)


# -- limits and refusals ---------------------------------------------------------------------


async def test_the_601st_request_in_5_s_is_refused_and_the_ip_banned_for_10_minutes(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim(perpetuals=10)
    for _ in range(IP_LIMIT):
        assert get(sim, TICKERS).status == 200
    refused = get(sim, TICKERS)
    assert (refused.status, refused.body) == (403, b"access too frequent")
    assert dict(refused.headers)["Content-Type"].startswith("text/plain")
    assert get(sim, TICKERS, ip="10.0.0.2").status == 200  # per IP
    await trio.sleep(BAN_MS / 1000 - 1)
    assert get(sim, TICKERS).status == 403
    await trio.sleep(1)
    assert get(sim, TICKERS).status == 200
    assert sim.stats.refused_for_rate == 2


async def test_600_requests_spread_over_5_s_windows_are_served(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim(perpetuals=10)
    for _ in range(3 * IP_LIMIT):
        assert get(sim, TICKERS).status == 200
        await trio.sleep(5 / IP_LIMIT)


async def test_the_rate_limit_route_refuses_every_call_with_bybits_answers(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim(perpetuals=10)
    assert post(sim, "/_sim/rate-limit", {"seconds": 30}).status == 200
    assert get(sim, TICKERS).status == 403
    post(sim, "/_sim/rate-limit", {"seconds": 30, "kind": "retcode"})
    answer = get(sim, TICKERS)
    assert answer.status == 200
    assert (answer.json()["retCode"], answer.json()["retMsg"]) == (10006, "Too many visits!")
    await trio.sleep(31)
    assert get(sim, TICKERS).json()["retCode"] == 0


async def test_faults_answer_5xx_hang_and_cut_bodies() -> None:
    sim = make_sim(perpetuals=10)
    assert post(sim, "/_sim/faults", {"error_rate": 1.0}).status == 200
    assert get(sim, TICKERS).status in (500, 502, 503)
    sim.set_faults(Faults(hang_rate=1.0))
    assert get(sim, TICKERS).hang
    sim.set_faults(Faults(malformed_rate=1.0))
    with pytest.raises(ValueError):
        get(sim, TICKERS).json()
    sim.set_faults(Faults(latency_ms=250))
    assert get(sim, TICKERS).delay_s == 0.25
    stats = get(sim, "/_sim/stats", {}).json()
    assert stats["fiveXx"] == 1
    assert stats["requests"] == 4


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sim/faults", {"error_rate": 2}),
        ("/_sim/faults", {"no_such_fault": 1}),
        ("/_sim/faults", {"ws_down": "yes"}),
        ("/_sim/faults", {"error_rate": "0.5"}),
        ("/_sim/silence", {"seconds": -1}),
        ("/_sim/rate-limit", {"seconds": 5, "kind": "other"}),
    ],
)
async def test_control_routes_refuse_bad_input(path: str, body: Any) -> None:
    assert post(make_sim(), path, body).status == 400


# -- the WebSocket session against the captures ----------------------------------------------


def subscribe(
    session: TickerSession, args: list[str], now_ms: int, req_id: str = "r1"
) -> list[Any]:
    text = json.dumps({"req_id": req_id, "op": "subscribe", "args": args})
    return [json.loads(m) for m in session.command(text, now_ms)]


async def test_subscribe_is_acknowledged_then_a_snapshot_shaped_like_the_capture() -> None:
    sim = make_sim()
    now = sim.clock.now_ms()
    ack, snapshot = subscribe(TickerSession(sim, now), ["tickers.BTCUSDT"], now)
    assert set(ack) == {"success", "ret_msg", "conn_id", "req_id", "op"}
    assert (ack["success"], ack["ret_msg"], ack["req_id"], ack["op"]) == (
        True,
        "",
        "r1",
        "subscribe",
    )
    real = capture("bybit_ws_v5_tickers.BTCUSDT_snapshot_linear_2023-04-05.json")
    docs = capture("bybit_ws_v5_tickers.BTCUSDT_snapshot_linear_DOCS-EXAMPLE.json")
    assert types_of(snapshot) == types_of(real)
    assert (snapshot["topic"], snapshot["type"]) == ("tickers.BTCUSDT", "snapshot")
    assert set(real["data"]) <= set(snapshot["data"])
    assert set(docs["data"]) <= set(snapshot["data"])
    assert set(snapshot["data"]) - set(real["data"]) <= ADDED_SINCE_2023
    assert set(types_of(snapshot["data"]).values()) == {"str"}


async def test_deltas_carry_only_changed_fields_and_merge_into_the_current_state(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim()
    session = TickerSession(sim, sim.clock.now_ms())
    topics = [f"tickers.{s}" for s in list(sim.market.contracts)[:50]]
    states = {
        m["data"]["symbol"]: m["data"] for m in subscribe(session, topics, sim.clock.now_ms())[1:]
    }
    deltas = 0
    for _ in range(100):
        await trio.sleep(TICK_MS / 1000)
        now = sim.clock.now_ms()
        for frame in map(json.loads, session.frames(now)):
            assert frame["type"] == "delta"
            symbol = frame["data"]["symbol"]
            assert set(frame["data"]) - {"symbol"}  # something changed
            assert all(
                states[symbol].get(k) != v for k, v in frame["data"].items() if k != "symbol"
            )
            states[symbol].update(frame["data"])
            deltas += 1
    now = sim.clock.now_ms()
    # Snapshot plus deltas is the venue's full state (no funding time passed in these 10 s).
    assert states == {symbol: sim.ticker_data(symbol, now) for symbol in states}
    # ~10 % of 50 symbols change per tick.
    assert 250 < deltas < 750


async def test_ping_gets_the_linear_pong() -> None:
    sim = make_sim(perpetuals=5)
    session = TickerSession(sim, sim.clock.now_ms())
    [pong] = [json.loads(m) for m in session.command('{"req_id":"p","op":"ping"}', 0)]
    assert pong == {
        "success": True,
        "ret_msg": "pong",
        "conn_id": session.conn_id,
        "req_id": "p",
        "op": "ping",
    }


async def test_an_unknown_symbol_or_too_many_args_are_refused() -> None:
    sim = make_sim(perpetuals=1500)
    now = sim.clock.now_ms()
    session = TickerSession(sim, now)
    [bad] = subscribe(session, ["tickers.NOPEUSDT"], now)
    assert (bad["success"], bad["ret_msg"]) == (False, "Invalid symbol :[tickers.NOPEUSDT]")
    every = [f"tickers.{s}" for s in sim.market.contracts]
    assert len(json.dumps(every)) > MAX_ARGS_CHARS
    [too_many] = subscribe(session, every, now)
    assert (too_many["success"], too_many["ret_msg"]) == (False, f"args size >{MAX_ARGS_CHARS}")


async def test_silence_sends_nothing_not_even_pongs(autojump_clock: trio.abc.Clock) -> None:
    sim = make_sim(perpetuals=20)
    session = TickerSession(sim, sim.clock.now_ms())
    subscribe(session, [f"tickers.{s}" for s in sim.market.contracts], sim.clock.now_ms())
    assert post(sim, "/_sim/silence", {"seconds": 5}).status == 200
    await trio.sleep(1)
    now = sim.clock.now_ms()
    assert session.frames(now) == []
    assert session.command('{"op":"ping"}', now) == []
    await trio.sleep(5)
    assert session.frames(sim.clock.now_ms())


async def test_a_connection_with_no_ping_and_no_data_for_10_minutes_is_idle(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim(perpetuals=5)
    session = TickerSession(sim, sim.clock.now_ms())
    await trio.sleep(IDLE_CLOSE_MS / 1000 - 1)
    assert not session.idle(sim.clock.now_ms())
    session.command('{"op":"ping"}', sim.clock.now_ms())
    await trio.sleep(IDLE_CLOSE_MS / 1000 - 1)
    assert not session.idle(sim.clock.now_ms())
    await trio.sleep(1)
    assert session.idle(sim.clock.now_ms())


# -- served on loopback ----------------------------------------------------------------------


async def read_until_closed(ws: Any) -> None:
    while True:
        await ws.get_message()


async def test_served_rest_and_websocket_push_and_drop(nursery: trio.Nursery) -> None:
    sim = BybitSim(perpetuals=5)
    [base] = await nursery.start(serve, sim)
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=base) as http:
            body = (await http.get(TICKERS, params=LINEAR)).json()
            assert body["retCode"] == 0
            url = base.replace("http://", "ws://") + WS_PATH
            async with open_ws(url) as ws:
                await ws.send_message('{"req_id":"a","op":"subscribe","args":["tickers.BTCUSDT"]}')
                ack = json.loads(await ws.get_message())
                snapshot = json.loads(await ws.get_message())
                assert (ack["op"], snapshot["type"]) == ("subscribe", "snapshot")
                delta = json.loads(await ws.get_message())  # BTC changes within a few ticks
                assert delta["type"] == "delta"
                assert (await http.post("/_sim/drop-websockets")).status_code == 200
                with pytest.raises(ConnectionClosed):
                    await read_until_closed(ws)
            stats = (await http.get("/_sim/stats")).json()
            assert stats["wsConnectionsOpened"] == 1
            assert stats["wsMessagesPushed"] >= 3


# -- the open-interest history -----------------------------------------------------------------

HISTORY = "/v5/market/open-interest"
HISTORY_DOCS = "bybit_rest_v5_market_open-interest_inverse_BTCUSD_DOCS-EXAMPLE.json"
HISTORY_LINEAR_2025 = "bybit_rest_v5_market_open-interest_linear_BTCUSDT_via-ccxt_2025-02-16.json"


def history(sim: BybitSim, **query: str) -> Any:
    base = {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "5min"}
    return json.loads(get(sim, HISTORY, {**base, **query}).body)


async def test_the_history_envelope_and_rows_have_the_captures_keys_and_types() -> None:
    sim = make_sim(perpetuals=10)
    doc = history(sim, limit="5")
    docs = capture(HISTORY_DOCS)
    assert types_of(doc) == types_of(docs)
    assert list(doc["result"]) == list(docs["result"])
    assert types_of(doc["result"]) == types_of(docs["result"])
    assert len(doc["result"]["list"]) == 5
    for row in doc["result"]["list"]:
        assert types_of(row) == types_of(docs["result"]["list"][0])
        assert list(row) == list(docs["result"]["list"][0])
    # The 2025 capture has the same keys but `singleOpenInterest`, added in 2026-06.
    real = capture(HISTORY_LINEAR_2025)["result"]["list"][0]
    assert set(doc["result"]["list"][0]) == set(real) | {"singleOpenInterest"}
    assert doc["result"]["nextPageCursor"].startswith("lastid%3D")
    assert "%26lasttime%3D" in doc["result"]["nextPageCursor"]


async def test_the_history_is_the_markets_own_walk_ending_at_the_live_value(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim(perpetuals=10)
    assert START_MS % 300_000 == 0
    await trio.sleep(3600)  # now is a 5-minute boundary: the last point is the current value
    rows = history(sim, limit="200")["result"]["list"]
    times = [int(r["timestamp"]) for r in rows]
    assert times[0] == START_MS + 3_600_000
    assert all(a - b == 300_000 for a, b in itertools.pairwise(times))
    ticker = json.loads(get(sim, TICKERS, {**LINEAR, "symbol": "BTCUSDT"}).body)
    live = ticker["result"]["list"][0]
    assert rows[0]["singleOpenInterest"] == live["singleOpenInterest"]
    assert Decimal(rows[0]["openInterest"]) == Decimal(live["openInterest"])
    for row in rows:
        assert Decimal(row["openInterest"]) == 2 * Decimal(row["singleOpenInterest"])
    # The walk before the start meets the live one: no jump at the start.
    by_time = {int(r["timestamp"]): Decimal(r["singleOpenInterest"]) for r in rows}
    before, at_start = by_time[START_MS - 300_000], by_time[START_MS]
    assert abs(at_start / before - 1) < Decimal("0.05")
    # Earlier answers do not change once the walk has passed them.
    await trio.sleep(600)
    later = {int(r["timestamp"]): r for r in history(sim, limit="200")["result"]["list"]}
    assert all(later[int(r["timestamp"])] == r for r in rows if int(r["timestamp"]) in later)


async def test_the_history_pages_with_its_cursor_and_bounds(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = make_sim(perpetuals=10)
    await trio.sleep(1800)
    first = history(sim, limit="3")["result"]
    second = history(sim, limit="3", cursor=first["nextPageCursor"])["result"]
    times = [int(r["timestamp"]) for r in first["list"] + second["list"]]
    assert times == [START_MS + 1_800_000 - k * 300_000 for k in range(6)]
    hourly = history(sim, intervalTime="1h", limit="3")["result"]["list"]
    assert all(int(r["timestamp"]) % 3_600_000 == 0 for r in hourly)
    bounded = history(sim, startTime=str(START_MS), endTime=str(START_MS + 600_000))["result"]
    assert [int(r["timestamp"]) for r in bounded["list"]] == [
        START_MS + 600_000,
        START_MS + 300_000,
        START_MS,
    ]
    assert bounded["nextPageCursor"] == ""


@pytest.mark.parametrize(
    ("query", "ret_msg"),
    [
        ({"intervalTime": "1m"}, "intervalTime"),
        ({"intervalTime": ""}, "intervalTime"),
        ({"limit": "201"}, "limit"),
        ({"symbol": "NOPEUSDT"}, "Not supported symbols"),
        ({"symbol": "BTCUSDT-26MAR27"}, "Not supported symbols"),
        ({"category": "spot"}, "category"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
async def test_bad_history_parameters_get_a_ret_code_in_a_200(
    query: dict[str, str], ret_msg: str
) -> None:
    sim = make_sim(perpetuals=10)
    doc = history(sim, **query)
    assert doc["retCode"] == 10001
    assert ret_msg in doc["retMsg"]


async def test_the_history_counts_in_the_ip_limit_and_is_refused_like_the_rest() -> None:
    sim = make_sim(perpetuals=10)
    sim.rate_limit(60)
    answer = get(sim, HISTORY, {**LINEAR, "symbol": "BTCUSDT", "intervalTime": "5min"})
    assert answer.status == 403
    assert sim.stats.by_path[HISTORY] == 1
