"""`OkxClient`: USDT-linear swaps only, all of OKX's open interest in two calls, OKX's refusals
mapped to the venue error family, and the WebSocket stream.

REST runs against the simulator's in-process transport under `autojump_clock` (limiter waits,
holds, retries and timeouts all take simulated time), or an `httpx.MockTransport` when a test
needs one exact answer. The stream runs against the simulator served on loopback with the real
clock and short timings, each test well under two seconds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from volspike_oi.sim.faults import Faults
from volspike_oi.sim.okx import WS_PATH, OkxSim, OkxSimSettings, serve
from volspike_oi.sim.transport import InProcessTransport
from volspike_oi.venues.errors import (
    VenueDecodeError,
    VenueRateLimited,
    VenueStreamDropped,
    VenueUnavailable,
)
from volspike_oi.venues.model import Instrument, VenueClient, VenueReading
from volspike_oi.venues.okx.client import (
    FIRST_HOLD_S,
    HISTORY_PATH,
    OPEN_INTEREST_PATH,
    OkxClient,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "okx"
START_MS = 1_780_000_000_000
OUTSIDE = {"BTC-USD-SWAP", "ETH-USD-SWAP", "BTC-USDC-SWAP", "LUNA-USDT-SWAP", "NEWCOIN-USDT-SWAP"}


def make_sim(**overrides: Any) -> OkxSim:
    return OkxSim(OkxSimSettings(start_ms=START_MS, **overrides))


@asynccontextmanager
async def client_on(sim: OkxSim, **kwargs: Any) -> AsyncIterator[OkxClient]:
    async with httpx.AsyncClient(transport=InProcessTransport(sim)) as http:
        yield OkxClient(http, "http://okx.sim", "ws://okx.sim" + WS_PATH, **kwargs)


@asynccontextmanager
async def client_answering(body: Any, status: int = 200) -> AsyncIterator[OkxClient]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        yield OkxClient(http, "http://okx.test", "ws://okx.test" + WS_PATH)


def test_the_client_is_a_venue_client() -> None:
    client: VenueClient = OkxClient(httpx.AsyncClient(), "http://x", "ws://x")
    assert client.venue == "okx"
    assert client.stale_after_s == 25.0
    assert client.fallback_interval_s == 3.0


async def test_instruments_keep_live_usdt_linear_swaps_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    async with client_on(sim) as client:
        instruments = await client.instruments()
    assert not OUTSIDE & set(instruments)
    assert len(instruments) == len(sim.market.catalog) - len(OUTSIDE)
    assert instruments["BTC-USDT-SWAP"] == Instrument(
        "BTC-USDT-SWAP", "BTC", "linear", Decimal("0.01")
    )
    assert instruments["PEPE-USDT-SWAP"].coin_per_contract == 10_000_000
    assert instruments["PEPE-USDT-SWAP"].asset == "PEPE"


async def test_instruments_from_the_real_listing_drop_the_coin_margined_swaps() -> None:
    body = json.loads(
        (FIXTURES / "okx_rest_public_instruments_instType-SWAP_FULL_2022-05-13.json").read_text()
    )
    async with client_answering(body) as client:
        instruments = await client.instruments()
    assert len(instruments) == 126
    assert "BTC-USD-SWAP" not in instruments
    assert instruments["SHIB-USDT-SWAP"].coin_per_contract == 1_000_000
    assert instruments["ETH-USDT-SWAP"].coin_per_contract == Decimal("0.1")


async def test_snapshot_reads_every_swap_in_two_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    async with client_on(sim) as client:
        instruments = await client.instruments()
        before = sim.stats.requests
        readings = {r.symbol: r for r in await client.snapshot(instruments)}
    assert sim.stats.requests - before == 2
    assert set(readings) == set(instruments)
    btc = readings["BTC-USDT-SWAP"]
    assert btc.coin == btc.contracts * Decimal("0.01")
    assert btc.mark_price is not None
    assert 80_000 < btc.mark_price < 86_000
    oi_row = next(
        r
        for r in sim.handle("GET", OPEN_INTEREST_PATH, {"instType": "SWAP"}).json()["data"]
        if r["instId"] == "BTC-USDT-SWAP"
    )
    assert btc.usd is not None
    assert abs(btc.usd - Decimal(oi_row["oiUsd"])) < 1
    assert all(r.exchange_time_ms == START_MS for r in readings.values())


async def test_a_swap_without_a_mark_price_has_no_usd() -> None:
    oi = {
        "code": "0",
        "msg": "",
        "data": [{"instId": "X-USDT-SWAP", "oi": "7", "oiCcy": "70", "ts": "1"}],
    }
    marks = {"code": "0", "msg": "", "data": []}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=oi if request.url.path == OPEN_INTEREST_PATH else marks)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = OkxClient(http, "http://okx.test", "ws://okx.test")
        [reading] = await client.snapshot(
            {"X-USDT-SWAP": Instrument("X-USDT-SWAP", "X", "linear", Decimal(10))}
        )
    assert reading.coin == 70
    assert reading.mark_price is None
    assert reading.usd is None


async def test_a_rate_limit_refusal_holds_the_endpoint_and_sends_nothing_meanwhile(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    async with client_on(sim) as client:
        instruments = await client.instruments()
        sim.rate_limit(1.0)
        with pytest.raises(VenueRateLimited) as refused:
            await client.snapshot(instruments)
        limiter = client.limiters[OPEN_INTEREST_PATH]
        assert refused.value.hold_until == pytest.approx(trio.current_time() + FIRST_HOLD_S)
        assert limiter.held(trio.current_time())
        sent = sim.stats.requests
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.snapshot, instruments)
            await trio.sleep_until(refused.value.hold_until - 0.01)
            assert sim.stats.requests == sent
        assert sim.stats.requests == sent + 2
        assert sim.stats.refused_for_rate == 1


async def test_repeated_refusals_double_the_hold(autojump_clock: trio.testing.MockClock) -> None:
    sim = make_sim()
    async with client_on(sim) as client:
        sim.rate_limit(60)
        holds = []
        for _ in range(3):
            start = trio.current_time()
            with pytest.raises(VenueRateLimited) as refused:
                await client.instruments()
            holds.append(refused.value.hold_until - start)
            await trio.sleep_until(refused.value.hold_until)
    assert holds == pytest.approx([2.0, 4.0, 8.0], abs=0.3)


async def test_code_50011_in_a_200_body_is_a_refusal_too() -> None:
    async with client_answering({"code": "50011", "msg": "Too Many Requests", "data": []}) as c:
        with pytest.raises(VenueRateLimited):
            await c.instruments()


async def test_5xx_is_retried_twice_then_unavailable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    sim.set_faults(Faults(error_rate=1.0))
    async with client_on(sim) as client:
        with pytest.raises(VenueUnavailable, match=r"HTTP 5\d\d.*after 3 attempts"):
            await client.instruments()
    assert sim.stats.errors_5xx == 3


async def test_a_hanging_venue_times_out_then_is_unavailable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    sim.set_faults(Faults(hang_rate=1.0))
    async with client_on(sim) as client:
        with pytest.raises(VenueUnavailable, match="ReadTimeout"):
            await client.instruments()


async def test_a_cut_body_is_retried(autojump_clock: trio.testing.MockClock) -> None:
    sim = make_sim()
    sim.set_faults(Faults(malformed_rate=1.0))
    async with client_on(sim) as client:
        with pytest.raises(VenueUnavailable, match="not JSON"):
            await client.instruments()
        sim.set_faults(Faults())
        assert await client.instruments()


async def test_an_envelope_whose_data_is_not_a_list_is_a_decode_error() -> None:
    body = {"code": "0", "msg": "", "data": 7}
    async with client_answering(body) as client:
        with pytest.raises(VenueDecodeError, match=r"open-interest\.data"):
            await client.snapshot({})


async def test_a_bad_row_is_left_out_and_logged_once_naming_okx_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Rows are filtered to the tracked swaps before decoding, then decoded one by one: an
    untracked pre-open swap's `""` is never read, and a tracked swap's bad row costs only that
    swap (logged once, not at every snapshot)."""
    oi = {
        "code": "0",
        "msg": "",
        "data": [
            {"instId": "PRE-USDT-SWAP", "oi": "", "oiCcy": "", "ts": "1"},
            {"instId": "BAD-USDT-SWAP", "oi": 7, "oiCcy": "70", "ts": "1"},
            {"instId": "X-USDT-SWAP", "oi": "7", "oiCcy": "70", "ts": "1"},
        ],
    }
    marks = {
        "code": "0",
        "msg": "",
        "data": [
            {"instId": "PRE-USDT-SWAP", "markPx": "", "ts": "1"},
            {"instId": "X-USDT-SWAP", "markPx": "2", "ts": "1"},
        ],
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=oi if request.url.path == OPEN_INTEREST_PATH else marks)

    tracked = {
        s: Instrument(s, s.split("-")[0], "linear", Decimal(10))
        for s in ("X-USDT-SWAP", "BAD-USDT-SWAP")
    }
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = OkxClient(http, "http://okx.test", "ws://okx.test")
        first = await client.snapshot(tracked)
        second = await client.snapshot(tracked)
    assert [r.symbol for r in first] == [r.symbol for r in second] == ["X-USDT-SWAP"]
    assert first[0].mark_price == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "BAD-USDT-SWAP" in warnings[0]
    assert "open-interest.data[1].oi" in warnings[0]


# -- the stream, over loopback -------------------------------------------------------------------

MAJORS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP")


@asynccontextmanager
async def served(**settings: Any) -> AsyncIterator[tuple[OkxSim, OkxClient]]:
    sim = make_sim(oi_push_interval_s=0.2, **settings)
    async with trio.open_nursery() as nursery:
        [url] = await nursery.start(serve, sim)
        async with httpx.AsyncClient() as http:
            client = OkxClient(
                http, url, url.replace("http://", "ws://") + WS_PATH, stale_after_s=0.6
            )
            yield sim, client
        nursery.cancel_scope.cancel()


async def majors(client: OkxClient) -> dict[str, Instrument]:
    return {s: i for s, i in (await client.instruments()).items() if s in MAJORS}


async def test_the_stream_subscribes_and_sends_merged_readings() -> None:
    async with served() as (sim, client):
        instruments = await majors(client)
        send, receive = trio.open_memory_channel[VenueReading](100)
        readings: list[VenueReading] = []
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                await nursery.start(client.stream, instruments, send)
                async for reading in receive:
                    readings.append(reading)
                    priced = [r for r in readings if r.mark_price is not None]
                    if {r.symbol for r in priced} == set(MAJORS) and len(priced) >= 4:
                        break
                nursery.cancel_scope.cancel()
    assert sim.stats.ws_subscribe_ops == 1
    for reading in readings:
        assert reading.coin == reading.contracts * instruments[reading.symbol].coin_per_contract
    btc = [r for r in readings if r.symbol == "BTC-USDT-SWAP" and r.mark_price is not None]
    assert btc[-1].mark_price is not None
    assert 80_000 < btc[-1].mark_price < 86_000


async def run_until_dropped(client: OkxClient, instruments: dict[str, Instrument]) -> None:
    send, receive = trio.open_memory_channel[VenueReading](1000)
    async with receive:
        await client.stream(instruments, send)


async def after(delay_s: float, action: Callable[[], None]) -> None:
    await trio.sleep(delay_s)
    action()


async def test_a_dropped_connection_raises_stream_dropped() -> None:
    async with served() as (sim, client):
        instruments = await majors(client)
        with trio.fail_after(3):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(after, 0.3, sim.drop_websockets)
                with pytest.raises(VenueStreamDropped):
                    await run_until_dropped(client, instruments)


async def test_silence_beyond_stale_after_s_raises_stream_dropped() -> None:
    async with served() as (sim, client):
        instruments = await majors(client)
        with trio.fail_after(3):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(after, 0.3, lambda: sim.silence(10))
                with pytest.raises(VenueStreamDropped, match="silent"):
                    await run_until_dropped(client, instruments)


async def test_a_refused_handshake_raises_stream_dropped() -> None:
    async with served() as (sim, client):
        instruments = await majors(client)
        sim.set_faults(Faults(ws_down=True))
        with trio.fail_after(3), pytest.raises(VenueStreamDropped):
            await run_until_dropped(client, instruments)


async def test_pings_keep_a_quiet_connection_alive() -> None:
    """A suspended swap never pushes; the client's "ping" after `ping_idle_s` earns a "pong",
    so the connection outlives `stale_after_s` many times over."""
    quiet = {"LUNA-USDT-SWAP": Instrument("LUNA-USDT-SWAP", "LUNA", "linear", Decimal(1))}
    async with served() as (_, client):
        assert client.ping_idle_s == 0.3
        with trio.move_on_after(1.5) as alive:
            await run_until_dropped(client, quiet)
    assert alive.cancelled_caught


# -- the rubik open-interest history -------------------------------------------------------------

FIRST_BOUNDARY_MS = START_MS + (-START_MS) % 300_000


async def test_history_is_coin_oldest_first_from_since_and_ends_at_the_live_value(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    now_ms = FIRST_BOUNDARY_MS + 2 * 3_600_000
    await trio.sleep((now_ms - START_MS) / 1000)
    async with client_on(sim) as client:
        instruments = await client.instruments()
        points = await client.history(instruments["BTC-USDT-SWAP"], now_ms - 3_600_000)
        (live,) = [r for r in await client.snapshot(instruments) if r.symbol == "BTC-USDT-SWAP"]
        pepe = await client.history(instruments["PEPE-USDT-SWAP"], now_ms - 600_000)
    assert [t for t, _ in points] == [(now_ms - 3_600_000) / 1000 + 300 * k for k in range(13)]
    assert points[-1][1] == live.coin  # contracts × ctVal, as the live reading
    rows = json.loads(
        sim.handle("GET", HISTORY_PATH, {"instId": "PEPE-USDT-SWAP", "limit": "1"}).body
    )["data"]
    assert pepe[-1][1] == Decimal(rows[0][1]) * 10_000_000  # ctVal 10,000,000 PEPE
    assert len(pepe) == 3


async def test_history_pages_back_with_end(autojump_clock: trio.testing.MockClock) -> None:
    sim = make_sim()
    await trio.sleep(3600)
    since = FIRST_BOUNDARY_MS - 10 * 3_600_000  # 132 points: two pages of 100
    async with client_on(sim) as client:
        btc = (await client.instruments())["BTC-USDT-SWAP"]
        points = await client.history(btc, since)
    assert points[0][0] == since / 1000
    assert len(points) == 132
    assert len({t for t, _ in points}) == 132
    assert sim.stats.requests == 3  # instruments and two pages


async def test_history_is_refused_and_held_then_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    async with client_on(sim) as client:
        btc = (await client.instruments())["BTC-USDT-SWAP"]
        sim.rate_limit(1)
        with pytest.raises(VenueRateLimited, match="429"):
            await client.history(btc, START_MS - 3_600_000)
        assert client.limiters[HISTORY_PATH].held(trio.current_time())
        assert not client.limiters[OPEN_INTEREST_PATH].held(trio.current_time())
        assert len(await client.history(btc, START_MS - 3_600_000)) == 12  # waits out the hold
        with pytest.raises(VenueUnavailable, match="51001"):
            await client.history(
                Instrument("NOPE-USDT-SWAP", "NOPE", "linear", Decimal(1)), START_MS
            )


async def test_history_of_every_swap_stays_inside_its_own_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim()
    async with client_on(sim) as client:
        instruments = await client.instruments()
        started = trio.current_time()
        for instrument in list(instruments.values())[:20]:
            assert await client.history(instrument, START_MS - 600_000)
        took = trio.current_time() - started
    assert sim.stats.refused_for_rate == 0
    assert took >= 19 * 2.0 / (5 * 0.9) - 1  # 5 per 2 s, less the limiter's 10 % margin
