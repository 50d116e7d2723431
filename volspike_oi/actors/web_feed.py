"""Web feed: owns the API's view of "now" and pushes live updates to WebSocket clients.

Samples (every venue's) update `WebState` at once and are pushed to the hub in batches every
`WS_BATCH_S` (one `oi` message per tick with the newest reading of each venue-symbol); alerts (kept in `WebState.recent_alerts`) and
universe changes are pushed as they come; a heartbeat goes to every client every
`WS_HEARTBEAT_S`. What clients post to the ingest routes arrives as `Ingested` and is served
the same way, its readings pushed at once.
"""

from __future__ import annotations

import json

import trio

from volspike_oi.clock import WallClock
from volspike_oi.messages import Ingested, OiAlert, OiSample, UniverseUpdate
from volspike_oi.snapshots import PollerStatus, WebState
from volspike_oi.views import alert_view, iso, sample_view, universe_view
from volspike_oi.web.contract import WS_BATCH_S, WS_HEARTBEAT_S
from volspike_oi.web.hub import Hub
from volspike_oi.web.ws_ops import WsHeartbeatEvent
from volspike_oi.wire import to_json


async def run(
    samples_in: trio.MemoryReceiveChannel[OiSample],
    venue_samples_in: trio.MemoryReceiveChannel[OiSample],
    alerts_in: trio.MemoryReceiveChannel[OiAlert],
    universe_in: trio.MemoryReceiveChannel[UniverseUpdate],
    ingest_in: trio.MemoryReceiveChannel[Ingested],
    state: WebState,
    hub: Hub,
    poller: PollerStatus,
    clock: WallClock,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    # The newest reading per (venue, symbol) since the last batch: a push venue updates a
    # symbol up to ten times a second, and a client needs only the last value of each tick.
    pending: dict[tuple[str, str], OiSample] = {}

    def publish_alert(alert: OiAlert) -> None:
        state.recent_alerts.append(alert)
        hub.publish(
            "alerts", "open_interest_alert", to_json(alert_view(alert)), symbol=alert.symbol
        )

    async def take_samples(channel: trio.MemoryReceiveChannel[OiSample]) -> None:
        async for sample in channel:
            state.record(sample)
            pending[sample.venue, sample.symbol] = sample

    async def push_batches() -> None:
        while True:
            await trio.sleep(WS_BATCH_S)
            if pending:
                now = clock.now()
                rows = [to_json(sample_view(s, now)) for s in pending.values()]
                pending.clear()
                hub.publish_oi(rows)

    async def take_alerts() -> None:
        async for alert in alerts_in:
            publish_alert(alert)

    async def take_ingested() -> None:
        async for ingested in ingest_in:
            for sample in ingested.samples:
                state.record(sample)
            now = clock.now()
            if hub.wants("oi"):  # a whole snapshot (650 rows) is not rendered for nobody
                hub.publish_oi(to_json(sample_view(s, now)) for s in ingested.samples)
            for alert in ingested.alerts:
                publish_alert(alert)
            ingested.applied.set()

    async def take_universe() -> None:
        async for update in universe_in:
            if update.entered or update.exited:
                view = universe_view(update, poller.plan, poller.achieved_interval_s())
                hub.publish("universe", "universe", to_json(view))

    async def heartbeat() -> None:
        while True:
            await trio.sleep(WS_HEARTBEAT_S)
            hub.broadcast(json.dumps(to_json(WsHeartbeatEvent(timestamp=iso(clock.now())))))

    async with trio.open_nursery() as nursery:
        # Binance's samples and the push venues' come on separate channels, so a burst of
        # pushed readings never delays (or drops) a Binance poll on its way to the API.
        nursery.start_soon(take_samples, samples_in)
        nursery.start_soon(take_samples, venue_samples_in)
        for task in (
            push_batches,
            take_alerts,
            take_ingested,
            take_universe,
            heartbeat,
        ):
            nursery.start_soon(task)
        task_status.started()
