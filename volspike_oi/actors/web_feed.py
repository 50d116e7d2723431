"""Web feed: keeps the API's view of "now" and pushes live updates to WebSocket clients.

Samples update `WebState` at once and are pushed to the hub in batches every `BATCH_S` (one
`oi` message per tick instead of one per poll); alerts and universe changes are pushed as they
come; a heartbeat goes to every client every `HEARTBEAT_S`.
"""

from __future__ import annotations

import json

import trio

from volspike_oi.actors.oi_poller import PollerStatus
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample, UniverseUpdate
from volspike_oi.web.hub import Hub
from volspike_oi.web.state import WebState, alert_view, iso, sample_view, universe_view

BATCH_S = 0.25
HEARTBEAT_S = 15.0


async def run(
    samples_in: trio.MemoryReceiveChannel[OiSample],
    alerts_in: trio.MemoryReceiveChannel[OiAlert],
    universe_in: trio.MemoryReceiveChannel[UniverseUpdate],
    state: WebState,
    hub: Hub,
    poller: PollerStatus,
    clock: WallClock,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    pending: list[OiSample] = []

    async def take_samples() -> None:
        async for sample in samples_in:
            state.record(sample)
            pending.append(sample)

    async def push_batches() -> None:
        while True:
            await trio.sleep(BATCH_S)
            if pending:
                now = clock.now()
                rows = [sample_view(s, now) for s in pending]
                pending.clear()
                hub.publish_oi(rows)

    async def take_alerts() -> None:
        async for alert in alerts_in:
            hub.publish("alerts", "open_interest_alert", alert_view(alert), symbol=alert.symbol)

    async def take_universe() -> None:
        async for update in universe_in:
            if update.entered or update.exited:
                view = universe_view(update, poller.plan, poller.achieved_interval_s())
                hub.publish("universe", "universe", view)

    async def heartbeat() -> None:
        while True:
            await trio.sleep(HEARTBEAT_S)
            hub.broadcast(json.dumps({"event": "heartbeat", "timestamp": iso(clock.now())}))

    async with trio.open_nursery() as nursery:
        for task in (take_samples, push_batches, take_alerts, take_universe, heartbeat):
            nursery.start_soon(task)
        task_status.started()
