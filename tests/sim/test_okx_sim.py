"""The OKX simulator against OKX's own shapes, limits and refusals.

Shapes: every REST answer and push has the keys of the vendored captures (tests/fixtures/okx)
with the same JSON types (all strings); extra keys only where OKX added them since (`oiUsd`,
`instFamily`, `ruleType`). Limits: 20 requests / 2 s per IP for instruments and open-interest,
10 for mark-price, refused with HTTP 429 `{"msg":"Too Many Requests","code":"50011"}`. The
WebSocket session is driven in process (framework-free) under `autojump_clock`; one short test
runs it over loopback.
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
from trio_websocket import ConnectionClosed, WebSocketConnection

from volspike_oi.sim.faults import Faults
from volspike_oi.sim.okx import WS_PATH, OkxSim, OkxSimSettings, serve
from volspike_oi.sim.okx.exchange import (
    HISTORY_PATH,
    INSTRUMENTS_PATH,
    MARK_PRICE_PATH,
    OPEN_INTEREST_PATH,
    RATE_LIMIT_BODY,
)
from volspike_oi.sim.okx.streams import OkxSession
from volspike_oi.venues.okx.client import open_okx_websocket

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "okx"
START_MS = 1_780_000_000_000
SWAP = {"instType": "SWAP"}


def capture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_sim(**overrides: Any) -> OkxSim:
    return OkxSim(OkxSimSettings(start_ms=START_MS, **overrides))


def types_of(row: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in row.items()}


def assert_same_shape(row: dict[str, Any], real: dict[str, Any], added: set[str]) -> None:
    assert set(row) - set(real) <= added, f"keys OKX does not send: {set(row) - set(real)}"
    assert set(real) <= set(row), f"missing keys: {set(real) - set(row)}"
    assert {k: t for k, t in types_of(row).items() if k in real} == types_of(real)


async def test_instruments_rows_have_the_capture_keys_and_string_types() -> None:
    sim = make_sim()
    answer = sim.handle("GET", INSTRUMENTS_PATH, SWAP)
    real = capture("okx_rest_public_instruments_instType-SWAP_FULL_2022-05-13.json")
    doc = answer.json()
    assert answer.status == 200
    assert list(doc) == list(real) == ["code", "data", "msg"]
    assert (doc["code"], doc["msg"]) == ("0", "")
    for row in doc["data"]:
        assert_same_shape(row, real["data"][0], {"instFamily", "ruleType"})


async def test_the_listing_has_majors_a_bundle_and_what_must_be_filtered_out() -> None:
    sim = make_sim()
    rows = {r["instId"]: r for r in sim.handle("GET", INSTRUMENTS_PATH, SWAP).json()["data"]}
    assert rows["BTC-USDT-SWAP"]["ctVal"] == "0.01"
    assert rows["PEPE-USDT-SWAP"]["ctVal"] == "10000000"
    assert (rows["BTC-USD-SWAP"]["ctType"], rows["BTC-USD-SWAP"]["settleCcy"]) == ("inverse", "BTC")
    assert rows["BTC-USDC-SWAP"]["settleCcy"] == "USDC"
    assert {r["state"] for r in rows.values()} == {"live", "suspend", "preopen"}
    assert len([r for r in rows.values() if r["settleCcy"] == "USDT"]) >= 40


async def test_open_interest_rows_match_the_capture_and_convert() -> None:
    sim = make_sim()
    doc = sim.handle("GET", OPEN_INTEREST_PATH, SWAP).json()
    real = capture("okx_rest_public_open-interest_BTC-USDT-SWAP_linear_via-ccxt_2024-10-12.json")
    old = capture("okx_rest_public_open-interest_instType-SWAP_TRIMMED-by-upstream_2022-06-04.json")
    rows = {r["instId"]: r for r in doc["data"]}
    for row in rows.values():
        assert list(row) == [*[*old["data"][0]][:4], "oiUsd", "ts"]
        assert types_of(row) == types_of(real["data"][0])
    btc = rows["BTC-USDT-SWAP"]
    assert float(btc["oi"]) / float(btc["oiCcy"]) == pytest.approx(100)
    assert 70_000 < float(btc["oiUsd"]) / float(btc["oiCcy"]) < 95_000
    eth = rows["ETH-USDT-SWAP"]
    assert 2_500 < float(eth["oiUsd"]) / float(eth["oiCcy"]) < 3_500
    inverse = rows["BTC-USD-SWAP"]
    assert float(inverse["oi"]) * 100 / float(inverse["oiCcy"]) == pytest.approx(83_000, rel=0.1)


async def test_mark_price_rows_have_the_push_capture_keys() -> None:
    sim = make_sim()
    doc = sim.handle("GET", MARK_PRICE_PATH, SWAP).json()
    real = capture("okx_ws_mark-price_WNCG-USDT-SWAP_2021-12-22.json")["data"][0]
    for row in doc["data"]:
        assert types_of(row) == types_of(real)
    btc = next(r for r in doc["data"] if r["instId"] == "BTC-USDT-SWAP")
    assert 80_000 < float(btc["markPx"]) < 86_000


async def test_missing_or_wrong_inst_type_is_refused_like_okx() -> None:
    sim = make_sim()
    missing = sim.handle("GET", OPEN_INTEREST_PATH, {})
    assert (missing.status, missing.json()["code"]) == (400, "50014")
    wrong = sim.handle("GET", OPEN_INTEREST_PATH, {"instType": "PERP"})
    assert wrong.json()["code"] == "51000"
    one = sim.handle("GET", OPEN_INTEREST_PATH, {"instType": "SWAP", "instId": "ETH-USDT-SWAP"})
    assert [r["instId"] for r in one.json()["data"]] == ["ETH-USDT-SWAP"]


async def test_the_market_walks_on_trios_clock(autojump_clock: trio.testing.MockClock) -> None:
    sim = make_sim()
    before = sim.handle("GET", MARK_PRICE_PATH, {**SWAP, "instId": "BTC-USDT-SWAP"}).json()
    await trio.sleep(60)
    after = sim.handle("GET", MARK_PRICE_PATH, {**SWAP, "instId": "BTC-USDT-SWAP"}).json()
    assert before["data"][0]["markPx"] != after["data"][0]["markPx"]
    assert int(after["data"][0]["ts"]) - int(before["data"][0]["ts"]) == 60_000


@pytest.mark.parametrize(("path", "limit"), [(OPEN_INTEREST_PATH, 20), (MARK_PRICE_PATH, 10)])
async def test_each_endpoint_refuses_past_its_limit_per_2_s(
    autojump_clock: trio.testing.MockClock, path: str, limit: int
) -> None:
    sim = make_sim()
    await trio.sleep(0.01)
    statuses = [sim.handle("GET", path, SWAP).status for _ in range(limit + 1)]
    assert statuses == [200] * limit + [429]
    refused = sim.handle("GET", path, SWAP)
    assert (refused.status, refused.body) == (429, RATE_LIMIT_BODY)
    assert sim.handle("GET", path, SWAP, client_ip="10.0.0.2").status == 200
    assert sim.handle("GET", INSTRUMENTS_PATH, SWAP).status == 200
    await trio.sleep(2)
    assert sim.handle("GET", path, SWAP).status == 200
    assert sim.stats.refused_for_rate == 2


async def test_rate_limit_control_refuses_everything_for_a_while(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    assert sim.handle("POST", "/_sim/rate-limit", {}, body=b'{"seconds": 5}').status == 200
    assert sim.handle("GET", INSTRUMENTS_PATH, SWAP).status == 429
    await trio.sleep(5)
    assert sim.handle("GET", INSTRUMENTS_PATH, SWAP).status == 200


async def test_faults_give_okx_5xx_bodies_latency_hangs_and_cut_bodies() -> None:
    sim = make_sim()
    body = json.dumps({"error_rate": 1.0, "latency_ms": 250}).encode()
    assert sim.handle("POST", "/_sim/faults", {}, body=body).status == 200
    failed = sim.handle("GET", OPEN_INTEREST_PATH, SWAP)
    assert failed.status >= 500
    assert failed.json()["code"] in {"50001", "50013"}
    assert failed.delay_s == 0.25
    sim.set_faults(Faults(hang_rate=1.0))
    assert sim.handle("GET", OPEN_INTEREST_PATH, SWAP).hang
    sim.set_faults(Faults(malformed_rate=1.0))
    cut = sim.handle("GET", OPEN_INTEREST_PATH, SWAP)
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        json.loads(cut.body)
    stats = sim.handle("GET", "/_sim/stats", {}).json()
    assert stats["errors_5xx"] == 1
    assert stats["requests"] == 3
    bad = sim.handle("POST", "/_sim/faults", {}, body=b'{"error_rate": 2}')
    assert bad.status == 400


def session(sim: OkxSim) -> OkxSession:
    return OkxSession(sim.market, sim.settings, "c0ffee01", sim.clock.now_ms())


def subscribe(*inst_ids: str, channel: str = "open-interest") -> str:
    args = [{"channel": channel, "instId": i} for i in inst_ids]
    return json.dumps({"op": "subscribe", "args": args})


async def test_subscribe_is_acknowledged_per_arg_and_unknown_ids_get_an_error() -> None:
    sim = make_sim()
    s = session(sim)
    replies, keep = s.command(subscribe("BTC-USDT-SWAP", "NOPE-USDT-SWAP"), sim.clock.now_ms())
    assert keep
    ack, error = (json.loads(r) for r in replies)
    assert ack == {
        "event": "subscribe",
        "arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
        "connId": "c0ffee01",
    }
    assert (error["event"], error["code"]) == ("error", "60018")
    assert "NOPE-USDT-SWAP" in error["msg"]
    assert s.command("ping", 0) == (["pong"], True)
    [invalid], _ = s.command("{nonsense", 0)
    assert json.loads(invalid)["code"] == "60012"


async def test_pushes_have_the_capture_shapes() -> None:
    sim = make_sim()
    s = session(sim)
    s.command(subscribe("BTC-USDT-SWAP"), 0)
    s.command(subscribe("BTC-USDT-SWAP", channel="mark-price"), 0)
    oi, mark = (json.loads(f) for f in s.frames(sim.clock.now_ms()))
    real_oi = capture("okx_ws_open-interest_WNCG-USDT-SWAP_2021-12-22.json")
    real_mark = capture("okx_ws_mark-price_WNCG-USDT-SWAP_2021-12-22.json")
    assert list(oi) == list(real_oi) == ["arg", "data"]
    assert oi["arg"] == {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}
    assert_same_shape(oi["data"][0], real_oi["data"][0], {"oiUsd"})
    assert list(mark["data"][0]) == list(real_mark["data"][0])
    assert types_of(mark["data"][0]) == types_of(real_mark["data"][0])


async def test_push_cadence_follows_okx(autojump_clock: trio.testing.MockClock) -> None:
    """open-interest: at most every 3 s and only on a change; mark-price: at most every 200 ms
    on a change (the market moves once a second) and every 10 s without one."""
    sim = make_sim()
    s = session(sim)
    s.command(subscribe("BTC-USDT-SWAP"), 0)
    s.command(subscribe("LUNA-USDT-SWAP", "ETH-USDT-SWAP", channel="mark-price"), 0)
    times: dict[tuple[str, str], list[int]] = {}
    start = sim.clock.now_ms()
    for tick in range(0, 60_000, 200):
        await trio.sleep_until(sim.clock.trio_time_at(start + tick))
        for frame in s.frames(start + tick):
            doc = json.loads(frame)
            key = (doc["arg"]["channel"], doc["arg"]["instId"])
            times.setdefault(key, []).append(tick)
    oi = times[("open-interest", "BTC-USDT-SWAP")]
    assert oi[0] == 0
    assert min(b - a for a, b in itertools.pairwise(oi)) >= 3000
    assert len(oi) >= 15
    eth = times[("mark-price", "ETH-USDT-SWAP")]
    assert min(b - a for a, b in itertools.pairwise(eth)) >= 1000
    assert len(eth) >= 55
    assert ("mark-price", "LUNA-USDT-SWAP") not in times  # suspended: nothing moves


async def test_subscribe_ops_beyond_480_an_hour_close_the_connection() -> None:
    sim = make_sim()
    s = session(sim)
    for _ in range(480):
        assert s.command(subscribe("BTC-USDT-SWAP"), 0)[1]
    [error], keep = s.command(subscribe("BTC-USDT-SWAP"), 0)
    assert not keep
    assert json.loads(error)["code"] == "60014"


async def drain(ws: WebSocketConnection) -> None:
    while True:
        await ws.get_message()


async def test_the_websocket_over_loopback_acks_pushes_silences_and_drops() -> None:
    sim = make_sim(oi_push_interval_s=0.3)
    async with trio.open_nursery() as nursery:
        [url] = await nursery.start(serve, sim)
        async with httpx.AsyncClient(base_url=url) as http:
            stats = (await http.get("/_sim/stats")).json()
            assert stats["ws_connections_opened"] == 0
            ws_url = url.replace("http://", "ws://") + WS_PATH
            with trio.fail_after(5):
                async with open_okx_websocket(ws_url) as ws:
                    await ws.send_message(subscribe("BTC-USDT-SWAP"))
                    assert json.loads(await ws.get_message())["event"] == "subscribe"
                    push = json.loads(await ws.get_message())
                    assert push["arg"]["channel"] == "open-interest"
                    await ws.send_message("ping")
                    while (await ws.get_message()) != "pong":
                        pass
                    assert (await http.post("/_sim/silence", json={"seconds": 0.8})).is_success
                    with trio.move_on_after(0.6) as quiet:
                        await ws.get_message()
                    assert quiet.cancelled_caught
                    assert (await http.post("/_sim/drop-websockets")).is_success
                    with pytest.raises(ConnectionClosed):
                        await drain(ws)
            stats = (await http.get("/_sim/stats")).json()
            assert stats["ws_connections_opened"] == 1
            assert stats["ws_messages_pushed"] >= 1
        nursery.cancel_scope.cancel()


async def test_unsubscribe_stops_the_pushes() -> None:
    sim = make_sim()
    s = session(sim)
    s.command(subscribe("BTC-USDT-SWAP"), 0)
    unsubscribe = subscribe("BTC-USDT-SWAP").replace('"subscribe"', '"unsubscribe"')
    [ack], _ = s.command(unsubscribe, 0)
    assert json.loads(ack)["event"] == "unsubscribe"
    assert s.frames(sim.clock.now_ms()) == []


async def test_a_connection_without_subscriptions_is_closed_after_30_s() -> None:
    sim = make_sim()
    s = session(sim)
    assert not s.idle_too_long(s.opened_ms + 29_999)
    assert s.idle_too_long(s.opened_ms + 30_000)
    s.command(subscribe("BTC-USDT-SWAP"), 0)
    assert not s.idle_too_long(s.opened_ms + 60_000)


# -- the rubik open-interest history -------------------------------------------------------------

FIRST_BOUNDARY_MS = START_MS + (-START_MS) % 300_000


def history(sim: OkxSim, **query: str) -> Any:
    answer = sim.handle("GET", HISTORY_PATH, {"instId": "BTC-USDT-SWAP", **query})
    return answer.status, json.loads(answer.body)


async def test_history_rows_are_the_docs_arrays_in_the_captures_envelope(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    await trio.sleep(3600)
    status, doc = history(sim, period="5m", limit="5")
    assert status == 200
    real = capture("okx_rest_public_open-interest_BTC-USDT-SWAP_linear_via-ccxt_2024-10-12.json")
    assert list(doc) == ["code", "data", "msg"]
    assert types_of(doc) == types_of(real)
    assert (doc["code"], doc["msg"]) == ("0", "")
    assert len(doc["data"]) == 5
    for row in doc["data"]:
        assert [type(v) for v in row] == [str] * 4  # [ts, oi, oiCcy, oiUsd]
    times = [int(row[0]) for row in doc["data"]]
    assert times == sorted(times, reverse=True)
    assert all(a - b == 300_000 for a, b in itertools.pairwise(times))


async def test_the_history_ends_at_the_live_open_interest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    boundary = FIRST_BOUNDARY_MS + 3_600_000
    await trio.sleep((boundary - START_MS) / 1000)
    live = json.loads(
        sim.handle("GET", OPEN_INTEREST_PATH, {**SWAP, "instId": "BTC-USDT-SWAP"}).body
    )["data"][0]
    _, doc = history(sim, limit="100")
    newest = doc["data"][0]
    assert newest == [str(boundary), live["oi"], live["oiCcy"], live["oiUsd"]]
    # Before the start the walk is drawn backward and meets the live one without a jump.
    by_time = {int(r[0]): Decimal(r[1]) for r in doc["data"]}
    before, first = by_time[FIRST_BOUNDARY_MS - 300_000], by_time[FIRST_BOUNDARY_MS]
    assert abs(first / before - 1) < Decimal("0.05")
    # A fresh simulator already has history before its start (a first start's baseline).
    _, fresh = history(make_sim(), limit="100")
    assert len(fresh["data"]) == 100
    assert int(fresh["data"][0][0]) < START_MS


async def test_history_periods_and_bounds(autojump_clock: trio.testing.MockClock) -> None:
    sim = make_sim()
    await trio.sleep(4 * 3600)
    _, hourly = history(sim, period="1H", limit="3")
    assert all(int(r[0]) % 3_600_000 == 0 for r in hourly["data"])
    _, older = history(sim, end=str(FIRST_BOUNDARY_MS), limit="2")
    assert [int(r[0]) for r in older["data"]] == [
        FIRST_BOUNDARY_MS - 300_000,
        FIRST_BOUNDARY_MS - 600_000,
    ]
    _, newer = history(sim, begin=str(START_MS + 4 * 3_600_000 - 600_000))
    assert len(newer["data"]) == 2
    _, default = history(sim)
    assert len(default["data"]) == 100


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"period": "1m"}, "51000"),
        ({"limit": "101"}, "51000"),
        ({"instId": "NOPE-USDT-SWAP"}, "51001"),
        ({"instId": ""}, "50014"),
    ],
)
async def test_bad_history_parameters_are_refused_like_okx(
    query: dict[str, str], code: str
) -> None:
    sim = make_sim()
    status, doc = history(sim, **query)
    assert (status, doc["code"], doc["data"]) == (400, code, [])


async def test_the_history_refuses_past_10_per_2_s_per_instrument(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    await trio.sleep(0.01)
    statuses = [history(sim)[0] for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert history(sim, instId="ETH-USDT-SWAP")[0] == 200
    await trio.sleep(2)
    assert history(sim)[0] == 200
