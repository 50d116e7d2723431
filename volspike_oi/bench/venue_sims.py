"""`python -m volspike_oi.bench.venue_sims`: the four push venues' simulators at full universe
size, for `bench/venues.py`, which runs this in a child process so that its own CPU is the
service side only.

Each simulator serves REST and its WebSocket on its own loopback port; once all four listen,
one JSON line on stdout gives, per venue, `{"rest": URL, "ws": URL}`. Then it runs until killed.

Universe sizes are the real venues' (late 2026): Bybit ~500 linear USDT perpetuals, OKX ~250
USDT swaps, Deribit its default catalog (BTC/ETH inverse and the USDC-linear perpetuals),
Hyperliquid ~200 perpetuals.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from volspike_oi.sim import bybit, deribit, hyperliquid, okx

SEED = 11
BYBIT_PERPETUALS = 500
OKX_USDT_SWAPS = 250
HYPERLIQUID_PERPS = 200
WS_PATHS = {
    "bybit": bybit.WS_PATH,
    "okx": okx.WS_PATH,
    "deribit": deribit.WS_PATH,
    "hyperliquid": hyperliquid.WS_PATH,
}


def okx_full(seed: int, start_ms: int, usdt_swaps: int) -> okx.OkxSim:
    """An OKX simulator listing `usdt_swaps` live USDT swaps (the majors and generated others)."""
    settings = okx.OkxSimSettings(seed=seed, start_ms=start_ms, extra_swaps=0)
    catalog = okx.OkxSim(settings).market.catalog
    majors = sum(1 for s in catalog if s.state == "live" and s.settle_ccy == "USDT")
    return okx.OkxSim(attrs.evolve(settings, extra_swaps=usdt_swaps - majors))


async def main() -> None:
    start_ms = int(time.time() * 1000)
    sims: dict[str, tuple[Any, Callable[..., Awaitable[None]]]] = {
        "bybit": (
            bybit.BybitSim(seed=SEED, perpetuals=BYBIT_PERPETUALS, start_ms=start_ms),
            bybit.serve,
        ),
        "okx": (okx_full(SEED, start_ms, OKX_USDT_SWAPS), okx.serve),
        "deribit": (deribit.DeribitSim(seed=SEED, start_epoch_ms=start_ms), deribit.serve),
        "hyperliquid": (
            hyperliquid.HyperliquidSim(
                hyperliquid.HyperliquidSimSettings(
                    seed=SEED, start_ms=start_ms, perps=HYPERLIQUID_PERPS
                )
            ),
            hyperliquid.serve,
        ),
    }
    urls: dict[str, dict[str, str]] = {}
    async with trio.open_nursery() as nursery:
        for venue, (sim, serve) in sims.items():
            binds = await nursery.start(serve, sim, "127.0.0.1", 0)
            rest = str(binds[0])
            urls[venue] = {"rest": rest, "ws": rest.replace("http://", "ws://") + WS_PATHS[venue]}
        print(json.dumps(urls), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)
