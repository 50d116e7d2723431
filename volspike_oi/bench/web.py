"""The live feed and the legacy ingest, on the real clock, against the in-process simulator.

Latency runs from an OI sample entering the pipeline (its `received_at`, which the poller stamps
from the service's clock; on the real clock that follows `time.time()`) to a WebSocket client
holding the `oi` batch that carries it. The clients run in a child process
(`python -m volspike_oi.bench.web clients URL N SECONDS`) so they do not share the service's
interpreter; both sides read the same system clock. Ingest times one client POSTing seed 000's
snapshot of every tracked symbol to the running service.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import httpx
import trio
import trio_websocket

from volspike_oi import service
from volspike_oi.bench import print_table
from volspike_oi.clock import WallClock
from volspike_oi.config import Settings, load
from volspike_oi.service import Service
from volspike_oi.sim.binance import BinanceSim, SimSettings, SimTransport, serve_sim
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.server import EmbeddedPostgres
from volspike_oi.web.contract import WS_BATCH_S as BATCH_S

SIM_SYMBOLS = 650
"""Trading perps in the simulator: the legacy snapshot has one item for each."""
SUBSCRIBERS = (1, 100, 500)
MEASURE_S = 20.0
"""Seconds of latency samples per row, after every client has subscribed."""
WARM_UP_S = 5.0
"""Before the first row: the universe is classified and the poller reaches its pace."""
CONNECT_CONCURRENCY = 50
"""Handshakes in flight from the client process (hypercorn's listen backlog is 100)."""
INGEST_REQUESTS = 50
INGEST_WARM_UP = 5
API_KEY = "bench-ingest-key"
INGEST_PATH = "/api/market/open-interest/ingest"


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _epoch_s(iso_time: str) -> float:
    return dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


# -- the client process ---------------------------------------------------------------------


async def _clients(url: str, n: int, measure_s: float) -> dict[str, Any]:
    """Connect `n` clients subscribed to `oi`; for `measure_s` seconds, record each row's age on
    arrival. Returns the latencies' summary and the measuring window (epoch seconds)."""
    latencies: list[float] = []
    epoch_of: dict[str, float] = {}  # every client gets the same sampleTime strings
    batches = 0
    window = [math.inf, math.inf]
    subscribed = 0
    everyone_in = trio.Event()
    limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)
    subscribe = json.dumps({"op": "subscribe", "channels": ["oi"]})

    async def client(nursery: trio.Nursery) -> None:
        nonlocal subscribed, batches
        async with limiter:
            ws = await trio_websocket.connect_websocket_url(nursery, url)
            await ws.send_message(subscribe)
            while '"subscribed"' not in await ws.get_message():
                pass
        subscribed += 1
        if subscribed == n:
            everyone_in.set()
        while True:
            message = await ws.get_message()
            arrived = time.time()
            if not window[0] <= arrived < window[1] or not isinstance(message, str):
                continue
            if not message.startswith('{"event": "oi"'):
                continue
            batches += 1
            for row in json.loads(message)["data"]:
                stamp = row["sampleTime"]
                entered = epoch_of.get(stamp)
                if entered is None:
                    entered = epoch_of[stamp] = _epoch_s(stamp)
                latencies.append(arrived - entered)

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(client, nursery)
        with trio.fail_after(120):
            await everyone_in.wait()
        await trio.sleep(1.0)  # let the last handshakes' batches settle
        window[:] = [time.time(), time.time() + measure_s]
        await trio.sleep(measure_s)
        nursery.cancel_scope.cancel()
    latencies.sort()
    return {
        "window": window,
        "batches": batches,
        "rows": len(latencies),
        "p50": _percentile(latencies, 50),
        "p99": _percentile(latencies, 99),
        "max": latencies[-1] if latencies else math.nan,
    }


def _clients_main(argv: Sequence[str]) -> None:
    url, n, measure_s = argv[0], int(argv[1]), float(argv[2])
    print(json.dumps(trio.run(_clients, url, n, measure_s)))


# -- the service side -----------------------------------------------------------------------


async def _start_service(nursery: trio.Nursery, store: PostgresStore | None) -> Service:
    """The whole service on the real clock against the simulator (REST in process, the mark
    price stream over loopback), its HTTP API on a free port."""
    sim = BinanceSim(SimSettings(start_ms=int(time.time() * 1000), symbols=SIM_SYMBOLS))
    binds = await nursery.start(serve_sim, sim, "127.0.0.1", 0)
    settings = load(
        Settings,
        {
            "BINANCE_FAPI_URL": "http://sim",
            "BINANCE_FSTREAM_URL": binds[0].replace("http://", "ws://"),
            "BINANCE_WEIGHT_LIMIT": str(sim.settings.weight_limit),
            "MARK_PRICE_STREAM": "!markPrice@arr",
            "HTTP_PORT": "0",
            "VOLSPIKE_API_KEY": API_KEY,
            "STATUS_LOG_SEC": "3600",
            "OI_VENUES": "binance",
        },
    )
    svc: Service = await nursery.start(
        functools.partial(
            service.run,
            settings,
            transport=SimTransport(sim),
            clock=WallClock.starting_now(),
            rng=random.Random(1),
            store=store,
        )
    )
    return svc


class _CpuLog:
    """The process's CPU time, sampled twice a second, to read the share over a window."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            self.points.append((time.time(), time.process_time()))
            await trio.sleep(0.5)

    def percent(self, start: float, end: float) -> float:
        inside = [p for p in self.points if start <= p[0] <= end]
        if len(inside) < 2:
            return math.nan
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return 100 * (c1 - c0) / (t1 - t0)


async def _latency_row(url: str, n: int, cpu: _CpuLog) -> tuple[object, ...]:
    done = await trio.run_process(
        [sys.executable, "-m", "volspike_oi.bench.web", "clients", url, str(n), str(MEASURE_S)],
        capture_stdout=True,
    )
    result = json.loads(done.stdout)
    start, end = result["window"]
    return (
        n,
        result["batches"] / n,
        result["rows"],
        1000 * result["p50"],
        1000 * result["p99"],
        1000 * result["max"],
        cpu.percent(start, end),
    )


def _snapshot(symbols: Sequence[str], rng: random.Random) -> bytes:
    """Seed 000's 5-minute snapshot: `{data: [{symbol, openInterest, openInterestUsd,
    markPrice}], timestamp, totalSymbols}`, stamped now (to the millisecond, so each request
    stores new rows)."""
    data = []
    for symbol in symbols:
        contracts = round(10 ** rng.uniform(3, 9), 3)
        mark = float(f"{10 ** rng.uniform(-4, 5):.6g}")
        data.append(
            {
                "symbol": symbol,
                "openInterest": contracts,
                "openInterestUsd": round(contracts * mark, 2),
                "markPrice": mark,
            }
        )
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"data": data, "timestamp": now, "totalSymbols": len(data)}).encode()


async def _ingest_row(svc: Service, label: str) -> tuple[object, ...]:
    universe = svc.status.universe
    assert universe is not None
    symbols = sorted(universe.tracked)
    rng = random.Random(0)
    times: list[float] = []
    async with httpx.AsyncClient(
        base_url=svc.http_binds[0],
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        timeout=30,
    ) as client:
        for i in range(INGEST_WARM_UP + INGEST_REQUESTS):
            body = _snapshot(symbols, rng)
            started = time.perf_counter()
            response = await client.post(INGEST_PATH, content=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            assert response.json()["stored"] == len(symbols), response.text[:300]
            if i >= INGEST_WARM_UP:
                times.append(elapsed)
            await trio.sleep(0.02)  # one snapshot at a time, as the legacy sender posts them
    times.sort()
    return (
        label,
        len(symbols),
        INGEST_REQUESTS,
        1000 * _percentile(times, 50),
        1000 * _percentile(times, 99),
    )


async def _wait_for_samples(svc: Service) -> None:
    for _ in range(300):
        if svc.status.universe is not None and svc.web.realtime:
            return
        await trio.sleep(0.1)
    raise RuntimeError("the service made no OI sample within 30 s")


async def _without_store() -> tuple[list[tuple[object, ...]], tuple[object, ...]]:
    cpu = _CpuLog()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cpu.run)
        svc = await _start_service(nursery, store=None)
        await _wait_for_samples(svc)
        await trio.sleep(WARM_UP_S)
        url = svc.http_binds[0].replace("http://", "ws://", 1) + "/ws"
        latency = [await _latency_row(url, n, cpu) for n in SUBSCRIBERS]
        for _ in range(100):  # the 500 connections just closed: let their handlers finish
            if not svc.hub.subscribers:
                break
            await trio.sleep(0.1)
        await trio.sleep(1.0)
        ingest = await _ingest_row(svc, "no store (memory only)")
        nursery.cancel_scope.cancel()
    return latency, ingest


async def _with_embedded_postgres() -> tuple[object, ...]:
    with tempfile.TemporaryDirectory(prefix="volspike-bench-") as tmp:
        server = EmbeddedPostgres(tmp)
        uri = await trio.to_thread.run_sync(server.start)
        store = PostgresStore(uri)
        try:
            await store.migrate()
            async with trio.open_nursery() as nursery:
                svc = await _start_service(nursery, store=store)
                await _wait_for_samples(svc)
                row = await _ingest_row(svc, "embedded PostgreSQL 18 (COPY)")
                nursery.cancel_scope.cancel()
        finally:
            await store.aclose()
            await trio.to_thread.run_sync(server.stop)
    return row


async def _main() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    latency, memory_ingest = await _without_store()
    return latency, [memory_ingest, await _with_embedded_postgres()]


def run() -> None:
    latency, ingest = trio.run(_main)
    print_table(
        f"WebSocket feed latency: OI sample enters the pipeline → client holds its `oi` batch; "
        f"{SIM_SYMBOLS} simulated perps, real clock, {MEASURE_S:.0f} s per row, clients in a "
        f"child process (no store). Batches go out every {BATCH_S} s, so waiting for the next "
        f"tick alone puts p50 near {1000 * BATCH_S / 2:.0f} ms and p99 near "
        f"{1000 * BATCH_S:.0f} ms",
        [
            "subscribers",
            "batches/client",
            "rows timed",
            "p50 ms",
            "p99 ms",
            "max ms",
            "service+sim CPU %",
        ],
        latency,
    )
    print_table(
        f"Legacy ingest: POST {INGEST_PATH} of a snapshot of every tracked symbol (seed 000 "
        f"shape), {INGEST_REQUESTS} requests one after another after {INGEST_WARM_UP} warm-up "
        f"(of {INGEST_REQUESTS}, p99 is the slowest), service running against the simulator",
        ["store", "symbols", "requests", "p50 ms", "p99 ms"],
        ingest,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["clients"]:
        _clients_main(sys.argv[2:])
    else:
        run()
