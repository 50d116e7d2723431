"""The Hyperliquid simulator against the captures (tests/fixtures/hyperliquid) and its rules.

Rules: REST through the in-process transport under `autojump_clock` (weight windows are
minutes); the WebSocket over real loopback sockets on the real clock, in short tests; shapes
equal the captures' (same keys, same JSON type per key; the sim may add only what Hyperliquid
added later, as the newer mainnet capture shows).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from quart.testing.connections import WebsocketDisconnectError
from trio_websocket import ConnectionClosed, HandshakeError

from volspike_oi.sim.faults import Faults
from volspike_oi.sim.hyperliquid import WS_PATH, HyperliquidSim, HyperliquidSimSettings, serve
from volspike_oi.sim.hyperliquid.app import create_app
from volspike_oi.sim.hyperliquid.exchange import MAX_SUBSCRIPTIONS_PER_IP, WsSession
from volspike_oi.sim.transport import InProcessTransport
from volspike_oi.venues.hyperliquid.stream import open_ws

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hyperliquid"
TESTNET = "hyperliquid_rest_info_metaAndAssetCtxs_TESTNET_TRIMMED-6-assets_2024-12-21.json"
MAINNET = (
    "hyperliquid_rest_info_metaAndAssetCtxs_mainnet-prefix_UNVERIFIED-PROVENANCE_2026-09-03.json"
)
WS_PUSH = "hyperliquid_ws_activeAssetCtx_MOODENG_2024-10-29.json"
META = {"type": "metaAndAssetCtxs"}


def capture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def types_of(obj: dict[str, Any]) -> dict[str, str]:
    return {k: json_type(v) for k, v in obj.items()}


def small_sim(**overrides: Any) -> HyperliquidSim:
    return HyperliquidSim(HyperliquidSimSettings(perps=30, **overrides))


@pytest.fixture
async def client_on() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(sim: HyperliquidSim, ip: str = "10.0.0.1") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=InProcessTransport(sim, ip), base_url="http://sim", timeout=5.0
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def meta(client: httpx.AsyncClient) -> Any:
    response = await client.post("/info", json=META)
    assert response.status_code == 200, response.text
    return response.json()


# -- shapes ---------------------------------------------------------------------------------------


async def test_the_top_level_shape_equals_the_mainnet_capture(client_on):
    body = await meta(client_on(small_sim()))
    real = capture(MAINNET)
    assert json_type(body) == "list"
    assert len(body) == 2
    assert types_of(body[0]) == types_of(real[0])


async def test_universe_entries_have_the_captures_keys_and_types(client_on):
    body = await meta(client_on(small_sim()))
    real_listed = capture(MAINNET)[0]["universe"][0]
    real_delisted = capture(MAINNET)[0]["universe"][3]
    listed = [u for u in body[0]["universe"] if "isDelisted" not in u]
    delisted = [u for u in body[0]["universe"] if "isDelisted" in u]
    assert listed
    assert delisted
    assert all(types_of(u) == types_of(real_listed) for u in listed)
    assert all(types_of(u) == types_of(real_delisted) for u in delisted)


async def test_asset_contexts_have_the_captures_keys_and_types(client_on):
    body = await meta(client_on(small_sim()))
    for real in (capture(MAINNET), capture(TESTNET)):
        live_real = types_of(real[1][0])
        dead_real = types_of(real[1][-1])
        for entry, ctx in zip(body[0]["universe"], body[1], strict=True):
            expected = dead_real if entry.get("isDelisted") else live_real
            assert types_of(ctx) == expected, entry["name"]
            assert list(ctx) == list(real[1][0])  # Hyperliquid's key order


async def test_a_ws_push_has_the_captures_keys_and_types_plus_day_base_volume(nursery):
    sim = small_sim()
    url = await served(nursery, sim)
    async with ws_connection(url) as ws:
        await ws.send_message(subscribe("BTC"))
        await ws.get_message()  # the ack
        push = json.loads(await ws.get_message())
    real = capture(WS_PUSH)
    assert types_of(push) == types_of(real)
    assert types_of(push["data"]) == types_of(real["data"])
    ctx_types = types_of(push["data"]["ctx"])
    assert set(ctx_types) - set(real["data"]["ctx"]) == {"dayBaseVlm"}  # newer captures have it
    assert {k: ctx_types[k] for k in real["data"]["ctx"]} == types_of(real["data"]["ctx"])


async def test_the_market_has_btc_eth_a_bundle_and_delisted_assets(client_on):
    body = await meta(client_on(HyperliquidSim()))
    by_name = {u["name"]: c for u, c in zip(body[0]["universe"], body[1], strict=True)}
    assert 78_000 < float(by_name["BTC"]["markPx"]) < 88_000
    assert 2_800 < float(by_name["ETH"]["markPx"]) < 3_200
    assert "kPEPE" in by_name
    assert len(body[0]["universe"]) == 183
    delisted = [u["name"] for u in body[0]["universe"] if u.get("isDelisted")]
    assert delisted == ["MATIC", "FTM", "RNDR"]
    assert by_name["MATIC"]["openInterest"] == "0.0"


async def test_oi_and_mark_walk_on_trios_clock_and_repeat_with_the_seed(client_on, autojump_clock):
    first = client_on(small_sim(seed=3))
    second = client_on(small_sim(seed=3))
    before = (await meta(first))[1][0]
    await trio.sleep(30)
    after = (await meta(first))[1][0]
    assert after["openInterest"] != before["openInterest"]
    assert after["markPx"] != before["markPx"]
    assert (await meta(second))[1][0] == after


# -- limits and refusals --------------------------------------------------------------------------


async def test_1200_weight_a_minute_then_429_with_no_retry_after(client_on, autojump_clock):
    sim = small_sim()
    client = client_on(sim)
    await trio.sleep(0.001)  # start inside a minute: sixty calls fit it
    for _ in range(60):
        assert (await client.post("/info", json=META)).status_code == 200
    refused = await client.post("/info", json=META)
    assert refused.status_code == 429
    assert refused.content == b"null"
    assert "retry-after" not in refused.headers
    assert sim.stats.refused_rate == 1
    await trio.sleep(60)
    assert (await client.post("/info", json=META)).status_code == 200


async def test_the_limit_is_per_ip(client_on, autojump_clock):
    sim = small_sim()
    await trio.sleep(0.001)
    first, other = client_on(sim, "10.0.0.1"), client_on(sim, "10.0.0.2")
    for _ in range(60):
        await first.post("/info", json=META)
    assert (await first.post("/info", json=META)).status_code == 429
    assert (await other.post("/info", json=META)).status_code == 200


async def test_bad_requests_get_axums_plain_text_refusals(client_on):
    client = client_on(small_sim())
    unknown = await client.post("/info", json={"type": "nope"})
    assert unknown.status_code == 422
    assert unknown.text.startswith("Failed to deserialize the JSON body")
    not_json = await client.post("/info", content=b"{")
    assert not_json.status_code == 400
    assert (await client.get("/info")).status_code == 405
    assert (await client.post("/exchange", json=META)).status_code == 404


async def test_the_rate_limit_route_refuses_everything_for_n_seconds(client_on, autojump_clock):
    sim = small_sim()
    client = client_on(sim)
    assert (await client.post("/_sim/rate-limit", json={"seconds": 10})).status_code == 200
    assert (await client.post("/info", json=META)).status_code == 429
    await trio.sleep(10)
    assert (await client.post("/info", json=META)).status_code == 200


# -- faults and control ---------------------------------------------------------------------------


async def test_server_errors_cost_no_weight_and_are_counted(client_on):
    sim = small_sim()
    client = client_on(sim)
    sim.set_faults(Faults(error_rate=1.0))
    for _ in range(70):
        assert (await client.post("/info", json=META)).status_code >= 500
    sim.set_faults(Faults())
    assert (await client.post("/info", json=META)).status_code == 200
    stats = (await client.get("/_sim/stats")).json()
    assert stats["errors_5xx"] == 70
    assert stats["requests"] == 71


async def test_malformed_bodies_are_cut_short(client_on):
    sim = small_sim()
    client = client_on(sim)
    response = await client.post("/_sim/faults", json={"malformed_rate": 1.0})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads((await client.post("/info", json=META)).content)


async def test_a_hanging_request_times_out_on_the_clients_read_timeout(client_on, autojump_clock):
    sim = small_sim()
    sim.set_faults(Faults(hang_rate=1.0))
    with pytest.raises(httpx.ReadTimeout):
        await client_on(sim).post("/info", json=META)


async def test_bad_control_bodies_are_400(client_on):
    client = client_on(small_sim())
    assert (await client.post("/_sim/faults", json={"error_rate": 2})).status_code == 400
    assert (await client.post("/_sim/silence", json={})).status_code == 400


# -- WebSocket rules, framework-free -------------------------------------------------------------


async def test_unsubscribe_is_acked_and_a_second_subscribe_is_an_error():
    sim = small_sim()
    session = WsSession(sim, "10.0.0.1")
    replies, keep = session.command(subscribe("BTC"), 0)
    assert keep
    assert len(replies) == 2  # the ack, then the current context
    again, _ = session.command(subscribe("BTC"), 0)
    assert json.loads(again[0])["channel"] == "error"
    (ack,), _ = session.command(subscribe("BTC", "unsubscribe"), 0)
    assert json.loads(ack)["data"]["method"] == "unsubscribe"
    assert session.coins == []


async def test_subscriptions_are_limited_per_ip_across_connections():
    sim = HyperliquidSim(HyperliquidSimSettings(perps=200))
    names = [c.name for c in sim.coins if not c.delisted]
    first, second = WsSession(sim, "10.0.0.9"), WsSession(sim, "10.0.0.9")
    for _ in range(MAX_SUBSCRIPTIONS_PER_IP // len(names)):
        for name in names:
            first.command(subscribe(name), 0)
        first.coins.clear()  # as if a new connection: the IP's count stays
    for name in names[: MAX_SUBSCRIPTIONS_PER_IP % len(names)]:
        second.command(subscribe(name), 0)
    (refused,), keep = second.command(subscribe(names[-1]), 0)
    assert keep
    assert "1000 total subscriptions" in json.loads(refused)["data"]


async def test_only_subscribed_coins_that_changed_this_second_are_pushed():
    sim = small_sim()
    session = WsSession(sim, "10.0.0.1")
    for name in ("BTC", "ALT025"):
        session.command(subscribe(name), 0)
    start = sim.clock.start_epoch_ms
    pushed = [
        [json.loads(f)["data"]["coin"] for f in session.pushes(start + s * 1000)]
        for s in range(1, 7)
    ]
    assert all("BTC" in p for p in pushed)
    assert sum("ALT025" in p for p in pushed) == 2  # every 3 s


# -- the idle close, through quart's in-memory test client under autojump_clock ---------------


async def test_a_connection_the_server_sent_nothing_for_60_s_is_closed(autojump_clock):
    app = create_app(small_sim())
    async with app.test_client().websocket(WS_PATH) as ws:
        await ws.send('{"method":"ping"}')
        assert json.loads(await ws.receive()) == {"channel": "pong"}
        start = trio.current_time()
        with pytest.raises(WebsocketDisconnectError):
            await ws.receive()
        assert trio.current_time() - start == pytest.approx(60, abs=1)


async def test_pings_keep_a_connection_without_subscriptions_open(autojump_clock):
    app = create_app(small_sim())
    async with app.test_client().websocket(WS_PATH) as ws:
        for _ in range(6):
            await trio.sleep(30)
            await ws.send('{"method":"ping"}')
            assert json.loads(await ws.receive()) == {"channel": "pong"}


# -- WebSocket over loopback ----------------------------------------------------------------------


async def served(nursery: trio.Nursery, sim: HyperliquidSim) -> str:
    binds = await nursery.start(serve, sim)
    return str(binds[0]).replace("http://", "ws://") + WS_PATH


def ws_connection(url: str) -> AbstractAsyncContextManager[Any]:
    """The client's own opener: it closes its socket on every path."""
    return open_ws(url, connect_timeout=3, disconnect_timeout=1)


async def drain(ws: Any) -> None:
    """Read until the connection closes (raises `ConnectionClosed`)."""
    while True:
        await ws.get_message()


def subscribe(coin: str, method: str = "subscribe") -> str:
    return json.dumps({"method": method, "subscription": {"type": "activeAssetCtx", "coin": coin}})


async def test_subscribe_is_acked_then_the_current_context_then_pushes_each_second(nursery):
    sim = small_sim()
    url = await served(nursery, sim)
    async with ws_connection(url) as ws:
        await ws.send_message(subscribe("BTC"))
        ack = json.loads(await ws.get_message())
        assert ack == {
            "channel": "subscriptionResponse",
            "data": {
                "method": "subscribe",
                "subscription": {"type": "activeAssetCtx", "coin": "BTC"},
            },
        }
        first = json.loads(await ws.get_message())
        assert first["channel"] == "activeAssetCtx"
        assert first["data"]["coin"] == "BTC"
        with trio.fail_after(2.5):
            pushed = json.loads(await ws.get_message())
        assert pushed["data"]["coin"] == "BTC"
    assert sim.stats.ws_connections_opened == 1


async def test_ping_is_answered_with_pong_and_bad_subscriptions_with_errors(nursery):
    url = await served(nursery, small_sim())
    async with ws_connection(url) as ws:
        await ws.send_message('{"method":"ping"}')
        assert json.loads(await ws.get_message()) == {"channel": "pong"}
        await ws.send_message(subscribe("NOPE"))
        error = json.loads(await ws.get_message())
        assert error["channel"] == "error"
        assert error["data"].startswith("Invalid subscription")


async def test_silence_keeps_the_connection_open_but_sends_nothing(nursery):
    sim = small_sim()
    url = await served(nursery, sim)
    async with ws_connection(url) as ws:
        await ws.send_message(subscribe("BTC"))
        await ws.get_message()
        await ws.get_message()
        sim.silence(1.6)
        with trio.move_on_after(1.2) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught
        with trio.fail_after(2.0):
            assert json.loads(await ws.get_message())["channel"] == "activeAssetCtx"


async def test_drop_websockets_closes_open_connections(nursery):
    sim = small_sim()
    url = await served(nursery, sim)
    async with ws_connection(url) as ws:
        await ws.send_message(subscribe("ETH"))
        await ws.get_message()
        async with httpx.AsyncClient() as http:
            base = url.replace("ws://", "http://").removesuffix(WS_PATH)
            assert (await http.post(f"{base}/_sim/drop-websockets")).status_code == 200
        with trio.fail_after(3), pytest.raises(ConnectionClosed):
            await drain(ws)


async def test_ws_down_refuses_the_handshake(nursery):
    sim = small_sim()
    sim.set_faults(Faults(ws_down=True))
    url = await served(nursery, sim)
    # The client's own opener (trio-websocket's would leak the refused socket); its nursery
    # reports the refusal as a group.
    with pytest.RaisesGroup(HandshakeError, flatten_subgroups=True):
        async with open_ws(url, connect_timeout=3, disconnect_timeout=1):
            pass


async def test_too_many_client_messages_close_the_connection(nursery):
    sim = small_sim()
    url = await served(nursery, sim)
    async with ws_connection(url) as ws:
        for _ in range(2001):
            await ws.send_message('{"method":"ping"}')
        with trio.fail_after(5), pytest.raises(ConnectionClosed):
            await drain(ws)
