"""Supervision: a crashing actor is restarted with backoff and never ends the process."""

from __future__ import annotations

import pytest
import trio

from volspike_oi import metrics as m
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import ActorHealth
from volspike_oi.supervisor import supervise


async def test_a_crashing_actor_restarts_with_doubling_backoff(nursery, autojump_clock):
    starts: list[float] = []

    async def flaky(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        starts.append(trio.current_time())
        if len(starts) <= 3:
            raise RuntimeError("boom")
        await trio.sleep_forever()

    health = ActorHealth("flaky", critical=True)
    metrics = Metrics()
    await nursery.start(supervise, "flaky", flaky, health, metrics)
    await trio.sleep(100)
    assert starts == [0.0, 1.0, 3.0, 7.0]
    assert health.restarts == 3
    assert health.state == "running"
    assert health.last_error == "RuntimeError: boom"
    assert metrics.get(m.actor_restarts("flaky")) == 3


async def test_a_crash_before_started_does_not_block_start_up(nursery, autojump_clock):
    async def broken(*, task_status=trio.TASK_STATUS_IGNORED):
        raise ValueError("bad config")

    health = ActorHealth("broken", critical=False)
    with trio.fail_after(1):
        await nursery.start(supervise, "broken", broken, health, Metrics())
    assert health.state == "restarting"


async def test_an_exception_group_from_an_inner_nursery_is_a_crash_too(nursery, autojump_clock):
    runs = 0

    async def grouped(*, task_status=trio.TASK_STATUS_IGNORED):
        nonlocal runs
        runs += 1
        task_status.started()
        async with trio.open_nursery() as inner:
            inner.start_soon(trio.sleep, 0)
            raise KeyError("x")

    health = ActorHealth("grouped", critical=False)
    await nursery.start(supervise, "grouped", grouped, health, Metrics())
    await trio.sleep(10)
    assert runs >= 3
    assert health.restarts == runs


async def test_cancellation_stops_the_supervisor_without_a_restart(autojump_clock):
    health = ActorHealth("idle", critical=False)

    async def idle(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await trio.sleep_forever()

    with trio.move_on_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervise, "idle", idle, health, Metrics())
    assert health.restarts == 0


async def test_an_actor_that_returns_is_not_restarted(nursery, autojump_clock):
    async def once(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()

    health = ActorHealth("once", critical=False)
    await nursery.start(supervise, "once", once, health, Metrics())
    await trio.sleep(10)
    assert health.state == "stopped"
    assert health.restarts == 0


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
async def test_base_exceptions_are_not_swallowed(exc, autojump_clock):
    async def dies(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        raise exc

    with pytest.raises((exc, BaseExceptionGroup)):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervise, "dies", dies, ActorHealth("dies", False), Metrics())
