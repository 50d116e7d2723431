"""The Deribit simulator: its REST and WebSocket shapes equal the captures' (same keys, same
JSON types per key; extra keys only where Deribit adds them), its credit limits and refusals,
faults and control routes.

In-process tests call `DeribitSim.handle()` and `WsSession` directly under `autojump_clock`;
one short test serves it on 127.0.0.1:<free port> on the real clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from volspike_oi.sim.deribit import WS_PATH, DeribitSim, serve
from volspike_oi.sim.deribit.exchange import MAX_CONNECTIONS_PER_IP, TICK_MS, WsSession
from volspike_oi.sim.faults import Faults

FIXTURES = Path(__file__).parent.parent / "fixtures" / "deribit"
IP = "10.0.0.1"
START_MS = 1_796_000_000_000
"""A fixed simulated epoch (2026-11-30), so every run sees the same market."""


def capture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_bytes())


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"  # Deribit writes 10 and 10.0 alike; both are JSON numbers
    if value is None:
        return "null"
    return type(value).__name__


def assert_same_shape(ours: dict[str, Any], theirs: dict[str, Any], extra: set[str]) -> None:
    """Every key of the capture, with its JSON type (null in a capture allows a number);
    no keys beyond `extra`."""
    assert set(theirs) - set(ours) == set(), f"missing {set(theirs) - set(ours)}"
    assert set(ours) - set(theirs) <= extra, f"unexpected {set(ours) - set(theirs) - extra}"
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert_same_shape(ours[key], value, extra)
        elif value is not None:
            assert json_type(ours[key]) == json_type(value), key


def get(sim: DeribitSim, method: str, ip: str = IP, **query: str) -> Any:
    answer = sim.handle("GET", f"/api/v2/{method}", query, ip, b"")
    return answer


def ok(sim: DeribitSim, method: str, **query: str) -> Any:
    answer = get(sim, method, **query)
    assert answer.status == 200, answer.body
    return answer.json()


# -- REST shapes ---------------------------------------------------------------------------


async def test_envelope_has_deribits_keys_and_types() -> None:
    ours = ok(
        DeribitSim(start_epoch_ms=START_MS),
        "public/get_book_summary_by_currency",
        currency="BTC",
        kind="future",
    )
    theirs = capture("deribit_rest_get_book_summary_by_instrument_BTC-PERPETUAL_2022-06-04.json")
    assert list(ours) == list(theirs)
    assert [json_type(ours[k]) for k in ("usIn", "usOut", "usDiff", "testnet")] == [
        "number",
        "number",
        "number",
        "bool",
    ]


async def test_book_summary_rows_match_the_perpetual_and_dated_captures() -> None:
    rows = ok(
        DeribitSim(start_epoch_ms=START_MS),
        "public/get_book_summary_by_currency",
        currency="BTC",
        kind="future",
    )
    by_name = {r["instrument_name"]: r for r in rows["result"]}
    perp = capture("deribit_rest_get_book_summary_by_instrument_BTC-PERPETUAL_2022-06-04.json")
    dated = capture("deribit_rest_get_book_summary_by_instrument_BTC-24JUN22_2022-06-04.json")
    assert_same_shape(by_name["BTC-PERPETUAL"], perp["result"][0], extra=set())
    assert list(by_name["BTC-PERPETUAL"]) == list(perp["result"][0])  # same key order too
    assert_same_shape(by_name["BTC-25DEC26"], dated["result"][0], extra=set())
    assert type(by_name["BTC-PERPETUAL"]["open_interest"]) is int  # whole USD, as captured


async def test_usdc_linear_summary_reports_coin() -> None:
    rows = ok(
        DeribitSim(start_epoch_ms=START_MS),
        "public/get_book_summary_by_currency",
        currency="USDC",
        kind="future",
    )
    eth = next(r for r in rows["result"] if r["instrument_name"] == "ETH_USDC-PERPETUAL")
    assert eth["quote_currency"] == "USDC"
    assert 1_000 < eth["open_interest"] < 50_000  # ETH, not USD


async def test_instruments_match_the_usdc_and_btc_captures() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    usdc = ok(sim, "public/get_instruments", currency="USDC", kind="future")["result"]
    btc = ok(sim, "public/get_instruments", currency="BTC", kind="future")["result"]
    usdc_capture = capture("deribit_rest_get_instruments_currency-USDC_FULL_2022-05-29.json")
    btc_capture = capture(
        "deribit_rest_get_instruments_currency-BTC_futures-only_TRIMMED_2021-07-22.json"
    )
    for row in usdc:
        assert_same_shape(row, usdc_capture["result"][0], extra={"instrument_type"})
    perp = next(r for r in btc if r["instrument_name"] == "BTC-PERPETUAL")
    theirs = btc_capture["result"][-1]
    # Newer than the 2021 capture: settlement_currency, future_type, … were added since.
    assert set(theirs) <= set(perp)
    assert all(json_type(perp[k]) == json_type(v) for k, v in theirs.items())
    assert perp["contract_size"] == theirs["contract_size"] == 10.0
    assert {r["settlement_period"] for r in btc} == {"perpetual", "month"}


async def test_btc_and_eth_are_listed_at_realistic_prices() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    for currency, name, low, high in (
        ("BTC", "BTC-PERPETUAL", 75_000, 91_000),
        ("ETH", "ETH-PERPETUAL", 2_700, 3_300),
    ):
        rows = ok(sim, "public/get_book_summary_by_currency", currency=currency, kind="future")
        row = next(r for r in rows["result"] if r["instrument_name"] == name)
        assert low < row["mark_price"] < high
    usdc = ok(sim, "public/get_instruments", currency="USDC", kind="future")["result"]
    assert len([r for r in usdc if r["settlement_period"] == "perpetual"]) >= 15


async def test_options_kind_lists_nothing_and_bad_params_are_jsonrpc_errors() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    assert ok(sim, "public/get_instruments", currency="BTC", kind="option")["result"] == []
    missing = get(sim, "public/get_book_summary_by_currency")
    assert missing.status == 400
    assert missing.json()["error"]["code"] == -32602
    assert missing.json()["error"]["data"] == {"reason": "must be present", "param": "currency"}
    unknown = get(sim, "public/no_such_method")
    assert (unknown.status, unknown.json()["error"]["code"]) == (400, -32601)


async def test_oi_and_mark_walk_on_trios_clock(autojump_clock: trio.testing.MockClock) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    first = ok(sim, "public/get_book_summary_by_instrument", instrument_name="BTC-PERPETUAL")
    await trio.sleep(60)
    later = ok(sim, "public/get_book_summary_by_instrument", instrument_name="BTC-PERPETUAL")
    (a,), (b,) = first["result"], later["result"]
    assert a["mark_price"] != b["mark_price"]
    assert a["open_interest"] != b["open_interest"]
    assert b["open_interest"] % 10 == 0  # whole 10 USD contracts
    assert b["creation_timestamp"] - a["creation_timestamp"] == 60_000


async def test_same_seed_same_market(autojump_clock: trio.testing.MockClock) -> None:
    one, two = (
        DeribitSim(start_epoch_ms=START_MS, seed=3),
        DeribitSim(start_epoch_ms=START_MS, seed=3),
    )
    await trio.sleep(30)
    query = {"currency": "USDC", "kind": "future"}
    assert (
        ok(one, "public/get_book_summary_by_currency", **query)["result"]
        == ok(two, "public/get_book_summary_by_currency", **query)["result"]
    )


# -- limits ----------------------------------------------------------------------------------


async def test_a_burst_of_100_then_429_with_10028(autojump_clock: trio.testing.MockClock) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    statuses = [get(sim, "public/test").status for _ in range(101)]
    assert statuses[:100] == [200] * 100
    refusal = get(sim, "public/test")
    assert refusal.status == 429
    body = refusal.json()
    assert body["error"] == {"message": "too_many_requests", "code": 10028}
    assert set(body) == {"jsonrpc", "error", "usIn", "usOut", "usDiff", "testnet"}
    assert sim.stats.refused_rate == 2
    assert get(sim, "public/test", ip="10.0.0.2").status == 200  # counted per IP
    await trio.sleep(0.05)  # 500 credits at 10,000/s
    assert get(sim, "public/test").status == 200
    assert get(sim, "public/test").status == 429


async def test_20_requests_per_second_are_sustained(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    for _ in range(400):
        assert get(sim, "public/test").status == 200
        await trio.sleep(0.05)


async def test_rate_limit_control_refuses_everything_for_its_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    answer = sim.handle("POST", "/_sim/rate-limit", {}, IP, b'{"seconds": 5}')
    assert answer.status == 200
    assert get(sim, "public/test").status == 429
    await trio.sleep(5)
    assert get(sim, "public/test").status == 200


# -- faults and control ----------------------------------------------------------------------


async def test_error_rate_answers_5xx_and_counts_them() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    answer = sim.handle("POST", "/_sim/faults", {}, IP, b'{"error_rate": 1.0}')
    assert answer.json()["error_rate"] == 1.0
    assert get(sim, "public/test").status >= 500
    assert sim.stats.errors_5xx == 1


async def test_hang_malformed_and_latency_faults() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS, faults=Faults(hang_rate=1.0))
    assert get(sim, "public/test").hang
    sim.set_faults(Faults(malformed_rate=1.0, latency_ms=250))
    answer = get(sim, "public/get_instruments", currency="BTC")
    assert answer.delay_s == 0.25
    with pytest.raises(ValueError):
        json.loads(answer.body)


async def test_bad_fault_fields_are_refused() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    assert sim.handle("POST", "/_sim/faults", {}, IP, b'{"nope": 1}').status == 400
    assert sim.handle("POST", "/_sim/faults", {}, IP, b'{"error_rate": 2}').status == 400
    assert sim.handle("POST", "/_sim/silence", {}, IP, b'{"seconds": -1}').status == 400


async def test_stats_route_counts_requests_and_refusals() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    get(sim, "public/test")
    stats = sim.handle("GET", "/_sim/stats", {}, IP, b"").json()
    assert stats["requests"] == 1
    assert set(stats) >= {
        "requests",
        "refused_rate",
        "errors_5xx",
        "ws_connections",
        "ws_messages_pushed",
    }


# -- WebSocket protocol (framework-free) -------------------------------------------------------


def session(sim: DeribitSim) -> WsSession:
    opened = sim.open_session(IP)
    assert opened is not None
    return opened


def rpc(s: WsSession, method: str, params: dict[str, Any], id_: int = 1) -> Any:
    replies, keep = s.command(
        json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}),
        s.sim.now_ms(),
    )
    assert keep
    (reply,) = replies
    return json.loads(reply)


async def test_subscribe_acknowledges_the_valid_channels() -> None:
    s = session(DeribitSim(start_epoch_ms=START_MS))
    reply = rpc(
        s,
        "public/subscribe",
        {"channels": ["ticker.BTC-PERPETUAL.100ms", "ticker.NOPE-PERPETUAL.100ms"]},
        id_=42,
    )
    assert reply["id"] == 42
    assert reply["result"] == ["ticker.BTC-PERPETUAL.100ms"]
    assert {"usIn", "usOut", "usDiff", "testnet"} <= set(reply)


async def test_ticker_push_matches_the_captures(autojump_clock: trio.testing.MockClock) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    s = session(sim)
    channels = ["ticker.BTC-PERPETUAL.100ms", "ticker.ETH_USDC-PERPETUAL.100ms"]
    rpc(s, "public/subscribe", {"channels": channels})
    pushed: dict[str, Any] = {}
    for i in range(1, 11):
        frames, keep = s.tick(sim.now_ms() // TICK_MS * TICK_MS + i * TICK_MS)
        assert keep
        pushed.update({json.loads(f)["params"]["channel"]: json.loads(f) for f in frames})
    btc = capture("deribit_ws_ticker.BTC-PERPETUAL.100ms_via-nautilus_2025-12-12.json")
    eth = capture("deribit_ws_ticker.ETH_USDC-PERPETUAL.100ms_linear_2025-12-11.json")
    assert_same_shape(pushed["ticker.BTC-PERPETUAL.100ms"], btc, extra=set())
    assert_same_shape(pushed["ticker.ETH_USDC-PERPETUAL.100ms"], eth, extra=set())


async def test_each_instrument_is_pushed_once_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    s = session(sim)
    names = list(sim.market.instruments)
    rpc(s, "public/subscribe", {"channels": [f"ticker.{n}.100ms" for n in names]})
    start = sim.now_ms() // 1000 * 1000 + 1000
    per_tick = []
    for i in range(10):
        frames, _ = s.tick(start + i * TICK_MS)
        per_tick.append(len(frames))
    assert sum(per_tick) == len(names)
    assert max(per_tick) < len(names) / 2  # spread over the second, not one burst


async def test_heartbeat_sends_test_requests_and_closes_when_unanswered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # On trio's mock clock: the real one moves between reading `now` and the heartbeat's start.
    sim = DeribitSim(start_epoch_ms=START_MS)
    s = session(sim)
    now = sim.now_ms()
    too_short = rpc(s, "public/set_heartbeat", {"interval": 5})
    assert too_short["error"]["code"] == -32602
    assert rpc(s, "public/set_heartbeat", {"interval": 10})["result"] == "ok"
    assert s.tick(now + 5_000) == ([], True)
    frames, keep = s.tick(now + 10_000)
    assert keep
    assert [json.loads(f) for f in frames] == [
        {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
    ]
    answered = rpc(s, "public/test", {})
    assert answered["result"] == {"version": "1.2.26"}
    frames, keep = s.tick(now + 20_000)
    assert keep
    assert len(frames) == 1
    assert s.tick(now + 30_000) == ([], False)  # the second test_request went unanswered


async def test_silence_pushes_nothing_and_drop_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    s = session(sim)
    rpc(s, "public/subscribe", {"channels": [f"ticker.{n}.100ms" for n in sim.market.instruments]})
    sim.silence(2)
    now = sim.now_ms()
    assert all(s.tick(now + i * TICK_MS) == ([], True) for i in range(1, 20))
    assert sum(len(s.tick(now + 2_000 + i * TICK_MS)[0]) for i in range(10)) > 0
    sim.drop_websockets()
    assert s.tick(now + 3_100) == ([], False)


async def test_websocket_requests_spend_credits_and_10028_ends_the_session() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    s = session(sim)
    for i in range(100):
        rpc(s, "public/test", {}, id_=i)
    replies, keep = s.command(
        '{"jsonrpc":"2.0","id":7,"method":"public/test","params":{}}', sim.now_ms()
    )
    assert not keep
    assert json.loads(replies[0])["error"] == {"message": "too_many_requests", "code": 10028}


async def test_32_connections_per_ip() -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    for _ in range(MAX_CONNECTIONS_PER_IP):
        assert sim.open_session(IP) is not None
    assert sim.open_session(IP) is None
    assert sim.open_session("10.0.0.9") is not None
    sim.set_faults(Faults(ws_down=True))
    assert sim.open_session("10.0.0.10") is None


# -- served on loopback (real clock, short) ----------------------------------------------------


async def test_served_rest_control_and_websocket(nursery: trio.Nursery) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    binds = await nursery.start(serve, sim, "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=binds[0]) as http:
        response = await http.get(
            "/api/v2/public/get_book_summary_by_currency",
            params={"currency": "ETH", "kind": "future"},
        )
        assert response.status_code == 200
        assert "ETH-PERPETUAL" in {r["instrument_name"] for r in response.json()["result"]}
        assert (await http.post("/_sim/silence", json={"seconds": 0.01})).status_code == 200
        ws_url = binds[0].replace("http://", "ws://") + WS_PATH
        with trio.fail_after(5):
            async with open_websocket_url(ws_url) as ws:
                await ws.send_message(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "public/subscribe",
                            "params": {"channels": ["ticker.BTC-PERPETUAL.100ms"]},
                        }
                    )
                )
                ack = json.loads(await ws.get_message())
                assert ack["result"] == ["ticker.BTC-PERPETUAL.100ms"]
                push = json.loads(await ws.get_message())
                assert push["params"]["channel"] == "ticker.BTC-PERPETUAL.100ms"
        stats = (await http.get("/_sim/stats")).json()
        assert stats["ws_connections"] == 1
        assert stats["ws_messages_pushed"] >= 1
