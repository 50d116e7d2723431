"""Five venues in one service, under trio's MockClock: a venue whose stream drops, whose REST
answers 5xx or which rate-limits us changes nothing for the others, and comes back by itself.

Binance and every other venue run against their simulators: REST in process, each WebSocket
over loopback to its simulator on hypercorn. Universes are small so a simulated quarter hour
costs seconds of CPU.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio_websocket

from tests.conftest import START_MS
from tests.service_harness import Stack, start_stack, wait_until
from volspike_oi.service import Service
from volspike_oi.sim import bybit, deribit, hyperliquid, okx
from volspike_oi.sim.faults import Faults
from volspike_oi.sim.transport import InProcessTransport

OTHERS = ("bybit", "okx", "deribit", "hyperliquid")
URL_SETTINGS = {
    "bybit": ("BYBIT_REST_URL", "BYBIT_WS_URL", bybit.WS_PATH),
    "okx": ("OKX_REST_URL", "OKX_WS_URL", okx.WS_PATH),
    "deribit": ("DERIBIT_URL", "DERIBIT_WS_URL", deribit.WS_PATH),
    "hyperliquid": ("HYPERLIQUID_URL", "HYPERLIQUID_WS_URL", hyperliquid.WS_PATH),
}


@attrs.frozen
class Venues:
    stack: Stack
    sims: dict[str, Any]

    def updates(self) -> dict[str, int]:
        return {v: s.updates for v, s in self.stack.service.venues.items()}


async def start_venues(nursery: trio.Nursery) -> Venues:
    sims: dict[str, Any] = {
        "bybit": bybit.BybitSim(seed=3, perpetuals=30, start_ms=START_MS),
        "okx": okx.OkxSim(okx.OkxSimSettings(seed=3, start_ms=START_MS, extra_swaps=5)),
        "deribit": deribit.DeribitSim(seed=3, start_epoch_ms=START_MS),
        "hyperliquid": hyperliquid.HyperliquidSim(
            hyperliquid.HyperliquidSimSettings(seed=3, start_ms=START_MS, perps=30)
        ),
    }
    serve: dict[str, Callable[..., Awaitable[None]]] = {
        "bybit": bybit.serve,
        "okx": okx.serve,
        "deribit": deribit.serve,
        "hyperliquid": hyperliquid.serve,
    }
    env = {"OI_VENUES": ",".join(("binance", *OTHERS)), "STATUS_LOG_SEC": "30"}
    for venue, sim in sims.items():
        binds = await nursery.start(serve[venue], sim, "127.0.0.1", 0)
        rest, ws, path = URL_SETTINGS[venue]
        env[rest] = f"http://{venue}.sim"  # REST goes through the in-process transport
        env[ws] = binds[0].replace("http://", "ws://") + path
    stack = await start_stack(
        nursery,
        sim={"symbols": 60},
        env=env,
        venue_transports={v: InProcessTransport(sim) for v, sim in sims.items()},
    )
    return Venues(stack, sims)


def streaming(service: Service, venue: str) -> bool:
    status = service.venues[venue]
    return status.state == "streaming" and status.healthy(service.clock.now())


def rates(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    return {v: (after[v] - before[v]) / seconds for v in after}


async def window(venues: Venues, seconds: float) -> dict[str, float]:
    before = venues.updates()
    await trio.sleep(seconds)
    return rates(before, venues.updates(), seconds)


async def test_one_venue_failing_leaves_the_others_cadence_unchanged_and_recovers_by_itself(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        venues = await start_venues(nursery)
        service = venues.stack.service
        await wait_until(lambda: all(streaming(service, v) for v in OTHERS), 90)
        baseline = await window(venues, 60)
        assert all(baseline[v] > 0 for v in OTHERS), baseline

        def stream_host_down(sim: Any) -> None:
            """Open connections drop, new ones are refused."""
            sim.set_faults(Faults(ws_down=True))
            sim.drop_websockets()

        def rest_5xx_and_stream_down(sim: Any) -> None:
            """Nothing but errors: REST answers 5xx while the stream is also gone."""
            sim.set_faults(Faults(error_rate=1.0, ws_down=True))
            sim.drop_websockets()

        def rate_limited(sim: Any) -> None:
            """Every request refused for rate for a minute, and the stream dropped."""
            sim.rate_limit(60)
            sim.drop_websockets()

        faults = {
            "bybit": stream_host_down,
            "okx": rest_5xx_and_stream_down,
            "hyperliquid": rate_limited,
        }
        for failing, inject in faults.items():
            inject(venues.sims[failing])
            during = await window(venues, 60)
            for venue in OTHERS:
                if venue != failing:
                    assert during[venue] >= 0.8 * baseline[venue], (failing, venue, during)
            assert not service.venues[failing].stream_connected or failing == "hyperliquid"
            venues.sims[failing].set_faults(Faults())
            await wait_until(functools.partial(streaming, service, failing), 150)
        binance = venues.stack.recorder.samples
        assert binance  # Binance polled throughout
        nursery.cancel_scope.cancel()


async def test_within_30_s_the_websocket_carries_oi_of_every_venue_and_btc_has_usd_on_each(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        venues = await start_venues(nursery)
        service = venues.stack.service
        base = service.http_binds[0]
        seen: dict[str, set[str]] = {}
        url = base.replace("http://", "ws://", 1) + "/ws"
        async with trio_websocket.open_websocket_url(url) as ws:
            await ws.send_message(
                json.dumps({"op": "subscribe", "channels": ["oi"], "venues": ["binance", *OTHERS]})
            )
            with trio.move_on_after(30):
                while len(seen) < 5:
                    message = json.loads(await ws.get_message())
                    if message["event"] == "oi":
                        for row in message["data"]:
                            seen.setdefault(row["venue"], set()).add(row["asset"])
        assert set(seen) == {"binance", *OTHERS}
        # Binance's BTC is read once the classifier has ranked it (every venue streams sooner).
        await wait_until(lambda: "BTCUSDT" in service.web.freshest(service.clock.now()), 120)
        async with httpx.AsyncClient(base_url=base) as client:
            for venue in ("binance", *OTHERS):
                body = (
                    await client.get("/api/market/open-interest/latest", params={"venue": venue})
                ).json()
                btc = [r for r in body["data"] if r["asset"] == "BTC" and r["openInterestUsd"]]
                assert btc, venue
                assert all(r["venue"] == venue for r in body["data"])
            venues_body = (await client.get("/api/market/open-interest/venues")).json()
            assert all(v["healthy"] for v in venues_body["venues"]), venues_body
            metrics = (await client.get("/metrics")).text
        for venue in OTHERS:
            assert f'venue_updates_total{{venue="{venue}"}}' in metrics
            assert f'venue_staleness_seconds{{venue="{venue}"}}' in metrics
        await wait_until(lambda: " | venues " in service.status.line, 60)
        segment = service.status.line.split(" | venues ", 1)[1]
        assert all(f"{venue} streaming" in segment for venue in OTHERS), segment
        nursery.cancel_scope.cancel()


async def test_btc_across_venues_sums_to_its_parts_and_a_stopped_venue_drops_out_named_stale(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        venues = await start_venues(nursery)
        service = venues.stack.service
        base = service.http_binds[0]
        await wait_until(lambda: all(streaming(service, v) for v in OTHERS), 90)
        await wait_until(lambda: "BTCUSDT" in service.web.freshest(service.clock.now()), 120)
        await trio.sleep(2)
        async with httpx.AsyncClient(base_url=base) as client:
            btc = (await client.get("/api/market/open-interest/assets/btc")).json()
            assert {v["venue"] for v in btc["venues"]} == {"binance", *OTHERS}
            assert sum(v["share"] for v in btc["venues"]) == pytest.approx(1.0)
            assert sum(v["usd"] for v in btc["venues"]) == pytest.approx(btc["usd"])
            listed = (await client.get("/api/market/open-interest/assets")).json()
            assert listed["assets"][0]["asset"] in {"BTC", "ETH"}

        # Bybit and OKX read their last hour back at the start: a baseline at once; the venues
        # without a history endpoint build theirs from now.
        now = service.clock.now()
        for venue, backfilled in (("bybit", True), ("okx", True), ("hyperliquid", False)):
            history = service.assets.history.get("BTC", venue)
            assert history is not None
            oldest = next(iter(history))[0]
            assert (oldest <= now - 3000) == backfilled, venue
        async with httpx.AsyncClient(base_url=base) as client:
            # Bybit stops: its stream goes silent and its REST refuses us.
            stopped_at = service.clock.now()
            venues.sims["bybit"].silence(3600)
            venues.sims["bybit"].rate_limit(3600)
            limit = service.venues["bybit"].stale_after_s
            await wait_until(lambda: "bybit" in service.assets.totals["BTC"].stale, limit + 15)
            assert service.clock.now() - stopped_at <= limit + 15
            btc = (await client.get("/api/market/open-interest/assets/BTC")).json()
            assert btc["stale"] == ["bybit"]
            assert "bybit" not in {v["venue"] for v in btc["venues"]}
            assert sum(v["usd"] for v in btc["venues"]) == pytest.approx(btc["usd"])
        nursery.cancel_scope.cancel()
