"""The OI poller at scale: achieved interval vs the bound 60·N/B, budget use, CPU per poll.

Each row runs the whole service against the in-process simulator for `MINUTES` simulated
minutes under MockClock, with every perp liquid (thresholds near 0) so N is exact. CPU is the
process's (service plus in-process simulator plus httpx), per 1,000 OI polls.
"""

from __future__ import annotations

import functools
import random
import time

import trio
import trio.testing

from volspike_oi import metrics as m
from volspike_oi import service
from volspike_oi.bench import print_table
from volspike_oi.clock import WallClock
from volspike_oi.config import Settings, load
from volspike_oi.sim.binance import BinanceSim, SimSettings, SimTransport

START_MS = 1_791_360_000_000
MINUTES = 5
BUDGET = 2000


async def _one(n: int) -> tuple[int, float, float, float, float, float]:
    sim = BinanceSim(SimSettings(start_ms=START_MS, symbols=n))
    settings = load(
        Settings,
        {
            "BINANCE_FAPI_URL": "http://sim",
            "MAX_REQ_PER_MIN": str(BUDGET),
            "OI_LIQUID_ENTER_QUOTE_24H": "0.01",
            "OI_LIQUID_EXIT_QUOTE_24H": "0",
            "MARK_PRICE_STREAM_ENABLED": "false",
            "STATUS_LOG_SEC": "3600",
            "OI_VENUES": "binance",
        },
    )
    async with trio.open_nursery() as nursery:
        svc = await nursery.start(
            functools.partial(
                service.run,
                settings,
                transport=SimTransport(sim),
                clock=WallClock(START_MS / 1000, trio.current_time()),
                rng=random.Random(1),
            )
        )
        await trio.sleep(60)  # warm-up: the first interval fills the schedule
        polls_before = svc.metrics.get(m.OI_POLLS)
        svc.poller.liquid_gaps_s.clear()
        cpu_before = time.process_time()
        await trio.sleep(MINUTES * 60)
        cpu = time.process_time() - cpu_before
        polls = svc.metrics.get(m.OI_POLLS) - polls_before
        achieved = svc.poller.achieved_interval_s() or float("nan")
        nursery.cancel_scope.cancel()
    bound = 60 * n / BUDGET
    per_min = polls / MINUTES
    return n, bound, achieved, achieved / bound, 100 * per_min / BUDGET, 1000 * cpu / max(polls, 1)


def run() -> None:
    rows = [
        trio.run(_one, n, clock=trio.testing.MockClock(autojump_threshold=0))
        for n in (100, 340, 600)
    ]
    print_table(
        f"OI poller, B = MAX_REQ_PER_MIN = {BUDGET}, {MINUTES} simulated minutes per row "
        "(interval floor MIN_INTERVAL_SEC = 5 s)",
        [
            "N liquid",
            "bound 60·N/B (s)",
            "achieved (s)",
            "achieved/bound",
            "budget use %",
            "CPU s / 1000 polls",
        ],
        rows,
    )
