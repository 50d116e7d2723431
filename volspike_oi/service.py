"""The service: one nursery of supervised actors wired by memory channels.

    exchange_info ─TrackedPerpetuals─▶ classifier ─UniverseUpdate─┬▶ oi_poller ─OiSample─┬▶ alert_evaluator ─OiAlert─┬▶ store_writer
                                                                 ├▶ backfill ─HistoryBackfill─▶ ▲                   ├▶ forwarder
                                                                 ├▶ store_writer, web_feed, status                  └▶ web_feed ◀─Ingested─ http
    mark_prices ──▶ MarkPriceBook (read by oi_poller)                                  oi_poller ─OiSample─▶ store_writer, forwarder, web_feed

Start order follows the data (consumers first, so no message waits on a missing reader), the
HTTP API last. A stop request lets the API finish its in-flight requests, then cancels the
actors (the store writer and the forwarder flush on their way out). See ARCHITECTURE.md.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import httpx
import trio

from volspike_oi.actors import (
    aggregator,
    alert_evaluator,
    backfill,
    classifier,
    exchange_info,
    forwarder,
    http_server,
    mark_prices,
    oi_poller,
    store_writer,
    venue_feed,
    web_feed,
)
from volspike_oi.actors import status as status_actor
from volspike_oi.budget import WeightBudget
from volspike_oi.clock import WallClock, keep_anchored
from volspike_oi.config import Settings
from volspike_oi.fanout import FanOut, Output
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import (
    CoinBackfill,
    HistoryBackfill,
    Ingested,
    LiquidMember,
    OiAlert,
    OiSample,
    TrackedPerpetuals,
    UniverseUpdate,
)
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import (
    ActorHealth,
    AlertState,
    AssetState,
    ForwarderStatus,
    PollerStatus,
    ServiceStatus,
    VenueStatus,
    WebState,
    WriterStatus,
)
from volspike_oi.store.protocol import Store
from volspike_oi.supervisor import supervise
from volspike_oi.universe import Thresholds
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.venues.model import VenueClient, VenueHistory
from volspike_oi.venues.registry import open_client
from volspike_oi.web.handle import WebHandle
from volspike_oi.web.hub import Hub

log = logging.getLogger(__name__)

T = TypeVar("T")

TRACKED_BUFFER = 4
"""exchangeInfo arrives every 15 min; a tiny buffer is plenty and keeps backpressure prompt."""
UNIVERSE_BUFFER = 8
"""One update per refresh (≥ 10 s apart); a consumer this far behind should hold the classifier."""
SAMPLE_BUFFER = 1024
"""~35 samples/s at full rate: 30 s of slack for the evaluator (or web feed) before its
samples are dropped, counted; the poller never waits on them (fanout.py)."""
ALERT_BUFFER = 256
STORE_BUFFER = 4096
"""The writer only appends to its own (bounded, counted) buffer, so this rarely fills."""
FORWARD_BUFFER = 4096
"""Like the writer, the forwarder only records (the latest reading per symbol, bounded alerts)."""
VENUE_SAMPLE_BUFFER = 8192
"""The web feed's channel from the push venues: Bybit alone may send a few hundred readings a
second; the feed only records them, so this is seconds of slack, and a full one drops
(counted) rather than slowing a venue."""
VENUE_HTTP_TIMEOUT_S = 10.0
COIN_BACKFILL_BUFFER = 2048
"""One message per venue-symbol read back on a first start (~750 for Bybit and OKX)."""
AGGREGATE_BUFFER = 16384
"""Every venue's readings on their way to the aggregator, which only records them: seconds of
the push venues' full rate; a full buffer drops (counted), never slows a venue."""
INGEST_BUFFER = 16
"""Each ingest request waits for the web feed to apply its message, so few are ever queued."""
HTTP_STOP_MARGIN_S = 1.0
"""Beyond the API's graceful window, how long a stop waits for it before cancelling it."""

Channel = tuple[trio.MemorySendChannel[T], trio.MemoryReceiveChannel[T]]


@attrs.define
class Service:
    """Handles to every published snapshot, returned by `run` once the actors are started."""

    settings: Settings
    clock: WallClock
    budget: WeightBudget
    metrics: Metrics
    book: MarkPriceBook
    poller: PollerStatus = attrs.Factory(PollerStatus)
    alerts: AlertState = attrs.Factory(AlertState)
    status: ServiceStatus = attrs.Factory(ServiceStatus)
    health: dict[str, ActorHealth] = attrs.Factory(dict)
    writer: WriterStatus = attrs.Factory(WriterStatus)
    forwarder: ForwarderStatus = attrs.Factory(ForwarderStatus)
    web: WebState = attrs.Factory(WebState)
    venues: dict[str, VenueStatus] = attrs.Factory(dict)
    """Every venue feed beside Binance, by venue, in `OI_VENUES` order."""
    assets: AssetState = attrs.Factory(AssetState)
    hub: Hub = attrs.Factory(Hub)
    http_binds: list[str] = attrs.Factory(list)
    """Where the HTTP API listens, once started (["http://127.0.0.1:8080"])."""
    stop_reason: str | None = None
    """Why a stop was requested (None while running)."""
    _stop_requested: trio.Event = attrs.Factory(trio.Event)
    stopped: trio.Event = attrs.Factory(trio.Event)
    """Set when `run` has returned: every actor ended, the final flush done."""

    def web_handle(
        self, store: Store | None, ingest: trio.MemorySendChannel[Ingested]
    ) -> WebHandle:
        """What the web layer reads (these snapshots) and where it sends what clients post."""
        return WebHandle(
            clock=self.clock,
            metrics=self.metrics,
            budget=self.budget,
            book=self.book,
            poller=self.poller,
            alerts=self.alerts,
            status=self.status,
            writer=self.writer if store is not None else None,
            health=self.health,
            web=self.web,
            hub=self.hub,
            store=store,
            ingest=ingest,
            api_key=self.settings.volspike_api_key,
            allowed_origins=self.settings.allowed_origins,
            max_body_bytes=self.settings.http_max_body_bytes,
            venues=self.venues,
            venues_enabled=self.settings.oi_venues,
            assets=self.assets,
        )

    def request_stop(self, reason: str) -> None:
        """Stop gracefully: the API finishes its in-flight requests, then the actors end."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop_requested.set()


def _venue_client(
    venue: str, http: httpx.AsyncClient, settings: Settings
) -> tuple[VenueClient, VenueHistory | None]:
    """The client of a venue beside Binance on the URLs the settings name (and the same client
    as a history reader when the venue has a history endpoint)."""
    rest_url, ws_url = {
        "bybit": (settings.bybit_rest_url, settings.bybit_ws_url),
        "okx": (settings.okx_rest_url, settings.okx_ws_url),
        "deribit": (settings.deribit_url, settings.deribit_ws_url),
        "hyperliquid": (settings.hyperliquid_url, settings.hyperliquid_ws_url),
    }[venue]
    return open_client(venue, http, rest_url, ws_url)


def _owned(stack: contextlib.AsyncExitStack, channel: Channel[T]) -> Channel[T]:
    """`channel`, closed by the root when `stack` unwinds (after the actors' nursery): actors
    never close a channel, so a restarted actor finds its channels open."""
    send, receive = channel
    stack.push_async_callback(receive.aclose)
    stack.push_async_callback(send.aclose)
    return channel


async def _stored_liquid_set(store: Store | None) -> list[LiquidMember]:
    """The liquid set the last run left, to seed the classifier; empty (and logged) when the
    database cannot say: the set then rebuilds from the enter threshold, as on a first start."""
    if store is None:
        return []
    try:
        members = await store.liquid_members()
    except Exception as exc:
        log.warning("stored liquid set unreadable (%s); the classifier starts empty", exc)
        return []
    log.info("liquid set restored from the store: %d symbols", len(members))
    return members


async def run(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    forward_transport: httpx.AsyncBaseTransport | None = None,
    clock: WallClock | None = None,
    rng: random.Random | None = None,
    store: Store | None = None,
    venue_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    sample_subscribers: Sequence[trio.MemorySendChannel[OiSample]] = (),
    alert_subscribers: Sequence[trio.MemorySendChannel[OiAlert]] = (),
    task_status: trio.TaskStatus[Service] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run every enabled actor until cancelled or asked to stop (`Service.request_stop`);
    reports a `Service` once they are started. `transport` is Binance's (tests: the in-process
    simulator), `venue_transports` the other venues' by name."""
    clock = clock or WallClock.starting_now()
    rng = rng or random.Random()
    metrics = Metrics()
    budget = WeightBudget(
        ip_limit_per_min=settings.binance_weight_limit,
        oi_per_min=settings.max_req_per_min,
        margin=settings.binance_safety_margin_pct,
    )
    book = MarkPriceBook(max_age_s=settings.mark_price_max_age_sec)
    service = Service(settings, clock, budget, metrics, book)
    alerting = settings.oi_alerts_enabled
    storing = store is not None
    serving = settings.http_enabled
    forward_targets = [u for u in (settings.volspike_api_url, settings.volspike_api_url_dev) if u]
    forwarding = bool(forward_targets)
    # Without Binance in OI_VENUES its actors are off; alerts and the forwarder then idle.
    binance_on = "binance" in settings.oi_venues

    try:
        async with contextlib.AsyncExitStack() as stack:

            def channel(size: int, _: type[T]) -> Channel[T]:
                return _owned(stack, trio.open_memory_channel[T](size))

            tracked_tx, tracked_rx = channel(TRACKED_BUFFER, TrackedPerpetuals)
            poller_universe_tx, poller_universe_rx = channel(UNIVERSE_BUFFER, UniverseUpdate)
            status_universe_tx, status_universe_rx = channel(UNIVERSE_BUFFER, UniverseUpdate)
            backfill_universe_tx, backfill_universe_rx = channel(UNIVERSE_BUFFER, UniverseUpdate)
            store_universe_tx, store_universe_rx = channel(UNIVERSE_BUFFER, UniverseUpdate)
            web_universe_tx, web_universe_rx = channel(UNIVERSE_BUFFER, UniverseUpdate)
            evaluator_tx, evaluator_rx = _owned(
                stack, trio.open_memory_channel[OiSample | HistoryBackfill](SAMPLE_BUFFER)
            )
            store_samples_tx, store_samples_rx = channel(STORE_BUFFER, OiSample)
            forward_samples_tx, forward_samples_rx = channel(FORWARD_BUFFER, OiSample)
            web_samples_tx, web_samples_rx = channel(SAMPLE_BUFFER, OiSample)
            venue_web_tx, venue_web_rx = channel(VENUE_SAMPLE_BUFFER, OiSample)
            aggregate_tx, aggregate_rx = channel(AGGREGATE_BUFFER, OiSample)
            coin_backfill_tx, coin_backfill_rx = channel(COIN_BACKFILL_BUFFER, CoinBackfill)
            store_alerts_tx, store_alerts_rx = channel(ALERT_BUFFER, OiAlert)
            forward_alerts_tx, forward_alerts_rx = channel(ALERT_BUFFER, OiAlert)
            web_alerts_tx, web_alerts_rx = channel(ALERT_BUFFER, OiAlert)
            ingest_tx, ingest_rx = channel(INGEST_BUFFER, Ingested)
            # A disabled consumer is left out of its producers' outputs: nobody reads its channel.
            # Only the store writer (and a test's subscriber) may hold a producer back; a stuck
            # or crash-looping evaluator, forwarder or web feed loses items, counted (fanout.py).
            sample_outs = FanOut[OiSample](
                "samples",
                [
                    *(
                        [Output[OiSample]("alert_evaluator", evaluator_tx, False)]
                        if alerting
                        else []
                    ),
                    *([Output("store_writer", store_samples_tx, True)] if storing else []),
                    *([Output("forwarder", forward_samples_tx, False)] if forwarding else []),
                    *([Output("web_feed", web_samples_tx, False)] if serving else []),
                    Output("aggregator", aggregate_tx, False),
                    *(
                        Output(f"subscriber{i}", tx, True)
                        for i, tx in enumerate(sample_subscribers)
                    ),
                ],
                service.poller.outputs,
                metrics,
                clock,
            )
            alert_outs = FanOut[OiAlert](
                "alerts",
                [
                    *([Output("store_writer", store_alerts_tx, True)] if storing else []),
                    *([Output("forwarder", forward_alerts_tx, False)] if forwarding else []),
                    *([Output("web_feed", web_alerts_tx, False)] if serving else []),
                    *(Output(f"subscriber{i}", tx, True) for i, tx in enumerate(alert_subscribers)),
                ],
                service.alerts.outputs,
                metrics,
                clock,
            )
            universe_outs: list[trio.MemorySendChannel[UniverseUpdate]] = [
                *([poller_universe_tx] if settings.oi_realtime_enabled else []),
                *([backfill_universe_tx] if alerting else []),
                *([store_universe_tx] if storing else []),
                *([web_universe_tx] if serving else []),
                status_universe_tx,
            ]

            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, headers={"Accept-Encoding": "gzip"})
            )
            # The backend gets its own client: its timeouts and failures are not Binance's.
            forward_http = await stack.enter_async_context(
                httpx.AsyncClient(transport=forward_transport, timeout=forwarder.HTTP_TIMEOUT_S)
            )
            client = BinanceClient(
                http,
                budget,
                clock,
                metrics,
                fapi_url=settings.binance_fapi_url,
                proxy_url=settings.binance_proxy_url,
                rng=rng,
            )
            actors = await stack.enter_async_context(trio.open_nursery())
            # Follow the system clock when it is stepped (returns at once for a fixed anchor).
            actors.start_soon(keep_anchored, clock)

            async def start(
                nursery: trio.Nursery,
                name: str,
                actor: Callable[..., Awaitable[None]],
                *,
                critical: bool,
                enabled: bool = True,
            ) -> Any:
                """Start `actor` (arguments bound with functools.partial, which mypy checks)
                under supervision; returns what it hands to `task_status.started`."""
                health = service.health[name] = ActorHealth(name, critical)
                if not enabled:
                    health.state = "disabled"
                    log.info("actor %s disabled", name)
                    return None
                return await nursery.start(
                    functools.partial(supervise, name, actor, health, metrics)
                )

            await start(
                actors,
                "status",
                functools.partial(
                    status_actor.run,
                    status_universe_rx,
                    service.status,
                    service.poller,
                    budget,
                    book,
                    metrics,
                    clock,
                    every_s=settings.status_log_sec,
                    writer=service.writer if storing else None,
                    health=service.health,
                    venues=service.venues,
                ),
                critical=False,
            )
            await start(
                actors,
                "web_feed",
                functools.partial(
                    web_feed.run,
                    web_samples_rx,
                    venue_web_rx,
                    web_alerts_rx,
                    web_universe_rx,
                    ingest_rx,
                    service.web,
                    service.hub,
                    service.poller,
                    clock,
                ),
                critical=False,
                enabled=serving,
            )
            if store is not None:
                await start(
                    actors,
                    "store_writer",
                    functools.partial(
                        store_writer.run,
                        store,
                        clock,
                        store_samples_rx,
                        store_alerts_rx,
                        store_universe_rx,
                        service.writer,
                        metrics,
                        retention_days=settings.oi_retention_days,
                    ),
                    critical=True,
                )
            await start(
                actors,
                "forwarder",
                functools.partial(
                    forwarder.run,
                    forward_http,
                    forward_targets,
                    settings.volspike_api_key,
                    forward_samples_rx,
                    forward_alerts_rx,
                    clock,
                    metrics,
                    service.forwarder,
                    interval_s=settings.forward_interval_sec,
                    rng=rng,
                ),
                critical=False,
                enabled=forwarding,
            )
            await start(
                actors,
                "alert_evaluator",
                functools.partial(
                    alert_evaluator.run,
                    evaluator_rx,
                    alert_outs,
                    service.alerts,
                    metrics,
                    clock,
                    rules=alert_evaluator.alert_rules(settings),
                    history_hours=settings.oi_history_hours,
                    min_interval_s=settings.min_interval_sec,
                    store=store,
                ),
                critical=False,
                enabled=alerting,
            )
            await start(
                actors,
                "aggregator",
                functools.partial(
                    aggregator.run,
                    aggregate_rx,
                    service.assets,
                    service.venues,
                    binance_on,
                    FanOut[OiAlert](
                        "alerts",
                        [
                            *([Output("store_writer", store_alerts_tx, True)] if storing else []),
                            *(
                                [Output("forwarder", forward_alerts_tx, False)]
                                if forwarding
                                else []
                            ),
                            *([Output("web_feed", web_alerts_tx, False)] if serving else []),
                            *(
                                Output(f"subscriber{i}", tx, True)
                                for i, tx in enumerate(alert_subscribers)
                            ),
                        ],
                        service.assets.outputs,
                        metrics,
                        clock,
                    )
                    if alerting
                    else None,
                    service.hub if serving else None,
                    clock,
                    metrics,
                    rules=alert_evaluator.alert_rules(settings),
                    store=store,
                    backfill_in=coin_backfill_rx,
                ),
                critical=False,
            )
            if store is not None and alerting:
                await backfill.warm_start(store, clock, evaluator_tx)
            await start(
                actors,
                "backfill",
                functools.partial(
                    backfill.run,
                    client,
                    clock,
                    backfill_universe_rx,
                    evaluator_tx,
                    service.alerts,
                    metrics,
                    coin_out=coin_backfill_tx,
                ),
                critical=False,
                enabled=alerting and binance_on,
            )
            await start(
                actors,
                "mark_prices",
                functools.partial(
                    mark_prices.run,
                    client,
                    book,
                    clock,
                    metrics,
                    fstream_url=settings.binance_fstream_url,
                    stream=settings.mark_price_stream,
                    use_stream=settings.mark_price_stream_enabled,
                    rng=rng,
                ),
                critical=False,
                enabled=binance_on,
            )
            await start(
                actors,
                "oi_poller",
                functools.partial(
                    oi_poller.run,
                    client,
                    budget,
                    clock,
                    book,
                    metrics,
                    poller_universe_rx,
                    sample_outs,
                    service.poller,
                    min_interval_s=settings.min_interval_sec,
                    max_interval_s=settings.max_interval_sec,
                    rng=rng,
                ),
                critical=True,
                enabled=settings.oi_realtime_enabled and binance_on,
            )
            await start(
                actors,
                "classifier",
                functools.partial(
                    classifier.run,
                    client,
                    clock,
                    tracked_rx,
                    universe_outs,
                    thresholds=Thresholds(
                        settings.oi_liquid_enter_quote_24h, settings.oi_liquid_exit_quote_24h
                    ),
                    refresh_s=settings.universe_refresh_sec,
                    liquidity_enabled=settings.oi_liquidity_job_enabled,
                    seed=await _stored_liquid_set(store),
                ),
                critical=True,
                enabled=binance_on,
            )
            await start(
                actors,
                "exchange_info",
                functools.partial(
                    exchange_info.run,
                    client,
                    clock,
                    tracked_tx,
                    refresh_s=settings.exchange_info_refresh_sec,
                    include_tradfi=settings.oi_include_tradfi,
                ),
                critical=True,
                enabled=binance_on,
            )
            for venue in settings.oi_venues:
                if venue == "binance":
                    continue
                venue_http = await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=(venue_transports or {}).get(venue),
                        timeout=VENUE_HTTP_TIMEOUT_S,
                        headers={"Accept-Encoding": "gzip"},
                    )
                )
                venue_client, venue_history = _venue_client(venue, venue_http, settings)
                status = service.venues[venue] = VenueStatus(venue)
                await start(
                    actors,
                    f"venue_{venue}",
                    functools.partial(
                        venue_feed.run,
                        venue_client,
                        status,
                        FanOut[OiSample](
                            "samples",
                            [
                                *([Output("web_feed", venue_web_tx, False)] if serving else []),
                                Output("aggregator", aggregate_tx, False),
                            ],
                            status.outputs,
                            metrics,
                            clock,
                        ),
                        FanOut[OiSample](
                            "samples",
                            [Output("store_writer", store_samples_tx, True)] if storing else [],
                            status.outputs,
                            metrics,
                            clock,
                        ),
                        clock,
                        metrics,
                        store_min_interval_s=settings.oi_store_min_interval_sec,
                        history=venue_history if alerting else None,
                        backfill=coin_backfill_tx,
                    ),
                    critical=False,
                )
            # The API runs in a nursery of its own, so a stop can end it (gracefully) first.
            async with trio.open_nursery() as front:
                http_stop = trio.Event()
                handle = service.web_handle(store, ingest_tx)
                binds = await start(
                    front,
                    "http",
                    functools.partial(
                        http_server.run,
                        handle,
                        settings.http_host,
                        settings.http_port,
                        stop=http_stop,
                    ),
                    critical=True,
                    enabled=serving,
                )
                service.http_binds[:] = binds or []
                log.info(
                    "volspike-oi started: %s",
                    ", ".join(f"{n}={h.state}" for n, h in service.health.items()),
                )
                task_status.started(service)
                await service._stop_requested.wait()
                log.info("stopping (%s)", service.stop_reason)
                http_stop.set()
                front.cancel_scope.deadline = (
                    trio.current_time() + http_server.GRACEFUL_SHUTDOWN_S + HTTP_STOP_MARGIN_S
                )
            actors.cancel_scope.cancel(reason=service.stop_reason)
    finally:
        service.stopped.set()
