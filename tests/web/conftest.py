"""The web layer in memory: `create_app` over a `Service`'s snapshots, driven by quart's test
client (no sockets), with the real web feed applying what clients post."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import trio

from volspike_oi.actors import web_feed
from volspike_oi.budget import WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.config import Settings
from volspike_oi.envconfig import load
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import Ingested, OiAlert, OiSample, UniverseUpdate
from volspike_oi.metrics import Metrics
from volspike_oi.service import Service
from volspike_oi.store.protocol import Store
from volspike_oi.web.app import create_app
from volspike_oi.web.handle import WebHandle

API_KEY = "test-key-0123456789"


def make_service(clock: WallClock) -> Service:
    """A Service with every published snapshot at its start value, as `service.run` builds it
    (no actor runs: a test sets the snapshots it needs)."""
    settings = load(Settings, {})
    return Service(
        settings=settings,
        clock=clock,
        budget=WeightBudget(ip_limit_per_min=settings.binance_weight_limit),
        metrics=Metrics(),
        book=MarkPriceBook(),
    )


def web_handle(
    service: Service,
    ingest: trio.MemorySendChannel[Ingested],
    *,
    api_key: str | None = API_KEY,
    store: Store | None = None,
) -> WebHandle:
    """What `service.run` hands the web layer, with the test's API key."""
    return attrs.evolve(service.web_handle(store, ingest), api_key=api_key)


def unfed_app(service: Service, api_key: str | None = API_KEY, store: Store | None = None) -> Any:
    """An app whose ingest nobody applies: for routes that never post."""
    ingest, _ = trio.open_memory_channel[Ingested](1)
    return create_app(web_handle(service, ingest, api_key=api_key, store=store))


async def start_feed(nursery: trio.Nursery, service: Service) -> trio.MemorySendChannel[Ingested]:
    """The real web feed over `service`'s snapshots, running in `nursery` (cancel it to stop);
    returns the channel the web layer posts ingested data to."""
    ingest_tx, ingest_rx = trio.open_memory_channel[Ingested](16)
    _samples_tx, samples_rx = trio.open_memory_channel[OiSample](0)
    _alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](0)
    _universe_tx, universe_rx = trio.open_memory_channel[UniverseUpdate](0)
    await nursery.start(
        functools.partial(
            web_feed.run,
            samples_rx,
            trio.open_memory_channel[OiSample](0)[1],
            alerts_rx,
            universe_rx,
            ingest_rx,
            service.web,
            service.hub,
            service.poller,
            service.clock,
        )
    )
    return ingest_tx


async def start_app(
    nursery: trio.Nursery,
    service: Service,
    *,
    api_key: str | None = API_KEY,
    store: Store | None = None,
) -> Any:
    """An app with the real web feed running in `nursery` (cancel it to stop)."""
    ingest = await start_feed(nursery, service)
    return create_app(web_handle(service, ingest, api_key=api_key, store=store))
