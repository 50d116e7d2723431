"""The wall clock follows the system clock when it is stepped (NTP at boot, an operator).

Rules: a clock that follows the system's is compared with it every minute; a difference beyond
`REANCHOR_THRESHOLD_S` re-anchors it and is logged once with the step; a fixed anchor (tests on
the simulator's epoch) is never moved. Under `autojump_clock`, with the system clock injected
(`WallClock.following`) or, for the whole service, `time.time` patched.
"""

from __future__ import annotations

import functools
import logging
import random
import time

import pytest
import trio

from tests.conftest import START_MS
from volspike_oi import service as service_mod
from volspike_oi.clock import REANCHOR_EVERY_S, REANCHOR_THRESHOLD_S, WallClock, keep_anchored
from volspike_oi.config import Settings
from volspike_oi.envconfig import load
from volspike_oi.sim.binance import BinanceSim, SimSettings, SimTransport

T0 = START_MS / 1000


class SystemClock:
    """`time.time` on trio's clock, steppable like NTP steps the real one."""

    def __init__(self) -> None:
        self.origin = trio.current_time()
        self.stepped_s = 0.0

    def __call__(self) -> float:
        return T0 + (trio.current_time() - self.origin) + self.stepped_s


@pytest.mark.parametrize("step_s", [30.0, -5.0])
async def test_a_stepped_system_clock_is_followed_within_a_minute_and_logged_once(
    nursery, autojump_clock, caplog, step_s
):
    caplog.set_level(logging.WARNING, logger="volspike_oi.clock")
    system = SystemClock()
    clock = WallClock.following(system)
    nursery.start_soon(keep_anchored, clock)
    await trio.sleep(10)
    system.stepped_s = step_s
    assert clock.now() == pytest.approx(system() - step_s)
    await trio.sleep(REANCHOR_EVERY_S)
    assert clock.now() == pytest.approx(system(), abs=1e-6)
    await trio.sleep(10 * REANCHOR_EVERY_S)
    assert clock.now() == pytest.approx(system(), abs=1e-6)
    steps = [r.getMessage() for r in caplog.records if "stepped" in r.getMessage()]
    assert steps == [
        f"the system clock was stepped by {step_s:+.3f} s (NTP?): the wall clock is re-anchored"
    ]


async def test_a_difference_within_the_threshold_moves_nothing(nursery, autojump_clock):
    system = SystemClock()
    clock = WallClock.following(system)
    nursery.start_soon(keep_anchored, clock)
    system.stepped_s = REANCHOR_THRESHOLD_S / 2
    await trio.sleep(3 * REANCHOR_EVERY_S)
    assert clock.start_epoch_s == T0


async def test_a_fixed_anchor_is_never_moved(autojump_clock):
    clock = WallClock(T0, trio.current_time())
    with trio.move_on_after(3 * REANCHOR_EVERY_S) as waited:
        await keep_anchored(clock)  # returns at once
    assert not waited.cancelled_caught
    assert clock.reanchor() == 0.0
    assert clock.start_epoch_s == T0


async def test_the_service_clock_follows_a_system_clock_stepped_after_start(
    nursery, autojump_clock, monkeypatch
):
    system = SystemClock()
    monkeypatch.setattr(time, "time", system)
    sim = BinanceSim(SimSettings(start_ms=START_MS, symbols=60))
    settings = load(
        Settings,
        {
            "BINANCE_FAPI_URL": "http://sim",
            "MARK_PRICE_STREAM_ENABLED": "false",
            "HTTP_ENABLED": "false",
            "STATUS_LOG_SEC": "3600",
        },
    )
    service = await nursery.start(
        functools.partial(
            service_mod.run, settings, transport=SimTransport(sim), rng=random.Random(7)
        )
    )
    await trio.sleep(30)
    system.stepped_s = 120.0  # NTP fixes a clock that was two minutes slow at boot
    await trio.sleep(2 * REANCHOR_EVERY_S)
    assert service.clock.now() == pytest.approx(system(), abs=1e-6)
