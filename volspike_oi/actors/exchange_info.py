"""Exchange-info actor: which USDT-M perpetuals trade now, every 15 minutes.

Reads exchangeInfo through the binance-proxy when `BINANCE_PROXY_URL` is set (from Binance
directly while the proxy fails: the client falls back and tries the proxy first again on every
refresh), else from Binance, keeps the contracts `is_tracked_perpetual` accepts and sends the set,
with its source, to the classifier. A failed fetch is logged with its reason and retried with
backoff; the last good set stays in force.
"""

from __future__ import annotations

import logging

import trio

from volspike_oi.clock import WallClock
from volspike_oi.messages import TrackedPerpetuals
from volspike_oi.universe import ContractInfo, is_tracked_perpetual
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.venues.binance.decode import ExchangeInfo
from volspike_oi.venues.binance.errors import ExchangeError

log = logging.getLogger(__name__)

RETRY_FIRST_S = 5.0
RETRY_MAX_S = 300.0


def tracked_symbols(info: ExchangeInfo, *, include_tradfi: bool) -> frozenset[str]:
    return frozenset(
        s.symbol
        for s in info.symbols
        if is_tracked_perpetual(
            ContractInfo(s.symbol, s.contract_type, s.status, s.quote_asset, s.margin_asset),
            include_tradfi=include_tradfi,
        )
    )


async def run(
    client: BinanceClient,
    clock: WallClock,
    out: trio.MemorySendChannel[TrackedPerpetuals],
    *,
    refresh_s: float,
    include_tradfi: bool,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    retry_s = RETRY_FIRST_S
    while True:
        try:
            info, source = await client.exchange_info()
        except ExchangeError as exc:
            log.error("exchangeInfo failed (%s); retrying in %.0f s", exc, retry_s)
            await trio.sleep(retry_s)
            retry_s = min(RETRY_MAX_S, retry_s * 2)
            continue
        retry_s = RETRY_FIRST_S
        symbols = tracked_symbols(info, include_tradfi=include_tradfi)
        log.info(
            "exchangeInfo from %s: %d contracts, %d tracked perpetuals",
            source,
            len(info.symbols),
            len(symbols),
        )
        await out.send(TrackedPerpetuals(symbols, clock.now(), source))
        await trio.sleep(refresh_s)
