"""Runs the whole service against an in-process simulator on trio's clock.

Works on the real clock too (storage tests): the simulated epoch is a fixed anchor either way.

REST goes through `SimTransport` (no sockets: an hour of polling costs seconds of CPU); the
mark price stream goes over a real WebSocket to the simulator served by hypercorn on loopback.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import trio

from tests.conftest import START_MS
from volspike_oi import service as service_mod
from volspike_oi.clock import WallClock
from volspike_oi.config import Settings
from volspike_oi.envconfig import load
from volspike_oi.messages import OiAlert, OiSample
from volspike_oi.service import Service
from volspike_oi.sim.binance import BinanceSim, Scenario, SimSettings, SimTransport, serve_sim
from volspike_oi.sim.binance.scenario import NO_EVENTS
from volspike_oi.store.protocol import Store

INGEST_ONLY: dict[str, str] = {
    "MARK_PRICE_STREAM_ENABLED": "false",
    "OI_REALTIME_ENABLED": "false",
    "OI_ALERTS_ENABLED": "false",
    "STATUS_LOG_SEC": "3600",
}
"""`start_stack(env=...)`: no poller, no alert evaluator, no stream: nothing but what a test
ingests reaches the API or the store."""
NO_STREAM: dict[str, str] = {"MARK_PRICE_STREAM_ENABLED": "false", "STATUS_LOG_SEC": "3600"}
"""`start_stack(env=...)`: the poller and evaluator run; mark prices come from REST only."""

SEED_ALERT_KEYS = frozenset(
    {"symbol", "direction", "baseline", "current", "pctChange", "absChange", "timestamp", "source"}
)
"""The alert body of seed 001 §5.3, as the backend takes it."""
ALERT_KEYS = SEED_ALERT_KEYS | {
    "baselineSamples",
    "usdChange",
    "baselineUsd",
    "currentUsd",
    "markPriceChangePct",
    "windowMinutes",
    "venue",
}
"""An alert as the API serves it: the seed's keys and what we add (an aggregate alert, venue
"all", also has drivers)."""


@attrs.define
class Recorder:
    """Everything the service emitted, for assertions."""

    samples: dict[str, list[OiSample]] = attrs.Factory(lambda: defaultdict(list))
    alerts: list[OiAlert] = attrs.Factory(list)

    async def take_samples(self, rx: trio.MemoryReceiveChannel[OiSample]) -> None:
        async for sample in rx:
            self.samples[sample.symbol].append(sample)

    async def take_alerts(self, rx: trio.MemoryReceiveChannel[OiAlert]) -> None:
        async for alert in rx:
            self.alerts.append(alert)


@attrs.frozen
class Stack:
    sim: BinanceSim
    service: Service
    recorder: Recorder
    sim_url: str


async def start_stack(
    nursery: trio.Nursery,
    *,
    scenario: Scenario = NO_EVENTS,
    sim: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    store: Store | None = None,
    prepare_sim: Callable[[BinanceSim], None] | None = None,
    venue_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Stack:
    """The simulator and the service; `prepare_sim` may adjust the market before either starts
    (a symbol's open interest, say)."""
    sim_settings = attrs.evolve(SimSettings(start_ms=START_MS, symbols=600), **(sim or {}))
    exchange = BinanceSim(sim_settings, scenario)
    if prepare_sim is not None:
        prepare_sim(exchange)
    binds = await nursery.start(serve_sim, exchange, "127.0.0.1", 0)
    settings = load(
        Settings,
        {
            "BINANCE_FAPI_URL": "http://sim",
            "BINANCE_FSTREAM_URL": binds[0].replace("http://", "ws://"),
            "BINANCE_WEIGHT_LIMIT": str(sim_settings.weight_limit),
            # The 3 s stream carries the same prices at a third of the CPU cost in long tests.
            "MARK_PRICE_STREAM": "!markPrice@arr",
            "HTTP_PORT": "0",
            # Binance only unless a test names the venues (their simulators are its to start).
            "OI_VENUES": "binance",
            **(env or {}),
        },
    )
    recorder = Recorder()
    samples_tx, samples_rx = trio.open_memory_channel[OiSample](10_000)
    alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](1000)
    nursery.start_soon(recorder.take_samples, samples_rx)
    nursery.start_soon(recorder.take_alerts, alerts_rx)
    service = await nursery.start(
        functools.partial(
            service_mod.run,
            settings,
            transport=SimTransport(exchange),
            clock=WallClock(START_MS / 1000, trio.current_time()),
            rng=random.Random(7),
            sample_subscribers=[samples_tx],
            alert_subscribers=[alerts_tx],
            store=store,
            venue_transports=venue_transports,
        )
    )
    return Stack(exchange, service, recorder, binds[0])


def largest_gap_s(samples: list[OiSample], after: float) -> float:
    times = [s.received_at for s in samples if s.received_at >= after]
    return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


async def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.2) -> None:
    """Poll `condition` on trio's clock (for state that has no event to wait on); fail after
    `timeout_s`."""
    for _ in range(int(timeout_s / step_s) + 1):
        if condition():
            return
        await trio.sleep(step_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
