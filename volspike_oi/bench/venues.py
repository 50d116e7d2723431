"""The push venues at full universe: update cadence per venue and the service side's CPU.

The four simulators (Bybit, OKX, Deribit, Hyperliquid; `bench/venue_sims.py`) run in a child
process, so this process's CPU (`getrusage(RUSAGE_SELF)`, user + sys) is the service side
only: the venue clients (real loopback WebSockets, REST over loopback HTTP), JSON decoding and
the feed actor (`actors/venue_feed.py`), on the real clock. Each venue is measured alone, then
all four together. Every row runs `BENCH_VENUE_SECONDS` (default 60) after a warm-up of
`WARM_UP_S` that is not counted (instruments, the first REST snapshot, subscriptions).

Cadence is what `/venues` reports (`VenueStatus.cadence_s`): the median gap between two
readings of one symbol, from the stream or the REST reconcile, pooled over the venue's symbols;
here over every gap of the window, not the status's last 4,000.
The figures depend on the simulators' push models, named in the table's title.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import attrs
import httpx
import trio

from volspike_oi.actors import venue_feed
from volspike_oi.bench import print_table
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut, Output
from volspike_oi.messages import OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import VenueStatus
from volspike_oi.venues.model import VenueClient

VENUES = ("bybit", "okx", "deribit", "hyperliquid")
WARM_UP_S = 15.0
STORE_MIN_INTERVAL_S = 5.0
CHILD_START_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 10.0
PUSH_MODELS = (
    "Bybit tickers 100 ms ticks, a symbol changes on ~10 % of them, deltas only; "
    "OKX open-interest every 3 s per swap when changed (the readings) + mark-price when "
    "changed, market moves 1/s (decoded, only updates the mark); "
    "Deribit ticker.100ms, each instrument once a second; "
    "Hyperliquid activeAssetCtx each second, 10 liquid coins every 1 s, the rest every 3 s"
)


@attrs.frozen
class Figures:
    symbols: int
    readings: int
    stream_readings: int
    seconds: float
    gaps_s: tuple[float, ...]
    cpu_s: float
    dropped: int

    @property
    def per_s(self) -> float:
        return self.readings / self.seconds

    def cadence(self) -> float | str:
        return statistics.median(self.gaps_s) if self.gaps_s else "—"

    def p90(self) -> float | str:
        if len(self.gaps_s) < 2:
            return "—"
        return statistics.quantiles(self.gaps_s, n=10)[-1]

    def cpu_ms_per_1000(self) -> float | str:
        return 1e6 * self.cpu_s / self.readings if self.readings else "—"

    def core_pct(self) -> float:
        return 100 * self.cpu_s / self.seconds


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client(venue: str, http: httpx.AsyncClient, rest: str, ws: str) -> VenueClient:
    if venue == "bybit":
        from volspike_oi.venues.bybit.client import BybitClient

        return BybitClient(http, rest, ws)
    if venue == "okx":
        from volspike_oi.venues.okx.client import OkxClient

        return OkxClient(http, rest, ws)
    if venue == "deribit":
        from volspike_oi.venues.deribit.client import DeribitClient

        return DeribitClient(http, rest, ws)
    if venue == "hyperliquid":
        from volspike_oi.venues.hyperliquid.client import HyperliquidClient

        return HyperliquidClient(http, rest, ws)
    raise ValueError(f"no client for venue {venue!r}")


class _Gaps:
    """The live output's consumer: per symbol, the gaps between its readings (all of them, not
    the status's last 4,000), counted only once `counting` is set."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.gaps: list[float] = []
        self.counting = False

    async def consume(self, receive: trio.MemoryReceiveChannel[OiSample]) -> None:
        async for sample in receive:
            previous = self.last.get(sample.symbol)
            self.last[sample.symbol] = sample.received_at
            if self.counting and previous is not None:
                self.gaps.append(sample.received_at - previous)


async def _drain(receive: trio.MemoryReceiveChannel[OiSample]) -> None:
    async for _ in receive:
        pass


async def _measure(
    urls: Mapping[str, Mapping[str, str]], venues: Sequence[str], seconds: float
) -> dict[str, Figures]:
    clock = WallClock.starting_now()
    metrics = Metrics()
    statuses: dict[str, VenueStatus] = {}
    gaps: dict[str, _Gaps] = {}
    async with contextlib.AsyncExitStack() as stack, trio.open_nursery() as nursery:
        for venue in venues:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, headers={"Accept-Encoding": "gzip"})
            )
            status = statuses[venue] = VenueStatus(venue)
            gaps[venue] = _Gaps()
            live_tx, live_rx = trio.open_memory_channel[OiSample](4096)
            store_tx, store_rx = trio.open_memory_channel[OiSample](4096)
            nursery.start_soon(gaps[venue].consume, live_rx)
            nursery.start_soon(_drain, store_rx)
            await nursery.start(
                functools.partial(
                    venue_feed.run,
                    _client(venue, http, urls[venue]["rest"], urls[venue]["ws"]),
                    status,
                    FanOut[OiSample](
                        "samples",
                        [Output("web_feed", live_tx, False)],
                        status.outputs,
                        metrics,
                        clock,
                    ),
                    FanOut[OiSample](
                        "samples",
                        [Output("store_writer", store_tx, True)],
                        status.outputs,
                        metrics,
                        clock,
                    ),
                    clock,
                    metrics,
                    store_min_interval_s=STORE_MIN_INTERVAL_S,
                )
            )
        await trio.sleep(WARM_UP_S)
        before = {v: (s.updates, s.stream_updates) for v, s in statuses.items()}
        dropped_before = {v: sum(s.outputs.dropped.values()) for v, s in statuses.items()}
        for g in gaps.values():
            g.counting = True
        cpu_before, wall_before = _cpu_s(), time.monotonic()
        await trio.sleep(seconds)
        cpu, wall = _cpu_s() - cpu_before, time.monotonic() - wall_before
        figures = {
            v: Figures(
                symbols=s.symbols,
                readings=s.updates - before[v][0],
                stream_readings=s.stream_updates - before[v][1],
                seconds=wall,
                gaps_s=tuple(gaps[v].gaps),
                cpu_s=cpu,
                dropped=sum(s.outputs.dropped.values()) - dropped_before[v],
            )
            for v, s in statuses.items()
        }
        for v, s in statuses.items():
            if s.state != "streaming":
                print(f"  note: {v} was {s.state!r} at the end ({s.errors} errors: {s.last_error})")
        nursery.cancel_scope.cancel()
    return figures


@contextmanager
def simulators() -> Iterator[dict[str, dict[str, str]]]:
    """The child process serving the four simulators; their URLs by venue."""
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen(
            [sys.executable, "-m", "volspike_oi.bench.venue_sims"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                errors.seek(0)
                raise RuntimeError(f"venue simulators did not start:\n{errors.read()[-4000:]}")
            urls: dict[str, dict[str, str]] = json.loads(line)
            yield urls
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def run() -> None:
    seconds = float(os.environ.get("BENCH_VENUE_SECONDS", "60"))
    with simulators() as urls:
        alone = {v: trio.run(_measure, urls, (v,), seconds)[v] for v in VENUES}
        together = trio.run(_measure, urls, VENUES, seconds)
    rows: list[list[object]] = []
    for venue, f in alone.items():
        rows.append(
            [
                venue,
                f.symbols,
                f.per_s,
                f"{100 * f.stream_readings / max(f.readings, 1):.0f}",
                f.cadence(),
                f.p90(),
                f.cpu_ms_per_1000(),
                f.core_pct(),
            ]
        )
    readings = sum(f.readings for f in together.values())
    stream = sum(f.stream_readings for f in together.values())
    any_f = next(iter(together.values()))
    rows.append(
        [
            "all four together",
            sum(f.symbols for f in together.values()),
            readings / any_f.seconds,
            f"{100 * stream / max(readings, 1):.0f}",
            " / ".join(_fmt_s(together[v].cadence()) for v in VENUES),
            " / ".join(_fmt_s(together[v].p90()) for v in VENUES),
            1e6 * any_f.cpu_s / readings if readings else "—",
            any_f.core_pct(),
        ]
    )
    dropped = sum(f.dropped for f in (*alone.values(), *together.values()))
    print_table(
        f"Push venues at full universe, simulators in a child process, service side CPU only; "
        f"{seconds:.0f} s per row after a {WARM_UP_S:.0f} s warm-up, each venue alone, then all "
        f"four (cadence and p90 of the together row: bybit / okx / deribit / hyperliquid); "
        f"readings dropped by the live output: {dropped}.\n"
        f"  Push models (the simulators'): {PUSH_MODELS}",
        [
            "venue",
            "symbols",
            "readings/s",
            "% stream",
            "median gap per symbol (s)",
            "p90 gap (s)",
            "CPU ms / 1000 readings",
            "% of one core",
        ],
        rows,
    )


def _fmt_s(value: float | str) -> str:
    return f"{value:.2f}" if isinstance(value, float) else value
