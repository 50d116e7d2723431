"""`BybitClient` against the Bybit simulator: the universe filtered, every ticker in one call,
refusals held, faults retried, and the `tickers` stream merged into full readings.

Rules: REST goes through the in-process transport under `autojump_clock` (holds, backoff and
read timeouts cost simulated seconds); the stream's protocol is specified with a scripted
in-memory connection under `autojump_clock`, and end to end against the simulator served on
127.0.0.1:<free port> on the real clock (short tests, each under a `fail_after`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.sim.bybit import WS_PATH, BybitSim, serve
from volspike_oi.sim.faults import Faults
from volspike_oi.sim.transport import InProcessTransport
from volspike_oi.venues.bybit.client import (
    ATTEMPTS,
    BAN_HOLD_S,
    PING_INTERVAL_S,
    WINDOW_HOLD_S,
    BybitClient,
)
from volspike_oi.venues.bybit.stream import MAX_ARGS_CHARS, SUBSCRIBE_BATCH, connection_groups
from volspike_oi.venues.errors import (
    VenueDecodeError,
    VenueRateLimited,
    VenueStreamDropped,
    VenueUnavailable,
)
from volspike_oi.venues.model import Instrument, VenueClient, VenueReading

START_MS = 1_791_360_000_000
LEFT_OUT = {"BTCPERP", "ETHPERP", "BTCUSDT-26MAR27", "NEWCOINUSDT"}


@asynccontextmanager
async def client_on(sim: BybitSim, **kw: Any) -> AsyncIterator[BybitClient]:
    async with httpx.AsyncClient(transport=InProcessTransport(sim)) as http:
        yield BybitClient(http, "http://sim", "ws://unused", **kw)


def test_the_client_is_a_venue_client() -> None:
    def accepts(client: VenueClient) -> str:
        return client.venue

    client = BybitClient(httpx.AsyncClient(), "http://x", "ws://x")
    assert accepts(client) == "bybit"
    assert client.stale_after_s > PING_INTERVAL_S
    assert client.fallback_interval_s > 0


# -- REST ------------------------------------------------------------------------------------


async def test_instruments_are_the_trading_usdt_perpetuals() -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=30)
    async with client_on(sim) as client:
        instruments = await client.instruments()
    assert len(instruments) == 30
    assert not LEFT_OUT & set(instruments)
    assert instruments["BTCUSDT"] == Instrument("BTCUSDT", "BTC", "linear", Decimal(1))
    assert instruments["1000PEPEUSDT"] == Instrument(
        "1000PEPEUSDT", "PEPE", "linear", Decimal(1000)
    )


async def test_instruments_follow_the_cursor_over_pages() -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=1100)
    async with client_on(sim) as client:
        instruments = await client.instruments()
    assert len(instruments) == 1100
    assert sim.stats.by_path["/v5/market/instruments-info"] == 2


async def test_a_snapshot_reads_every_instrument_in_one_call() -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=30)
    async with client_on(sim) as client:
        instruments = await client.instruments()
        readings = {r.symbol: r for r in await client.snapshot(instruments)}
    assert set(readings) == set(instruments)
    assert sim.stats.by_path["/v5/market/tickers"] == 1
    btc = readings["BTCUSDT"]
    row = sim.ticker_data("BTCUSDT", sim.clock.now_ms())
    assert row is not None
    assert btc.contracts == btc.coin == Decimal(row["singleOpenInterest"])  # one side
    assert btc.mark_price == Decimal(row["markPrice"])
    assert btc.exchange_time_ms is not None
    assert START_MS <= btc.exchange_time_ms <= sim.clock.now_ms()
    pepe = readings["1000PEPEUSDT"]
    assert pepe.coin == pepe.contracts * 1000


async def test_a_bad_row_is_left_out_and_logged_once_and_untracked_rows_are_not_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "category": "linear",
            "list": [
                {"symbol": "PREUSDT", "openInterest": "", "markPrice": ""},
                {"openInterest": "1"},
                "not a row",
                {"symbol": "BADUSDT", "openInterest": 5, "markPrice": "1"},
                {"symbol": "BTCUSDT", "openInterest": "10", "markPrice": "83000"},
            ],
        },
        "time": 1,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    tracked = {
        s: Instrument(s, s.removesuffix("USDT"), "linear", Decimal(1))
        for s in ("BTCUSDT", "BADUSDT")
    }
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = BybitClient(http, "http://sim", "ws://x")
        first = await client.snapshot(tracked)
        second = await client.snapshot(tracked)
    assert [r.symbol for r in first] == [r.symbol for r in second] == ["BTCUSDT"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "BADUSDT" in warnings[0]
    assert "tickers.result.list[symbol=BADUSDT].openInterest" in warnings[0]


async def test_an_ip_ban_holds_every_request_for_ten_minutes(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=10)
    async with client_on(sim) as client:
        instruments = await client.instruments()
        sim.rate_limit(BAN_HOLD_S)
        with pytest.raises(VenueRateLimited) as refused:
            await client.snapshot(instruments)
        assert refused.value.hold_until >= trio.current_time() + BAN_HOLD_S - 1
        assert client.limiter.held(trio.current_time())
        sent = sim.stats.requests
        with pytest.raises(VenueRateLimited):
            await client.snapshot(instruments)
        assert sim.stats.requests == sent  # nothing sent while held
        await trio.sleep_until(refused.value.hold_until)
        assert len(await client.snapshot(instruments)) == 10


async def test_too_many_visits_holds_one_window(autojump_clock: trio.abc.Clock) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=10)
    async with client_on(sim) as client:
        sim.rate_limit(1, kind="retcode")
        with pytest.raises(VenueRateLimited, match="10006"):
            await client.instruments()
        assert client.limiter.held_until == pytest.approx(trio.current_time() + WINDOW_HOLD_S)


async def test_the_client_itself_stays_inside_the_ip_limit(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=5)
    async with client_on(sim, limiter=RateLimiter(rate=600, period_s=5, burst=10)) as client:
        instruments = await client.instruments()
        for _ in range(700):  # more than one window's 600
            await client.snapshot(instruments)
    assert sim.stats.refused_for_rate == 0


@pytest.mark.parametrize(
    "faults", [Faults(error_rate=1.0), Faults(malformed_rate=1.0), Faults(hang_rate=1.0)]
)
async def test_server_faults_are_retried_then_unavailable(
    autojump_clock: trio.abc.Clock, faults: Faults
) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=5)
    sim.set_faults(faults)
    async with client_on(sim) as client:
        with pytest.raises(VenueUnavailable):
            await client.instruments()
    assert sim.stats.requests == ATTEMPTS


async def test_a_5xx_then_a_good_answer_succeeds(autojump_clock: trio.abc.Clock) -> None:
    answers = iter([httpx.Response(502, text="bad gateway")])
    sim = BybitSim(start_ms=START_MS, perpetuals=5)

    def handler(request: httpx.Request) -> httpx.Response:
        first = next(answers, None)
        if first is not None:
            return first
        answer = sim.handle("GET", request.url.path, dict(request.url.params))
        return httpx.Response(answer.status, content=answer.body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        assert len(await BybitClient(http, "http://sim", "ws://x").instruments()) == 5


async def test_json_of_another_shape_is_a_decode_error_naming_the_key() -> None:
    body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear"}, "time": 1}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = BybitClient(http, "http://sim", "ws://x")
        with pytest.raises(VenueDecodeError, match=r"tickers\.result\.list"):
            await client.snapshot({})


# -- the stream's protocol, scripted -----------------------------------------------------------


class ScriptedWs:
    """A connection whose server side the test writes: acks every subscribe at once (when
    `ack`), answers pings (when `pong`), and delivers what the test puts in `push`."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.push, self._incoming = trio.open_memory_channel[str](1000)
        self.ack = True
        self.pong = True
        self.invalid: set[str] = set()
        """Topics whose presence makes Bybit refuse the whole subscribe request."""

    async def send_message(self, text: str) -> None:
        doc = json.loads(text)
        self.sent.append(doc)
        reply = {"success": True, "ret_msg": "", "conn_id": "c", "req_id": doc.get("req_id", "")}
        bad = [a for a in doc.get("args", []) if a in self.invalid]
        if doc["op"] == "subscribe" and self.ack and bad:
            refusal = {**reply, "success": False, "ret_msg": f"Invalid symbol :[{bad[0]}]"}
            self.push.send_nowait(json.dumps({**refusal, "op": "subscribe"}))
        elif doc["op"] == "subscribe" and self.ack:
            self.push.send_nowait(json.dumps({**reply, "op": "subscribe"}))
        if doc["op"] == "ping" and self.pong:
            self.push.send_nowait(json.dumps({**reply, "ret_msg": "pong", "op": "ping"}))

    async def get_message(self) -> str:
        return await self._incoming.receive()


def scripted(ws: ScriptedWs) -> Callable[[str], Any]:
    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[ScriptedWs]:
        yield ws

    return connect


BTC = {"BTCUSDT": Instrument("BTCUSDT", "BTC", "linear", Decimal(1))}


def ticker(kind: str, ts: int, **data: str) -> str:
    return json.dumps(
        {"topic": "tickers.BTCUSDT", "type": kind, "data": {"symbol": "BTCUSDT", **data}, "ts": ts}
    )


async def test_a_delta_is_merged_into_the_last_snapshot(autojump_clock: trio.abc.Clock) -> None:
    ws = ScriptedWs()
    client = BybitClient(httpx.AsyncClient(), "http://x", "ws://x", connect_ws=scripted(ws))
    send, receive = trio.open_memory_channel[VenueReading](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.stream, BTC, send)
        ws.push.send_nowait(
            ticker(
                "snapshot",
                1,
                openInterest="104000.000",
                singleOpenInterest="52000.000",
                markPrice="83000.00",
            )
        )
        ws.push.send_nowait(ticker("delta", 2, markPrice="83100.00"))
        ws.push.send_nowait(ticker("delta", 3, singleOpenInterest="52010.000"))
        first, second, third = [await receive.receive() for _ in range(3)]
        nursery.cancel_scope.cancel()
    assert (first.contracts, first.mark_price) == (Decimal("52000.000"), Decimal("83000.00"))
    assert (second.contracts, second.mark_price) == (Decimal("52000.000"), Decimal("83100.00"))
    assert (third.contracts, third.mark_price) == (Decimal("52010.000"), Decimal("83100.00"))
    assert third.exchange_time_ms == 3


async def test_subscriptions_go_in_batches_and_started_waits_for_every_ack(
    autojump_clock: trio.abc.Clock,
) -> None:
    ws = ScriptedWs()
    instruments = {
        f"S{i:02d}USDT": Instrument(f"S{i:02d}USDT", f"S{i:02d}", "linear", Decimal(1))
        for i in range(25)
    }
    client = BybitClient(httpx.AsyncClient(), "http://x", "ws://x", connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.stream, instruments, send)
        nursery.cancel_scope.cancel()
    batches = [m["args"] for m in ws.sent if m["op"] == "subscribe"]
    assert [len(b) for b in batches] == [SUBSCRIBE_BATCH, SUBSCRIBE_BATCH, 5]
    assert sorted(a for b in batches for a in b) == sorted(f"tickers.{s}" for s in instruments)


async def test_a_refused_batch_is_resubscribed_topic_by_topic_without_the_bad_one(
    autojump_clock: trio.abc.Clock,
) -> None:
    ws = ScriptedWs()
    ws.invalid = {"tickers.S03USDT"}
    instruments = {
        f"S{i:02d}USDT": Instrument(f"S{i:02d}USDT", f"S{i:02d}", "linear", Decimal(1))
        for i in range(SUBSCRIBE_BATCH)
    }
    client = BybitClient(httpx.AsyncClient(), "http://x", "ws://x", connect_ws=scripted(ws))
    send, receive = trio.open_memory_channel[VenueReading](10)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(1):
            await nursery.start(client.stream, instruments, send)
        push = {
            "topic": "tickers.S07USDT",
            "type": "snapshot",
            "data": {"symbol": "S07USDT", "openInterest": "10", "markPrice": "2"},
            "ts": 5,
        }
        ws.push.send_nowait(json.dumps(push))
        reading = await receive.receive()
        nursery.cancel_scope.cancel()
    batches = [m["args"] for m in ws.sent if m["op"] == "subscribe"]
    assert len(batches[0]) == SUBSCRIBE_BATCH
    singles = batches[1:]
    assert all(len(b) == 1 for b in singles)
    assert sorted(b[0] for b in singles) == sorted(
        f"tickers.{s}" for s in instruments if s != "S03USDT"
    )
    assert reading.symbol == "S07USDT"


async def test_unacknowledged_subscriptions_drop_the_stream(
    autojump_clock: trio.abc.Clock,
) -> None:
    ws = ScriptedWs()
    ws.ack = False
    client = BybitClient(httpx.AsyncClient(), "http://x", "ws://x", connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    with pytest.raises(VenueStreamDropped, match="not acknowledged"):
        await client.stream(BTC, send)


async def test_pings_keep_a_quiet_stream_alive_until_pongs_stop(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    ws = ScriptedWs()
    client = BybitClient(httpx.AsyncClient(), "http://x", "ws://x", connect_ws=scripted(ws))
    send, _receive = trio.open_memory_channel[VenueReading](10)
    pings_while_answered: list[int] = []

    async def stop_answering() -> None:
        await trio.sleep(10 * PING_INTERVAL_S + 1)
        pings_while_answered.append(len([m for m in ws.sent if m["op"] == "ping"]))
        ws.pong = False

    nursery.start_soon(stop_answering)
    with pytest.raises(VenueStreamDropped, match="silent"):
        await client.stream(BTC, send)
    assert pings_while_answered == [10]  # one every 20 s, each answered: no drop
    # The last pong came at 200 s; nothing for stale_after_s after it is a drop.
    assert trio.current_time() == pytest.approx(10 * PING_INTERVAL_S + client.stale_after_s)


def test_a_universe_too_long_for_one_connection_is_split() -> None:
    topics = [f"tickers.{i:06d}ABCDEFUSDT" for i in range(1000)]  # 27,000 characters
    groups = connection_groups(topics)
    assert len(groups) == 2
    assert [t for g in groups for t in g] == topics
    assert all(len(json.dumps(g)) <= MAX_ARGS_CHARS for g in groups)


# -- end to end against the served simulator (real clock) ---------------------------------


async def serve_sim(nursery: trio.Nursery, sim: BybitSim) -> tuple[str, str]:
    [base] = await nursery.start(serve, sim)
    return base, base.replace("http://", "ws://") + WS_PATH


async def test_the_stream_delivers_every_instrument_then_drops_when_the_venue_drops(
    nursery: trio.Nursery,
) -> None:
    sim = BybitSim(perpetuals=20)
    base, ws_url = await serve_sim(nursery, sim)
    async with httpx.AsyncClient() as http:
        client = BybitClient(http, base, ws_url)
        instruments = await client.instruments()
        send, receive = trio.open_memory_channel[VenueReading](1000)

        async def read_then_drop() -> None:
            seen: set[str] = set()
            while seen != set(instruments):  # a snapshot of each, then deltas
                seen.add((await receive.receive()).symbol)
            pushed = sim.stats.ws_messages_pushed
            await trio.sleep(0.5)
            assert sim.stats.ws_messages_pushed > pushed
            sim.drop_websockets()

        nursery.start_soon(read_then_drop)
        with trio.fail_after(10), pytest.raises(VenueStreamDropped, match="ConnectionClosed"):
            await client.stream(instruments, send)


async def test_a_silent_venue_drops_the_stream_after_stale_after_s(
    nursery: trio.Nursery,
) -> None:
    sim = BybitSim(perpetuals=5)
    base, ws_url = await serve_sim(nursery, sim)
    async with httpx.AsyncClient() as http:
        client = BybitClient(http, base, ws_url, stale_after_s=0.5)
        instruments = await client.instruments()
        send, receive = trio.open_memory_channel[VenueReading](1000)

        async def read_then_silence() -> None:
            await receive.receive()
            sim.silence(60)

        nursery.start_soon(read_then_silence)
        with trio.fail_after(10), pytest.raises(VenueStreamDropped, match="silent"):
            await client.stream(instruments, send)


async def test_a_venue_refusing_connections_drops_the_stream(nursery: trio.Nursery) -> None:
    sim = BybitSim(perpetuals=5)
    base, ws_url = await serve_sim(nursery, sim)
    async with httpx.AsyncClient() as http:
        client = BybitClient(http, base, ws_url)
        instruments = await client.instruments()
        sim.set_faults(Faults(ws_down=True))
        send, _receive = trio.open_memory_channel[VenueReading](10)
        with trio.fail_after(10), pytest.raises(VenueStreamDropped):
            await client.stream(instruments, send)


# -- open-interest history ---------------------------------------------------------------------


async def test_history_is_coin_oldest_first_from_since_and_ends_at_the_live_value(
    autojump_clock: trio.abc.Clock,
) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=10)
    await trio.sleep(2 * 3600)  # START_MS is a 5-minute boundary, so now is one too
    now_ms = START_MS + 2 * 3_600_000
    async with client_on(sim) as client:
        instruments = await client.instruments()
        points = await client.history(instruments["BTCUSDT"], now_ms - 3_600_000)
        (live,) = [r for r in await client.snapshot(instruments) if r.symbol == "BTCUSDT"]
        pepe = await client.history(instruments["1000PEPEUSDT"], now_ms - 600_000)
    times = [t for t, _ in points]
    assert times == [(now_ms - 3_600_000) / 1000 + 300 * k for k in range(13)]
    assert all(isinstance(coin, Decimal) for _, coin in points)
    assert points[-1][1] == live.coin  # the single side, as the live reading
    assert sim.stats.by_path["/v5/market/open-interest"] == 2  # one page each
    rows = json.loads(
        sim.handle(
            "GET",
            "/v5/market/open-interest",
            {"category": "linear", "symbol": "1000PEPEUSDT", "intervalTime": "5min"},
        ).body
    )["result"]["list"]
    assert pepe[-1][1] == Decimal(rows[0]["singleOpenInterest"]) * 1000


async def test_history_follows_the_cursor_past_one_page(autojump_clock: trio.abc.Clock) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=5)
    await trio.sleep(3600)
    since = START_MS + 3_600_000 - 20 * 3_600_000  # 241 points: two pages of 200
    async with client_on(sim) as client:
        instruments = await client.instruments()
        points = await client.history(instruments["BTCUSDT"], since)
    assert len(points) == 241
    assert points[0][0] == since / 1000
    assert sim.stats.by_path["/v5/market/open-interest"] == 2


async def test_history_is_refused_like_every_bybit_call(autojump_clock: trio.abc.Clock) -> None:
    sim = BybitSim(start_ms=START_MS, perpetuals=5)
    async with client_on(sim) as client:
        instruments = await client.instruments()
        sim.rate_limit(BAN_HOLD_S)
        with pytest.raises(VenueRateLimited):
            await client.history(instruments["BTCUSDT"], START_MS - 3_600_000)
        assert client.limiter.held(trio.current_time())
        await trio.sleep_until(client.limiter.held_until)
        assert len(await client.history(instruments["BTCUSDT"], START_MS - 3_600_000)) == 15
        with pytest.raises(VenueUnavailable, match="10001"):
            await client.history(
                Instrument("NOPEUSDT", "NOPE", "linear", Decimal(1)), START_MS - 3_600_000
            )
