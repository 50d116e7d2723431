"""The service: one nursery of supervised actors wired by memory channels.

    exchange_info ──TrackedPerpetuals──▶ classifier ──UniverseUpdate──▶ oi_poller ──OiSample──▶ alert_evaluator ──OiAlert──▶ (subscribers)
                                                    └─UniverseUpdate──▶ status          ▲ reads MarkPriceBook ◀── mark_prices
Start order follows the data (consumers first, so no message waits on a missing reader);
shutdown cancels the one nursery, producers and consumers together. See ARCHITECTURE.md.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import attrs
import httpx
import trio

from volspike_oi.actors import (
    alert_evaluator,
    backfill,
    classifier,
    exchange_info,
    forwarder,
    http_server,
    mark_prices,
    oi_poller,
    store_writer,
    web_feed,
)
from volspike_oi.actors import status as status_actor
from volspike_oi.actors.alert_evaluator import AlertState
from volspike_oi.actors.forwarder import ForwarderStatus
from volspike_oi.actors.oi_poller import PollerStatus
from volspike_oi.actors.status import ServiceStatus
from volspike_oi.actors.store_writer import WriterStatus
from volspike_oi.alerts import AlertRules
from volspike_oi.budget import WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.config import Settings
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import (
    HistoryBackfill,
    OiAlert,
    OiSample,
    TrackedPerpetuals,
    UniverseUpdate,
)
from volspike_oi.metrics import Metrics
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.protocol import Store
from volspike_oi.supervisor import ActorHealth, supervise
from volspike_oi.universe import Thresholds
from volspike_oi.web.app import WebContext
from volspike_oi.web.hub import Hub
from volspike_oi.web.state import WebState

log = logging.getLogger(__name__)

TRACKED_BUFFER = 4
"""exchangeInfo arrives every 15 min; a tiny buffer is plenty and keeps backpressure prompt."""
UNIVERSE_BUFFER = 8
SAMPLE_BUFFER = 1024
"""~35 samples/s at full rate: 30 s of slack for the evaluator before the poller waits."""
ALERT_BUFFER = 256
STORE_BUFFER = 4096
"""The writer only appends to its own (bounded, counted) buffer, so this rarely fills."""
FORWARD_BUFFER = 4096
"""Like the writer, the forwarder only appends to its own bounded buffers."""
WARM_START_S = 65 * 60
"""Samples loaded from Postgres at start: the 60–30 min baseline window and a margin."""


@attrs.define
class Service:
    """Handles to every published snapshot, returned by `run` once the actors are started."""

    settings: Settings
    clock: WallClock
    budget: WeightBudget
    metrics: Metrics
    book: MarkPriceBook
    poller: PollerStatus
    alerts: AlertState
    status: ServiceStatus
    health: dict[str, ActorHealth]
    writer: WriterStatus = attrs.Factory(WriterStatus)
    forwarder: ForwarderStatus = attrs.Factory(ForwarderStatus)
    web: WebState = attrs.Factory(WebState)
    hub: Hub = attrs.Factory(Hub)
    http_binds: list[str] = attrs.Factory(list)
    """Where the HTTP API listens, once started (["http://127.0.0.1:8080"])."""


def alert_rules(settings: Settings) -> AlertRules:
    return AlertRules(
        spike_pct=settings.oi_spike_threshold_pct,
        dump_pct=settings.oi_dump_threshold_pct,
        min_delta_contracts=settings.oi_min_delta_contracts,
        min_delta_usd=settings.oi_min_delta_usd,
        baseline_from_s=settings.oi_baseline_from_min * 60,
        baseline_to_s=settings.oi_baseline_to_min * 60,
        cooldown_s=settings.oi_alert_cooldown_sec,
    )


async def run(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    forward_transport: httpx.AsyncBaseTransport | None = None,
    clock: WallClock | None = None,
    rng: random.Random | None = None,
    store: Store | None = None,
    sample_subscribers: Sequence[trio.MemorySendChannel[OiSample]] = (),
    alert_subscribers: Sequence[trio.MemorySendChannel[OiAlert]] = (),
    task_status: trio.TaskStatus[Service] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run every enabled actor until cancelled; reports a `Service` once they are started."""
    clock = clock or WallClock.starting_now()
    rng = rng or random.Random()
    metrics = Metrics()
    budget = WeightBudget(
        ip_limit_per_min=settings.binance_weight_limit,
        oi_per_min=settings.max_req_per_min,
        margin=settings.binance_safety_margin_pct,
    )
    book = MarkPriceBook(max_age_s=settings.mark_price_max_age_sec)
    service = Service(
        settings, clock, budget, metrics, book, PollerStatus(), AlertState(), ServiceStatus(), {}
    )
    tracked_tx, tracked_rx = trio.open_memory_channel[TrackedPerpetuals](TRACKED_BUFFER)
    poller_universe_tx, poller_universe_rx = trio.open_memory_channel[UniverseUpdate](
        UNIVERSE_BUFFER
    )
    status_universe_tx, status_universe_rx = trio.open_memory_channel[UniverseUpdate](
        UNIVERSE_BUFFER
    )
    backfill_universe_tx, backfill_universe_rx = trio.open_memory_channel[UniverseUpdate](
        UNIVERSE_BUFFER
    )
    store_universe_tx, store_universe_rx = trio.open_memory_channel[UniverseUpdate](UNIVERSE_BUFFER)
    samples_tx, samples_rx = trio.open_memory_channel[OiSample | HistoryBackfill](SAMPLE_BUFFER)
    store_samples_tx, store_samples_rx = trio.open_memory_channel[OiSample](STORE_BUFFER)
    store_alerts_tx, store_alerts_rx = trio.open_memory_channel[OiAlert](ALERT_BUFFER)
    forward_samples_tx, forward_samples_rx = trio.open_memory_channel[OiSample](FORWARD_BUFFER)
    forward_alerts_tx, forward_alerts_rx = trio.open_memory_channel[OiAlert](ALERT_BUFFER)
    web_samples_tx, web_samples_rx = trio.open_memory_channel[OiSample](SAMPLE_BUFFER)
    web_alerts_tx, web_alerts_rx = trio.open_memory_channel[OiAlert](ALERT_BUFFER)
    web_universe_tx, web_universe_rx = trio.open_memory_channel[UniverseUpdate](UNIVERSE_BUFFER)
    alerts_enabled = settings.oi_alerts_enabled
    storing = store is not None
    serving = settings.http_enabled
    forward_targets = [u for u in (settings.volspike_api_url, settings.volspike_api_url_dev) if u]
    forwarding = bool(forward_targets)
    # A disabled consumer is left out of its producers' outputs: nobody would read its channel.
    sample_outs: list[trio.MemorySendChannel[OiSample]] = [
        *([samples_tx] if alerts_enabled else []),
        *([store_samples_tx] if storing else []),
        *([forward_samples_tx] if forwarding else []),
        *([web_samples_tx] if serving else []),
        *sample_subscribers,
    ]
    alert_outs: list[trio.MemorySendChannel[OiAlert]] = [
        *([store_alerts_tx] if storing else []),
        *([forward_alerts_tx] if forwarding else []),
        *([web_alerts_tx] if serving else []),
        *alert_subscribers,
    ]
    universe_outs: list[trio.MemorySendChannel[UniverseUpdate]] = [
        *([poller_universe_tx] if settings.oi_realtime_enabled else []),
        *([backfill_universe_tx] if alerts_enabled else []),
        *([store_universe_tx] if storing else []),
        *([web_universe_tx] if serving else []),
        status_universe_tx,
    ]
    channels: list[trio.abc.AsyncResource] = [
        tracked_tx,
        tracked_rx,
        poller_universe_tx,
        poller_universe_rx,
        status_universe_tx,
        status_universe_rx,
        backfill_universe_tx,
        backfill_universe_rx,
        store_universe_tx,
        store_universe_rx,
        samples_tx,
        samples_rx,
        store_samples_tx,
        store_samples_rx,
        store_alerts_tx,
        store_alerts_rx,
        forward_samples_tx,
        forward_samples_rx,
        forward_alerts_tx,
        forward_alerts_rx,
        web_samples_tx,
        web_samples_rx,
        web_alerts_tx,
        web_alerts_rx,
        web_universe_tx,
        web_universe_rx,
    ]
    async with contextlib.AsyncExitStack() as stack:
        # The root owns every channel (actors never close one, so a restart keeps them open);
        # they close after the nursery, in reverse order of opening.
        for channel in channels:
            await stack.enter_async_context(channel)
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, headers={"Accept-Encoding": "gzip"})
        )
        # The backend gets its own client: its timeouts and failures are not Binance's.
        forward_http = await stack.enter_async_context(
            httpx.AsyncClient(transport=forward_transport, timeout=forwarder.HTTP_TIMEOUT_S)
        )
        nursery = await stack.enter_async_context(trio.open_nursery())
        client = BinanceClient(
            http,
            budget,
            clock,
            metrics,
            fapi_url=settings.binance_fapi_url,
            proxy_url=settings.binance_proxy_url,
            rng=rng,
        )

        async def start(
            name: str,
            actor: Callable[..., Awaitable[None]],
            critical: bool,
            enabled: bool = True,
            **kw: object,
        ) -> None:
            health = service.health[name] = ActorHealth(name, critical)
            if not enabled:
                health.state = "disabled"
                log.info("actor %s disabled", name)
                return
            bound = functools.partial(actor, **kw)
            await nursery.start(functools.partial(supervise, name, bound, health, metrics))

        await start(
            "status",
            status_actor.run,
            False,
            universe_in=status_universe_rx,
            status=service.status,
            poller=service.poller,
            budget=budget,
            book=book,
            metrics=metrics,
            clock=clock,
            every_s=settings.status_log_sec,
            writer=service.writer if store is not None else None,
        )
        await start(
            "web_feed",
            web_feed.run,
            False,
            enabled=serving,
            samples_in=web_samples_rx,
            alerts_in=web_alerts_rx,
            universe_in=web_universe_rx,
            state=service.web,
            hub=service.hub,
            poller=service.poller,
            clock=clock,
        )
        await start(
            "http",
            http_server.run,
            True,
            enabled=serving,
            ctx=WebContext(
                service,
                service.web,
                service.hub,
                store if isinstance(store, PostgresStore) else None,
                settings.volspike_api_key,
            ),
            host=settings.http_host,
            port=settings.http_port,
            binds_out=service.http_binds,
        )
        if store is not None:
            await start(
                "store_writer",
                store_writer.run,
                True,
                store=store,
                clock=clock,
                samples_in=store_samples_rx,
                alerts_in=store_alerts_rx,
                universe_in=store_universe_rx,
                status=service.writer,
                metrics=metrics,
            )
        await start(
            "forwarder",
            forwarder.run,
            False,
            enabled=forwarding,
            http=forward_http,
            targets=forward_targets,
            api_key=settings.volspike_api_key,
            samples_in=forward_samples_rx,
            alerts_in=forward_alerts_rx,
            clock=clock,
            metrics=metrics,
            status=service.forwarder,
            rng=rng,
        )
        await start(
            "alert_evaluator",
            alert_evaluator.run,
            False,
            enabled=alerts_enabled,
            samples_in=samples_rx,
            outs=alert_outs,
            state=service.alerts,
            metrics=metrics,
            rules=alert_rules(settings),
            history_hours=settings.oi_history_hours,
            min_interval_s=settings.min_interval_sec,
        )
        if store is not None and alerts_enabled:
            await _warm_start(store, clock, samples_tx)
        await start(
            "backfill",
            backfill.run,
            False,
            enabled=alerts_enabled,
            client=client,
            clock=clock,
            universe_in=backfill_universe_rx,
            out=samples_tx,
            state=service.alerts,
            metrics=metrics,
        )
        await start(
            "mark_prices",
            mark_prices.run,
            False,
            client=client,
            book=book,
            clock=clock,
            metrics=metrics,
            fstream_url=settings.binance_fstream_url,
            stream=settings.mark_price_stream,
            use_stream=settings.mark_price_stream_enabled,
            rng=rng,
        )
        await start(
            "oi_poller",
            oi_poller.run,
            True,
            enabled=settings.oi_realtime_enabled,
            client=client,
            budget=budget,
            clock=clock,
            book=book,
            metrics=metrics,
            universe_in=poller_universe_rx,
            outs=sample_outs,
            status=service.poller,
            min_interval_s=settings.min_interval_sec,
            max_interval_s=settings.max_interval_sec,
            rng=rng,
        )
        await start(
            "classifier",
            classifier.run,
            True,
            client=client,
            clock=clock,
            tracked_in=tracked_rx,
            outs=universe_outs,
            thresholds=Thresholds(
                settings.oi_liquid_enter_quote_24h, settings.oi_liquid_exit_quote_24h
            ),
            refresh_s=settings.universe_refresh_sec,
            liquidity_enabled=settings.oi_liquidity_job_enabled,
        )
        await start(
            "exchange_info",
            exchange_info.run,
            True,
            client=client,
            clock=clock,
            out=tracked_tx,
            refresh_s=settings.exchange_info_refresh_sec,
            include_tradfi=settings.oi_include_tradfi,
        )
        log.info(
            "volspike-oi started: %s",
            ", ".join(f"{n}={h.state}" for n, h in service.health.items()),
        )
        task_status.started(service)


async def _warm_start(
    store: Store, clock: WallClock, out: trio.MemorySendChannel[OiSample | HistoryBackfill]
) -> None:
    """Reload the last hour of samples so alerts work at once after a restart."""
    try:
        recent = await store.recent_samples(clock.now() - WARM_START_S)
    except Exception as exc:  # the database may be down at start; the service still runs
        log.warning("warm start skipped: cannot read recent samples (%s)", exc)
        return
    for symbol, samples in recent.items():
        await out.send(HistoryBackfill(symbol, tuple(samples), "postgres"))
    log.info(
        "warm start: %d samples of %d symbols from Postgres",
        sum(map(len, recent.values())),
        len(recent),
    )
