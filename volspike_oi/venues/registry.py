"""Every venue beside Binance by name: its client on given URLs, and whether it reads history.

The one place that knows all venue packages (a venue itself never imports another); the service
names the URLs from its settings.
"""

from __future__ import annotations

import httpx

from volspike_oi.venues.model import VenueClient, VenueHistory


def open_client(
    venue: str, http: httpx.AsyncClient, rest_url: str, ws_url: str
) -> tuple[VenueClient, VenueHistory | None]:
    """The venue's client, and the same client as a history reader when the venue has a history
    endpoint (Bybit, OKX); imports only the venue asked for."""
    if venue == "bybit":
        from volspike_oi.venues.bybit.client import BybitClient

        bybit = BybitClient(http, rest_url, ws_url)
        return bybit, bybit
    if venue == "okx":
        from volspike_oi.venues.okx.client import OkxClient

        okx = OkxClient(http, rest_url, ws_url)
        return okx, okx
    if venue == "deribit":
        from volspike_oi.venues.deribit.client import DeribitClient

        return DeribitClient(http, rest_url, ws_url), None
    if venue == "hyperliquid":
        from volspike_oi.venues.hyperliquid.client import HyperliquidClient

        return HyperliquidClient(http, rest_url, ws_url), None
    raise ValueError(f"no client for venue {venue!r}")
