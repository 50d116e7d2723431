"""A stuck consumer never stops polling: non-critical outputs drop (counted), critical ones wait.

Unit tests of `fanout.FanOut`, then the whole service (simulator, `autojump_clock`) with an alert
evaluator that never reads its samples.
"""

from __future__ import annotations

import math

import pytest
import trio

from tests.fakes import EmptyStore
from tests.service_harness import NO_STREAM, start_stack
from volspike_oi import metrics as m
from volspike_oi.actors import alert_evaluator
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut, Output
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import FanOutStatus
from volspike_oi.store.protocol import WriteBatch


def fan(*outputs: Output[int]) -> FanOut[int]:
    return FanOut("samples", outputs, FanOutStatus(), Metrics(), WallClock(1000.0, 0.0))


async def test_a_full_non_critical_output_loses_the_item_alone_and_counts_it():
    full_tx, full_rx = trio.open_memory_channel[int](1)
    ok_tx, ok_rx = trio.open_memory_channel[int](10)
    out = fan(Output("alert_evaluator", full_tx, critical=False), Output("web", ok_tx, False))
    for i in range(5):
        with trio.fail_after(1):
            await out.send(i)
    assert [full_rx.receive_nowait()] == [0]
    assert [ok_rx.receive_nowait() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert out.status.dropped == {"alert_evaluator": 4}
    assert out.metrics.get('samples_dropped_total{consumer="alert_evaluator"}') == 4


async def test_a_full_critical_output_holds_the_producer_and_says_whom_it_waits_on(
    autojump_clock,
):
    tx, rx = trio.open_memory_channel[int](0)
    out = fan(Output("store_writer", tx, critical=True))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(out.send, 1)
        await trio.sleep(5)
        assert out.status.waiting_since == {"store_writer": 1000.0}
        assert await rx.receive() == 1
    assert out.status.waiting_since == {}
    assert out.status.dropped == {}


class CountingStore(EmptyStore):
    """Stores nothing, counts the samples written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    async def write(self, batch: WriteBatch) -> int:
        self.written += len(batch.samples)
        return len(batch.samples)


async def stuck_evaluator(samples_in, outs, *args, task_status=trio.TASK_STATUS_IGNORED, **kw):
    """An alert evaluator that never reads (a hung one; a crash-looping one reads as little)."""
    task_status.started()
    await trio.sleep_forever()


@pytest.mark.parametrize("stuck", [False, True], ids=["healthy", "stuck_evaluator"])
async def test_an_alert_evaluator_that_never_reads_costs_polling_storage_and_the_feed_nothing(
    nursery, autojump_clock, monkeypatch, stuck
):
    if stuck:
        monkeypatch.setattr(alert_evaluator, "run", stuck_evaluator)
    store = CountingStore()
    stack = await start_stack(nursery, env=NO_STREAM, store=store)
    service = stack.service
    await trio.sleep(60)  # the plan settles, the evaluator's 1024-sample buffer fills
    polls_before = service.metrics.get(m.OI_POLLS)
    await trio.sleep(4 * 60)
    polls_per_min = (service.metrics.get(m.OI_POLLS) - polls_before) / 4
    plan = service.poller.plan
    assert plan is not None
    assert polls_per_min >= 0.95 * plan.polls_per_min, (polls_per_min, plan.polls_per_min)
    await trio.sleep(2)  # the writer's last flush
    polls = service.metrics.get(m.OI_POLLS)
    recorded = sum(len(v) for v in stack.recorder.samples.values())
    assert math.isclose(store.written, polls, abs_tol=64)
    assert math.isclose(recorded, polls, abs_tol=64)
    assert service.poller.outputs.dropped.get("web_feed", 0) == 0
    fresh = len(service.web.freshest(service.clock.now()))
    assert fresh >= 0.99 * len(service.poller.last_poll_at), (
        fresh,
        len(service.poller.last_poll_at),
    )
    dropped = service.poller.outputs.dropped.get("alert_evaluator", 0)
    assert dropped == service.metrics.get(m.dropped("samples", "alert_evaluator"))
    if stuck:
        assert dropped >= polls - 1024 - 64
    else:
        assert dropped == 0
    assert service.poller.outputs.waiting_since == {}
