"""`WebHandle`: exactly what the web layer reads and where it sends what clients post.

The service builds one and passes it to `create_app`; the web layer never imports the service
or an actor. Everything but the ingest channel is a published snapshot, read, never written.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import trio

from volspike_oi.budget import WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import Ingested
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import (
    ActorHealth,
    AlertState,
    AssetState,
    PollerStatus,
    ServiceStatus,
    VenueStatus,
    WebState,
    WriterStatus,
)
from volspike_oi.store.protocol import Store
from volspike_oi.web.hub import Hub

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""HTTP_MAX_BODY_BYTES's default (a 650-symbol snapshot is ~80 KB)."""


@attrs.frozen
class WebHandle:
    clock: WallClock
    metrics: Metrics
    budget: WeightBudget
    book: MarkPriceBook
    poller: PollerStatus
    alerts: AlertState
    """Ring-buffer histories: `/samples` reads them when there is no store."""
    status: ServiceStatus
    writer: WriterStatus | None
    """None without a store."""
    health: Mapping[str, ActorHealth]
    web: WebState
    hub: Hub
    store: Store | None
    """Ingest writes through it and the history routes read it; None keeps memory only."""
    ingest: trio.MemorySendChannel[Ingested]
    """To the web feed, which owns `web` and the hub's publishing."""
    api_key: str | None
    """VOLSPIKE_API_KEY; None refuses every ingest."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """HTTP_MAX_BODY_BYTES: a larger request body is answered 413 (before it is read when its
    Content-Length says so)."""
    venues: Mapping[str, VenueStatus] = attrs.field(factory=dict)
    """The other venues' feeds (Binance's is `poller`), by venue, in `OI_VENUES` order."""
    venues_enabled: tuple[str, ...] = ("binance",)
    assets: AssetState = attrs.field(factory=AssetState)
    """Every asset summed across venues (the aggregator's)."""
    """OI_VENUES: the venues this service tracks."""
    allowed_origins: tuple[str, ...] = ()
    """ALLOWED_ORIGINS: browser origins answered with CORS on GET routes and let into /ws;
    empty = same origin only."""
