"""`HyperliquidClient` against the simulator: REST in process under `autojump_clock`, the stream
over real loopback sockets (short tests on the real clock) or a scripted connection under
`autojump_clock` where only time matters (pings, pacing, staleness).

Rules: instruments leave delisted assets out; a snapshot is one fresh `metaAndAssetCtxs`; a 429
raises `VenueRateLimited` and nothing is sent while the limiter holds; 5xx, timeouts, cut bodies
and transport errors are retried, then `VenueUnavailable`; the stream reports started once every
subscription is acknowledged (or at the subscribe deadline), every push is a full reading, and a
drop or silence is `VenueStreamDropped`.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from volspike_oi.sim.faults import Faults
from volspike_oi.sim.hyperliquid import WS_PATH, HyperliquidSim, HyperliquidSimSettings, serve
from volspike_oi.sim.transport import InProcessTransport
from volspike_oi.venues.errors import (
    VenueDecodeError,
    VenueRateLimited,
    VenueStreamDropped,
    VenueUnavailable,
)
from volspike_oi.venues.hyperliquid import stream as hl_stream
from volspike_oi.venues.hyperliquid.client import (
    ATTEMPTS,
    FALLBACK_INTERVAL_S,
    REFUSAL_HOLD_S,
    STALE_AFTER_S,
    HyperliquidClient,
)
from volspike_oi.venues.model import Instrument, VenueClient, VenueReading

REST = "http://sim"
WS = "ws://sim/ws"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hyperliquid"
TESTNET = "hyperliquid_rest_info_metaAndAssetCtxs_TESTNET_TRIMMED-6-assets_2024-12-21.json"


@pytest.fixture
async def on_sim() -> AsyncIterator[Callable[..., tuple[HyperliquidSim, HyperliquidClient]]]:
    clients: list[httpx.AsyncClient] = []

    def make(**client_kwargs: Any) -> tuple[HyperliquidSim, HyperliquidClient]:
        sim = HyperliquidSim(HyperliquidSimSettings(perps=40))
        http = httpx.AsyncClient(transport=InProcessTransport(sim))
        clients.append(http)
        return sim, HyperliquidClient(http, REST, WS, **client_kwargs)

    yield make
    for http in clients:
        await http.aclose()


def test_the_client_is_a_venue_client():
    client: VenueClient = HyperliquidClient(httpx.AsyncClient(), REST, WS)
    assert client.venue == "hyperliquid"
    assert client.stale_after_s == STALE_AFTER_S
    assert client.fallback_interval_s == FALLBACK_INTERVAL_S


# -- REST -----------------------------------------------------------------------------------------


async def test_instruments_leave_delisted_assets_out_and_unbundle_kpepe(on_sim, autojump_clock):
    _, client = on_sim()
    instruments = await client.instruments()
    assert len(instruments) == 40
    assert not {"MATIC", "FTM", "RNDR"} & set(instruments)
    assert instruments["BTC"] == Instrument("BTC", "BTC", "linear", Decimal(1))
    assert instruments["kPEPE"] == Instrument("kPEPE", "PEPE", "linear", Decimal(1000))


async def test_a_snapshot_is_one_fresh_call_covering_every_instrument(on_sim, autojump_clock):
    sim, client = on_sim()
    instruments = await client.instruments()
    readings = await client.snapshot(instruments)
    assert sim.stats.requests == 2
    assert {r.symbol for r in readings} == set(instruments)
    btc = next(r for r in readings if r.symbol == "BTC")
    assert btc.mark_price is not None
    assert 78_000 < btc.mark_price < 88_000
    assert btc.coin == btc.contracts
    assert btc.usd == btc.contracts * btc.mark_price
    pepe = next(r for r in readings if r.symbol == "kPEPE")
    assert pepe.coin == pepe.contracts * 1000
    await trio.sleep(5)
    later = await client.snapshot(instruments)
    assert sim.stats.requests == 3
    assert next(r for r in later if r.symbol == "BTC").contracts != btc.contracts


async def test_instruments_reuse_a_recent_snapshots_body(on_sim, autojump_clock):
    sim, client = on_sim()
    await client.snapshot({})
    await client.instruments()
    assert sim.stats.requests == 1
    await trio.sleep(60)
    await client.instruments()
    assert sim.stats.requests == 2


async def test_a_429_raises_rate_limited_and_nothing_is_sent_while_held(on_sim, autojump_clock):
    sim, client = on_sim()
    sim.rate_limit(5)
    start = trio.current_time()
    with pytest.raises(VenueRateLimited) as refused:
        await client.snapshot({})
    assert refused.value.hold_until == pytest.approx(start + REFUSAL_HOLD_S)
    assert client.limiter.held(trio.current_time())
    assert sim.stats.requests == 1
    with pytest.raises(VenueRateLimited):
        await client.instruments()
    assert sim.stats.requests == 1
    await trio.sleep_until(refused.value.hold_until)
    assert len(await client.instruments()) == 40
    assert sim.stats.requests == 2


async def test_a_retry_after_header_sets_the_hold(autojump_clock):
    transport = httpx.MockTransport(lambda _: httpx.Response(429, headers={"Retry-After": "7"}))
    async with httpx.AsyncClient(transport=transport) as http:
        client = HyperliquidClient(http, REST, WS)
        with pytest.raises(VenueRateLimited) as refused:
            await client.instruments()
    assert refused.value.hold_until == pytest.approx(trio.current_time() + 7)


async def test_server_errors_are_retried_then_unavailable(on_sim, autojump_clock):
    sim, client = on_sim()
    sim.set_faults(Faults(error_rate=1.0))
    with pytest.raises(VenueUnavailable, match="HTTP 5"):
        await client.snapshot({})
    assert sim.stats.errors_5xx == ATTEMPTS


async def test_a_hanging_venue_times_out_and_is_unavailable(on_sim, autojump_clock):
    sim, client = on_sim()
    sim.set_faults(Faults(hang_rate=1.0))
    with pytest.raises(VenueUnavailable, match="timeout"):
        await client.snapshot({})


async def test_one_server_error_then_success_returns_the_snapshot(autojump_clock):
    body = (FIXTURES / TESTNET).read_bytes()
    answers = iter([httpx.Response(502), httpx.Response(200, content=body)])
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = HyperliquidClient(http, REST, WS)
        instruments = await client.instruments()
    assert seen == [{"type": "metaAndAssetCtxs"}] * 2
    assert sorted(instruments) == ["APT", "ATOM", "BTC", "ETH", "MATIC", "SOL"]


async def test_a_cut_body_is_retried_then_unavailable(on_sim, autojump_clock):
    sim, client = on_sim()
    sim.set_faults(Faults(malformed_rate=1.0))
    with pytest.raises(VenueUnavailable, match=f"after {ATTEMPTS} attempts"):
        await client.instruments()


async def test_a_cut_body_then_a_whole_one_returns_the_answer(autojump_clock):
    body = (FIXTURES / TESTNET).read_bytes()
    answers = iter(
        [httpx.Response(200, content=body[: len(body) // 2]), httpx.Response(200, content=body)]
    )
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = HyperliquidClient(http, REST, WS)
        instruments = await client.instruments()
    assert len(calls) == 2
    assert sorted(instruments) == ["APT", "ATOM", "BTC", "ETH", "MATIC", "SOL"]


async def test_json_of_another_shape_is_a_decode_error(autojump_clock):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"unexpected": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = HyperliquidClient(http, REST, WS)
        with pytest.raises(VenueDecodeError):
            await client.instruments()


async def test_snapshots_are_paced_by_the_limiter(on_sim, autojump_clock):
    _, client = on_sim()
    start = trio.current_time()
    for _ in range(20):
        await client.snapshot({})
    # 1200 weight a minute less 10 %: one weight-20 call per 1.11 s after a burst of three.
    assert trio.current_time() - start == pytest.approx(17 * 20 * 60 / (1200 * 0.9), abs=0.2)


# -- the stream on loopback -----------------------------------------------------------------------


async def streaming(
    nursery: trio.Nursery, sim: HyperliquidSim, coins: list[str], **kwargs: Any
) -> tuple[Outcome, trio.MemoryReceiveChannel[VenueReading], httpx.AsyncClient]:
    binds = await nursery.start(serve, sim)
    base = str(binds[0])
    http = httpx.AsyncClient()
    client = HyperliquidClient(http, base, base.replace("http://", "ws://") + WS_PATH, **kwargs)
    instruments = await client.instruments()
    send, receive = trio.open_memory_channel[VenueReading](1000)
    picked = {c: instruments[c] for c in coins}
    outcome = Outcome()
    await nursery.start(run_and_catch, client, picked, send, outcome)
    return outcome, receive, http


@attrs.define
class Outcome:
    """How the stream task ended."""

    error: BaseException | None = None


async def run_and_catch(
    client: HyperliquidClient,
    instruments: dict[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    outcome: Outcome,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await client.stream(instruments, send, task_status=task_status)
    except VenueStreamDropped as exc:
        outcome.error = exc
    finally:
        send.close()


async def test_the_stream_subscribes_and_sends_full_readings_per_push(nursery):
    sim = HyperliquidSim(HyperliquidSimSettings(perps=30))
    _, receive, http = await streaming(nursery, sim, ["BTC", "ETH", "kPEPE"])
    async with aclosing(http):
        seen: dict[str, list[VenueReading]] = {}
        with trio.fail_after(5):
            while len(seen.get("BTC", [])) < 2 or {"ETH", "kPEPE"} - set(seen):
                reading = await receive.receive()
                seen.setdefault(reading.symbol, []).append(reading)
    btc = seen["BTC"]
    assert all(r.mark_price is not None and r.coin == r.contracts for r in btc)
    assert len({(r.contracts, r.mark_price) for r in btc}) > 1  # each push is the new state
    assert seen["kPEPE"][0].coin == seen["kPEPE"][0].contracts * 1000
    assert sim.stats.ws_connections_opened == 1


async def test_a_dropped_connection_raises_stream_dropped(nursery):
    sim = HyperliquidSim(HyperliquidSimSettings(perps=30))
    outcome, receive, http = await streaming(nursery, sim, ["BTC"])
    async with aclosing(http):
        await receive.receive()
        sim.drop_websockets()
        with trio.fail_after(4):
            async for _ in receive:
                pass
    assert isinstance(outcome.error, VenueStreamDropped)


async def test_silence_beyond_stale_after_raises_stream_dropped(nursery):
    sim = HyperliquidSim(HyperliquidSimSettings(perps=30))
    outcome, receive, http = await streaming(nursery, sim, ["BTC"], stale_after_s=1.0)
    async with aclosing(http):
        await receive.receive()
        sim.silence(10)
        started = trio.current_time()
        with trio.fail_after(4):
            async for _ in receive:
                pass
    assert isinstance(outcome.error, VenueStreamDropped)
    assert "no message for 1 s" in str(outcome.error)
    assert trio.current_time() - started < 3


async def test_a_refused_handshake_raises_stream_dropped(nursery):
    sim = HyperliquidSim(HyperliquidSimSettings(perps=30))
    binds = await nursery.start(serve, sim)
    sim.set_faults(Faults(ws_down=True))
    async with httpx.AsyncClient() as http:
        client = HyperliquidClient(
            http, str(binds[0]), str(binds[0]).replace("http", "ws") + WS_PATH
        )
        instruments = {"BTC": Instrument("BTC", "BTC", "linear", Decimal(1))}
        send, _receive = trio.open_memory_channel[VenueReading](10)
        with trio.fail_after(5), pytest.raises(VenueStreamDropped, match="ConnectionRejected"):
            await client.stream(instruments, send)


# -- the stream's timing, scripted under autojump_clock ------------------------------------------


@attrs.define
class ScriptedWs:
    """Acks subscriptions and answers pings (unless told not to); never pushes data."""

    answer_pings: bool = True
    refuse: frozenset[str] = frozenset()
    """Coins whose subscription is answered with an error."""
    over_limit: frozenset[str] = frozenset()
    """Coins whose subscription is answered with an error that names no coin."""
    sent: list[tuple[float, dict[str, Any]]] = attrs.Factory(list)
    inbox: tuple[trio.MemorySendChannel[str], trio.MemoryReceiveChannel[str]] = attrs.Factory(
        lambda: trio.open_memory_channel[str](math.inf)
    )

    async def get_message(self) -> str:
        return await self.inbox[1].receive()

    async def send_message(self, message: str) -> None:
        msg = json.loads(message)
        self.sent.append((trio.current_time(), msg))
        if msg["method"] == "subscribe" and msg["subscription"]["coin"] in self.refuse:
            error = {"channel": "error", "data": f"Invalid subscription {json.dumps(msg)}"}
            self.inbox[0].send_nowait(json.dumps(error))
        elif msg["method"] == "subscribe" and msg["subscription"]["coin"] in self.over_limit:
            error = {"channel": "error", "data": "Cannot track more than 1000 total subscriptions"}
            self.inbox[0].send_nowait(json.dumps(error))
        elif msg["method"] == "subscribe":
            ack = {"channel": "subscriptionResponse", "data": msg}
            self.inbox[0].send_nowait(json.dumps(ack))
        elif msg["method"] == "ping" and self.answer_pings:
            self.inbox[0].send_nowait('{"channel":"pong"}')


def scripted(ws: ScriptedWs) -> Callable[..., Any]:
    @asynccontextmanager
    async def connect(url: str, **_: Any) -> AsyncIterator[ScriptedWs]:
        yield ws

    return connect


def coins(n: int) -> dict[str, Instrument]:
    return {
        f"C{i:03d}": Instrument(f"C{i:03d}", f"C{i:03d}", "linear", Decimal(1)) for i in range(n)
    }


async def test_pongs_keep_a_quiet_stream_alive(nursery, autojump_clock):
    ws = ScriptedWs()
    client = HyperliquidClient(httpx.AsyncClient(), REST, WS, connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    with trio.move_on_after(305):
        await client.stream(coins(2), send)
    pings = [t for t, m in ws.sent if m["method"] == "ping"]
    assert len(pings) == 30
    assert pings[0] == pytest.approx(hl_stream.PING_INTERVAL_S, abs=0.1)


async def test_without_pongs_the_stream_is_stale_after_stale_after_s(autojump_clock):
    ws = ScriptedWs(answer_pings=False)
    client = HyperliquidClient(httpx.AsyncClient(), REST, WS, connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    start = trio.current_time()
    with pytest.raises(VenueStreamDropped, match="no message for 25 s"):
        await client.stream(coins(1), send)
    # The last ack arrived at once; silence from then on.
    assert trio.current_time() - start == pytest.approx(STALE_AFTER_S, abs=0.1)


async def test_subscriptions_are_paced_and_started_waits_for_every_ack(nursery, autojump_clock):
    ws = ScriptedWs()
    client = HyperliquidClient(httpx.AsyncClient(), REST, WS, connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    start = trio.current_time()
    await nursery.start(client.stream, coins(200), send)
    took = trio.current_time() - start
    subs = [t - start for t, m in ws.sent if m["method"] == "subscribe"]
    assert len(subs) == 200
    # 30 at once, then 30 a second: never more than 60 in any second.
    assert took == pytest.approx((200 - 30) / 30, abs=0.1)
    assert all(sum(1 for s in subs if t <= s < t + 1) <= 60 for t in subs)
    nursery.cancel_scope.cancel()


async def test_a_refused_subscription_does_not_hold_back_started(nursery, autojump_clock):
    ws = ScriptedWs(refuse=frozenset({"C001"}))
    client = HyperliquidClient(httpx.AsyncClient(), REST, WS, connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    with trio.fail_after(1):
        await nursery.start(client.stream, coins(3), send)
    nursery.cancel_scope.cancel()


async def test_an_error_naming_no_coin_reports_started_at_the_subscribe_deadline(
    nursery, autojump_clock
):
    ws = ScriptedWs(over_limit=frozenset({"C001"}))
    client = HyperliquidClient(httpx.AsyncClient(), REST, WS, connect_ws=scripted(ws))
    send, receive = trio.open_memory_channel[VenueReading](10)
    start = trio.current_time()
    with trio.fail_after(STALE_AFTER_S - 1):
        await nursery.start(client.stream, coins(3), send)
    assert trio.current_time() - start == pytest.approx(hl_stream.SUBSCRIBE_TIMEOUT_S, abs=0.1)
    # The acknowledged coins keep streaming.
    push = {
        "channel": "activeAssetCtx",
        "data": {
            "coin": "C000",
            "ctx": {"openInterest": "12.5", "markPx": "2.0", "oraclePx": "2.0", "funding": "0"},
        },
    }
    ws.inbox[0].send_nowait(json.dumps(push))
    with trio.fail_after(1):
        reading = await receive.receive()
    assert reading.symbol == "C000"
    nursery.cancel_scope.cancel()
