"""What the simulator costs: the budget every hour-long test and benchmark spends."""

from __future__ import annotations

import time

import httpx
import trio

from volspike_oi.bench import print_table
from volspike_oi.sim.binance import BinanceSim, SimSettings, SimTransport, serve_sim
from volspike_oi.sim.binance.streams import MarkPriceFeed, parse_stream

START_MS = 1_791_360_000_000
REQUESTS = 2000


async def _requests_per_s(client: httpx.AsyncClient, symbols: list[str]) -> float:
    started = time.perf_counter()
    for i in range(REQUESTS):
        response = await client.get(
            "/fapi/v1/openInterest", params={"symbol": symbols[i % len(symbols)]}
        )
        response.raise_for_status()
    return REQUESTS / (time.perf_counter() - started)


async def _request_rates() -> list[tuple[str, float, float]]:
    settings = SimSettings(start_ms=START_MS, symbols=600, weight_limit=10**6)
    rows = []
    sim = BinanceSim(settings)
    symbols = [s for s in sim.market.symbols if s.endswith("USDT")][:340]
    async with httpx.AsyncClient(transport=SimTransport(sim), base_url="http://sim") as client:
        rate = await _requests_per_s(client, symbols)
    rows.append(("in-process SimTransport", rate, 1e6 / rate))
    sim = BinanceSim(settings)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve_sim, sim, "127.0.0.1", 0)
        async with httpx.AsyncClient(base_url=binds[0]) as client:
            rate = await _requests_per_s(client, symbols)
        nursery.cancel_scope.cancel()
    rows.append(("hypercorn on loopback", rate, 1e6 / rate))
    return rows


async def _market_costs() -> list[tuple[int, float, float, float]]:
    rows = []
    for n in (100, 340, 600):
        sim = BinanceSim(SimSettings(start_ms=START_MS, symbols=n))
        started = time.perf_counter()
        sim.market.advance_all(START_MS + 3_600_000)
        elapsed = time.perf_counter() - started
        steps = len(sim.market.symbols) * 3600
        advance_s, steps_per_s = elapsed, steps / elapsed
        feed = MarkPriceFeed(sim)
        stream = parse_stream("!markPrice@arr@1s")
        assert stream is not None
        started = time.perf_counter()
        ticks = 60
        for k in range(1, ticks + 1):
            feed.frames(stream, START_MS + 3_600_000 + k * 1000, combined=True)
        tick_ms = (time.perf_counter() - started) / ticks * 1000
        rows.append((n, advance_s, steps_per_s, tick_ms))
    return rows


def run() -> None:
    rates = trio.run(_request_rates)
    print_table(
        f"Simulator: {REQUESTS} sequential openInterest requests (one client)",
        ["path", "requests/s", "µs/request"],
        rates,
    )
    ratio = rates[0][1] / rates[1][1]
    print(f"  in-process is {ratio:.1f}× cheaper than loopback HTTP in this run")
    costs = trio.run(_market_costs)
    print_table(
        "Simulator market model (CPU time)",
        ["USDT perps", "advance 1 simulated h (s)", "symbol-steps/s", "build one @1s tick (ms)"],
        costs,
    )
