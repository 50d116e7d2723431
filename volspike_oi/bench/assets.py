"""One asset across venues: update → asset total on a WebSocket client, and the aggregator's CPU.

Latency: the whole service on the real clock, HTTP on a free port, no store, `OI_VENUES` all
five: Binance against the in-process simulator (as `bench/web.py`), the four push venues
against their simulators in a child process (`bench/venue_sims.py`, as `bench/venues.py`). One
trio-websocket client in this process subscribes to the `assets` channel. A row's latency is
the client's arrival time − the receive time (`received_at`, the service's clock) of the
newest reading of that asset at the moment its total was pushed. That moment is caught by
giving the service's `AssetState` a book (`_StampedBook`) that notes, inside `take_changed`
(the push tick, with no await before the rows are published), each changed asset's newest
reading: exact, where `timestamp` of a row is only the tick, and reading the book when the
row arrives would see readings recorded after the push. A row whose newest reading is no
newer than at the asset's previous push (a venue that only went stale) is not a venue update
and is not timed.

CPU: the aggregator actor alone in this process (`actors/aggregator.py`, alerts on, one
`assets` subscriber on a `Hub`), fed a synthetic stream at the push venues' measured full
universe rate (the simulators' push models of `bench/venues.py`: Bybit 500 perps once a second,
OKX 250 swaps every 3 s, Deribit 20 instruments once a second, Hyperliquid 200 perps: 10 every
second, the rest every 3 s; ~677 readings/s over 970 venue-symbols of 600 assets) plus Binance
(35 readings/s over 600 symbols), on the real clock for `BENCH_ASSETS_SECONDS` (default 60).
Each (asset, venue)'s history is filled with the last hour first, so every 10 s judging pass
computes real baselines. The stream's own cost (building the samples) is measured in a run
without the aggregator and subtracted: the figures are what keeping the aggregates live adds.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import resource
import statistics
import time
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import attrs
import trio
import trio_websocket

from volspike_oi import service
from volspike_oi.actors import aggregator
from volspike_oi.actors.alert_evaluator import alert_rules
from volspike_oi.aggregate import SAMPLE_EVERY_S, AssetBook, evaluate_asset
from volspike_oi.alerts import AlertRules
from volspike_oi.bench import print_table
from volspike_oi.bench.venues import simulators
from volspike_oi.clock import WallClock
from volspike_oi.config import Settings, load
from volspike_oi.fanout import FanOut, Output
from volspike_oi.messages import OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.service import Service
from volspike_oi.sim.binance import BinanceSim, SimSettings, SimTransport, serve_sim
from volspike_oi.snapshots import AssetState, FanOutStatus, VenueStatus
from volspike_oi.venues.model import VenueName
from volspike_oi.views import iso
from volspike_oi.web.hub import Hub

PUSH_VENUES = ("bybit", "okx", "deribit", "hyperliquid")
VENUES = ("binance", *PUSH_VENUES)
BINANCE_SIM_SYMBOLS = 650
WARM_UP_S = 20.0
"""Before timing rows: instruments, first REST snapshots, subscriptions, the Binance universe."""
WS_SETTINGS = {
    "bybit": ("BYBIT_REST_URL", "BYBIT_WS_URL"),
    "okx": ("OKX_REST_URL", "OKX_WS_URL"),
    "deribit": ("DERIBIT_URL", "DERIBIT_WS_URL"),
    "hyperliquid": ("HYPERLIQUID_URL", "HYPERLIQUID_WS_URL"),
}

# The synthetic full universe of the CPU half.
ASSETS = 600
UNIVERSE: Mapping[str, tuple[int, float, int]] = {
    # venue: (symbols, seconds between two readings of one symbol, of them read every second)
    "bybit": (500, 1.0, 500),
    "okx": (250, 3.0, 0),
    "deribit": (20, 1.0, 20),
    "hyperliquid": (200, 3.0, 10),
}
STALE_AFTER_S = {"bybit": 30.0, "okx": 25.0, "deribit": 25.0, "hyperliquid": 25.0}
"""Each push venue client's own `stale_after_s`."""
BINANCE_SYMBOLS = 600
BINANCE_PER_S = 35.0
SLOT_S = 0.01
"""The stream emits the readings due every 10 ms (the schedule repeats every 3 s)."""
CPU_WARM_UP_S = 5.0
JUDGE_PASSES = 5
VALUES_PER_SYMBOL = 8
"""Each symbol cycles through a few prepared values (Decimal conversion stays out of the loop)."""


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- latency: the service against the simulators ---------------------------------------------


class _StampedBook(AssetBook):
    """An `AssetBook` that notes, at each push tick, the newest reading behind each changed
    asset: (asset, the rows' timestamp) → (its receive time, its venue)."""

    __slots__ = ("_newest", "pushes")

    def __init__(self) -> None:
        super().__init__()
        self.pushes: dict[tuple[str, str], tuple[float, str]] = {}
        self._newest: dict[str, float] = {}

    def take_changed(self, now: float, stale_after_s: Mapping[str, float]) -> tuple[str, ...]:
        changed = super().take_changed(now, stale_after_s)
        stamp = iso(now)
        for asset in changed:
            readings = self.readings(asset)
            if not readings:
                continue
            newest = max(readings, key=lambda r: r.at)
            if newest.at > self._newest.get(asset, -math.inf):
                self._newest[asset] = newest.at
                self.pushes[(asset, stamp)] = (newest.at, newest.venue)
        return changed


async def _start_service(nursery: trio.Nursery, urls: Mapping[str, Mapping[str, str]]) -> Service:
    sim = BinanceSim(SimSettings(start_ms=int(time.time() * 1000), symbols=BINANCE_SIM_SYMBOLS))
    binds = await nursery.start(serve_sim, sim, "127.0.0.1", 0)
    env = {
        "BINANCE_FAPI_URL": "http://sim",
        "BINANCE_FSTREAM_URL": binds[0].replace("http://", "ws://"),
        "BINANCE_WEIGHT_LIMIT": str(sim.settings.weight_limit),
        "MARK_PRICE_STREAM": "!markPrice@arr",
        "HTTP_PORT": "0",
        "STATUS_LOG_SEC": "3600",
        "OI_VENUES": ",".join(VENUES),
    }
    for venue, (rest_key, ws_key) in WS_SETTINGS.items():
        env[rest_key] = urls[venue]["rest"]
        env[ws_key] = urls[venue]["ws"]
    svc: Service = await nursery.start(
        functools.partial(
            service.run,
            load(Settings, env),
            transport=SimTransport(sim),
            clock=WallClock.starting_now(),
            rng=random.Random(1),
            store=None,
        )
    )
    return svc


async def _latency(
    urls: Mapping[str, Mapping[str, str]], seconds: float
) -> tuple[dict[str, list[float]], int, dict[str, object]]:
    """Per venue of the newest reading, the sorted latencies (s) of the rows timed; the
    `asset_totals` messages received in the window; each venue's state at the end."""
    latencies: dict[str, list[float]] = {v: [] for v in VENUES}
    messages = 0
    async with trio.open_nursery() as nursery:
        svc = await _start_service(nursery, urls)
        book = _StampedBook()
        # Every `state.book` use of the aggregator looks the book up again: from here on it
        # records into this one (the few readings already taken are read again within seconds).
        svc.assets.book = book
        url = svc.http_binds[0].replace("http://", "ws://", 1) + "/ws"
        ws = await trio_websocket.connect_websocket_url(nursery, url)
        await ws.send_message(json.dumps({"op": "subscribe", "channels": ["assets"]}))
        while '"subscribed"' not in await ws.get_message():
            pass
        clock = svc.clock
        start = clock.now() + WARM_UP_S
        end = start + seconds
        with trio.move_on_at(clock.trio_time_at(end)):
            while True:
                message = await ws.get_message()
                arrived = clock.now()
                if not isinstance(message, str) or not message.startswith(
                    '{"event": "asset_totals"'
                ):
                    continue
                if arrived >= start:
                    messages += 1
                for row in json.loads(message)["data"]:
                    stamped = book.pushes.pop((row["asset"], row["timestamp"]), None)
                    if stamped is not None and arrived >= start:
                        latencies[stamped[1]].append(arrived - stamped[0])
        states: dict[str, object] = {v: s.state for v, s in svc.venues.items()}
        await ws.aclose()
        nursery.cancel_scope.cancel()
    for values in latencies.values():
        values.sort()
    return latencies, messages, states


# -- CPU: the aggregator alone on a synthetic stream -----------------------------------------


@attrs.frozen
class _Symbol:
    venue: VenueName
    symbol: str
    asset: str
    values: tuple[tuple[Decimal, Decimal, Decimal], ...]
    """(coin, mark price, usd) to cycle through."""


def _asset_name(i: int) -> str:
    return ("BTC", "ETH")[i] if i < 2 else f"A{i:03d}"


def _values(
    rng: random.Random, coin: float, price: float
) -> tuple[tuple[Decimal, Decimal, Decimal], ...]:
    out: list[tuple[Decimal, Decimal, Decimal]] = []
    for _ in range(VALUES_PER_SYMBOL):
        c = coin * (1 + rng.uniform(-0.002, 0.002))
        out.append((Decimal(f"{c:.6g}"), Decimal(f"{price:.6g}"), Decimal(f"{c * price:.2f}")))
    return tuple(out)


def _universe(rng: random.Random) -> tuple[list[tuple[_Symbol, float]], list[_Symbol]]:
    """The push venues' (symbol, period) and Binance's symbols. Bybit lists assets 0–499, OKX
    0–149 and 500–599 (so every asset trades somewhere), Hyperliquid 0–199, Deribit BTC and
    ETH under two symbols each and assets 2–17; Binance 0–599."""
    price = [10 ** rng.uniform(-3, 4.5) for _ in range(ASSETS)]
    coin = [10 ** rng.uniform(5, 9) / p for p in price]
    listings: dict[str, list[tuple[str, int]]] = {
        "bybit": [(f"{_asset_name(i)}USDT", i) for i in range(500)],
        "okx": [(f"{_asset_name(i)}-USDT-SWAP", i) for i in (*range(150), *range(500, ASSETS))],
        "hyperliquid": [(_asset_name(i), i) for i in range(200)],
        "deribit": [
            *((f"{_asset_name(i)}-PERPETUAL", i) for i in range(2)),
            *((f"{_asset_name(i)}_USDC-PERPETUAL", i) for i in range(18)),
        ],
    }
    push: list[tuple[_Symbol, float]] = []
    for venue, (count, period_s, every_second) in UNIVERSE.items():
        names = listings[venue]
        assert len(names) == count, (venue, len(names))
        for k, (symbol, i) in enumerate(names):
            share = rng.uniform(0.05, 0.4)
            entry = _Symbol(
                cast(VenueName, venue),
                symbol,
                _asset_name(i),
                _values(rng, coin[i] * share, price[i]),
            )
            push.append((entry, 1.0 if k < every_second else period_s))
    binance = [
        _Symbol("binance", f"{_asset_name(i)}USDT", _asset_name(i), _values(rng, coin[i], price[i]))
        for i in range(BINANCE_SYMBOLS)
    ]
    return push, binance


def _schedule(push: Sequence[tuple[_Symbol, float]], rng: random.Random) -> list[list[_Symbol]]:
    """The push venues' readings due in each 10 ms slot of a 3 s cycle, each symbol at its own
    phase."""
    slots = round(3.0 / SLOT_S)
    per_second = round(1.0 / SLOT_S)
    buckets: list[list[_Symbol]] = [[] for _ in range(slots)]
    for entry, period_s in push:
        if period_s == 1.0:
            phase = rng.randrange(per_second)
            for k in range(3):
                buckets[phase + k * per_second].append(entry)
        else:
            buckets[rng.randrange(slots)].append(entry)
    return buckets


def _prefill(
    state: AssetState,
    push: Sequence[tuple[_Symbol, float]],
    binance: Sequence[_Symbol],
    now: float,
) -> int:
    """The last hour of every (asset, venue)'s coin, as after an hour of running; returns the
    (asset, venue) pairs."""
    parts: dict[tuple[str, str], tuple[float, float]] = {}
    for entry in [e for e, _ in push] + list(binance):
        first_coin, _, first_usd = entry.values[0]
        c, u = parts.get((entry.asset, entry.venue), (0.0, 0.0))
        parts[(entry.asset, entry.venue)] = (c + float(first_coin), u + float(first_usd))
    rng = random.Random(3)
    points = int(3600 / SAMPLE_EVERY_S)
    totals: dict[str, tuple[float, float]] = {}
    for (asset, venue), (coin, usd) in parts.items():
        for k in range(points, 0, -1):
            wobble = 1 + rng.uniform(-0.002, 0.002)
            state.history.offer(asset, venue, now - k * SAMPLE_EVERY_S, coin * wobble, usd * wobble)
        c, u = totals.get(asset, (0.0, 0.0))
        totals[asset] = (c + coin, u + usd)
    for asset, (coin, usd) in totals.items():
        state.series[asset] = deque(
            ((now - k * SAMPLE_EVERY_S, coin, usd) for k in range(points, 0, -1)),
            maxlen=aggregator.SERIES_POINTS,
        )
    return len(parts)


@attrs.frozen
class _CpuRun:
    readings: int
    seconds: float
    cpu_s: float
    dropped: int
    judge_ms: float
    assets: int
    pairs: int
    verdicts: Mapping[str, int]


async def _drain(receive: trio.MemoryReceiveChannel[Any]) -> None:
    async for _ in receive:
        pass


async def _cpu(seconds: float, with_aggregator: bool) -> _CpuRun:
    """The synthetic stream for `seconds` after `CPU_WARM_UP_S`, into the aggregator, or (to
    measure the stream's own cost) built and thrown away."""
    rng = random.Random(7)
    push, binance = _universe(rng)
    buckets = _schedule(push, rng)
    clock = WallClock.starting_now()
    metrics = Metrics()
    state = AssetState()
    venues = {v: VenueStatus(v, stale_after_s=s) for v, s in STALE_AFTER_S.items()}
    rules = alert_rules(load(Settings, {}))
    pairs = _prefill(state, push, binance, clock.now())
    feed_status = FanOutStatus()
    emitted = 0
    async with trio.open_nursery() as nursery:
        samples_tx, samples_rx = trio.open_memory_channel[OiSample](service.AGGREGATE_BUFFER)
        feed = FanOut[OiSample](
            "samples", [Output("aggregator", samples_tx, False)], feed_status, metrics, clock
        )
        if with_aggregator:
            alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](service.ALERT_BUFFER)
            nursery.start_soon(_drain, alerts_rx)
            hub = Hub()
            subscriber, hub_rx = hub.subscribe()
            subscriber.channels = frozenset({"assets"})
            nursery.start_soon(_drain, hub_rx)
            await nursery.start(
                functools.partial(
                    aggregator.run,
                    samples_rx,
                    state,
                    venues,
                    True,
                    FanOut[OiAlert](
                        "alerts",
                        [Output("store_writer", alerts_tx, True)],
                        state.outputs,
                        metrics,
                        clock,
                    ),
                    hub,
                    clock,
                    metrics,
                    rules=rules,
                )
            )

        async def stream() -> None:
            nonlocal emitted
            slot, owed, next_binance = 0, 0.0, 0
            start = trio.current_time()
            while True:
                await trio.sleep_until(start + slot * SLOT_S)
                due = list(buckets[slot % len(buckets)])
                owed += BINANCE_PER_S * SLOT_S
                while owed >= 1.0:
                    owed -= 1.0
                    due.append(binance[next_binance])
                    next_binance = (next_binance + 1) % len(binance)
                now = clock.now()
                k = int(slot * SLOT_S) % VALUES_PER_SYMBOL  # a new value every second
                for entry in due:
                    coin, mark, usd = entry.values[k]
                    sample = OiSample(
                        symbol=entry.symbol,
                        contracts=coin,
                        exchange_time_ms=int(now * 1000),
                        received_at=now,
                        mark_price=mark,
                        usd=usd,
                        source="realtime",
                        venue=entry.venue,
                        asset=entry.asset,
                        coin=coin,
                    )
                    emitted += 1
                    if with_aggregator:
                        await feed.send(sample)
                    else:
                        await trio.lowlevel.checkpoint()
                slot += 1

        nursery.start_soon(stream)
        await trio.sleep(CPU_WARM_UP_S)
        readings0, cpu0, wall0 = emitted, _cpu_s(), time.monotonic()
        await trio.sleep(seconds)
        readings, cpu_s, wall = emitted - readings0, _cpu_s() - cpu0, time.monotonic() - wall0
        nursery.cancel_scope.cancel()
    judge_ms = math.nan
    if with_aggregator:
        judge_ms = 1000 * _judge_pass_s(state, clock.now(), rules)
    return _CpuRun(
        readings=readings,
        seconds=wall,
        cpu_s=cpu_s,
        dropped=sum(feed_status.dropped.values()),
        judge_ms=judge_ms,
        assets=len(state.totals),
        pairs=pairs,
        verdicts=dict(state.verdicts),
    )


def _judge_pass_s(state: AssetState, now: float, rules: AlertRules) -> float:
    """The median CPU time (`time.process_time`: wall time would count other processes on a
    busy machine) of `JUDGE_PASSES` passes of the aggregator's 10 s loop body over every asset
    (history sample, series point, `evaluate_asset`), each 10 s after the previous one."""
    times = []
    for k in range(1, JUDGE_PASSES + 1):
        at = now + k * SAMPLE_EVERY_S
        started = time.process_time()
        for asset, total in list(state.totals.items()):
            state.history.offer_total(total, at)
            if total.venues:
                state.series.setdefault(asset, deque(maxlen=aggregator.SERIES_POINTS)).append(
                    (at, total.coin, total.usd)
                )
            evaluate_asset(
                asset,
                at,
                total.current(),
                state.history.baseline_windows(asset, at, rules),
                rules,
                state.gate,
            )
        times.append(time.process_time() - started)
    return statistics.median(times)


# -- the table --------------------------------------------------------------------------------


def run() -> None:
    seconds = float(os.environ.get("BENCH_ASSETS_SECONDS", "60"))
    with simulators() as urls:
        latencies, messages, states = trio.run(_latency, urls, seconds)
    calibration = trio.run(_cpu, max(10.0, seconds / 3), False)
    live = trio.run(_cpu, seconds, True)

    rows: list[list[object]] = []
    everything = sorted(x for values in latencies.values() for x in values)
    for venue in VENUES:
        values = latencies[venue]
        rows.append(
            [
                f"update → `assets` row on the client, newest reading from {venue}",
                len(values),
                1000 * _percentile(values, 50),
                1000 * _percentile(values, 99),
                "ms",
            ]
        )
    rows.append(
        [
            "update → `assets` row on the client, any venue",
            len(everything),
            1000 * _percentile(everything, 50),
            1000 * _percentile(everything, 99),
            "ms",
        ]
    )
    feed_cpu_per_reading = calibration.cpu_s / max(calibration.readings, 1)
    net_cpu_s = live.cpu_s - feed_cpu_per_reading * live.readings
    rows += [
        ["aggregator CPU at full universe (stream subtracted)", live.readings,
         100 * net_cpu_s / live.seconds, "—", "% of one core"],
        ["aggregator CPU per 1,000 readings", live.readings,
         1e6 * net_cpu_s / max(live.readings, 1), "—", "ms CPU"],
        [f"one 10 s judging pass over every asset (median of {JUDGE_PASSES})", live.assets,
         live.judge_ms, "—", "ms CPU"],
        ["the synthetic stream alone (subtracted above)", calibration.readings,
         1e6 * feed_cpu_per_reading, "—", "ms CPU / 1,000"],
    ]  # fmt: skip
    not_streaming = {v: s for v, s in states.items() if s != "streaming"}
    verdicts = ", ".join(f"{k} {n:,}" for k, n in sorted(live.verdicts.items()))
    print_table(
        f"One asset across venues (issue 12). Latency: the service (OI_VENUES={','.join(VENUES)}, "
        f"no store, real clock) against the simulators (Binance {BINANCE_SIM_SYMBOLS} perps "
        f"in process, the push venues in a child process), one WebSocket client on `assets` in "
        f"process, {seconds:.0f} s after a {WARM_UP_S:.0f} s warm-up, {messages:,} "
        f"asset_totals messages; latency = arrival at the client − receive time of the asset's "
        f"newest reading as of the push tick (noted in the service's book at the tick, so "
        f"exact; a row's `timestamp` is only the tick), rows without a newer reading (a venue "
        f"gone stale) not timed. Totals are pushed every {aggregator.PUSH_EVERY_S:g} s, so "
        f"waiting for the tick alone puts p50 near {500 * aggregator.PUSH_EVERY_S:.0f} ms and "
        f"p99 near {1000 * aggregator.PUSH_EVERY_S:.0f} ms"
        + (f"; venues not streaming at the end: {not_streaming}" if not_streaming else "")
        + f".\n  CPU: the aggregator alone in process (alerts on, one `assets` subscriber), fed "
        f"{live.readings / live.seconds:,.0f} synthetic readings/s (push venues' models: "
        f"970 venue-symbols, {ASSETS} assets, + Binance {BINANCE_PER_S:.0f}/s over "
        f"{BINANCE_SYMBOLS}) for {live.seconds:.0f} s on the real clock, an hour of history "
        f"prefilled for {live.pairs:,} (asset, venue) pairs; process CPU (getrusage) minus the "
        f"stream's own, measured alone; readings dropped: {live.dropped}; verdicts: {verdicts}. "
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        ["figure", "n", "p50 / value", "p99", "unit"],
        rows,
    )


if __name__ == "__main__":
    run()
