"""A Hyperliquid perpetuals simulator: `POST /info` (`metaAndAssetCtxs`), its weight limit and
429s, faults, and the `activeAssetCtx` WebSocket at `WS_PATH`.

Public names: `HyperliquidSim` (the framework-free exchange), `HyperliquidSimSettings`, `serve`
(real HTTP/WebSocket on loopback), `WS_PATH`.
"""

from volspike_oi.sim.hyperliquid.app import serve
from volspike_oi.sim.hyperliquid.exchange import (
    WS_PATH,
    HyperliquidSim,
    HyperliquidSimSettings,
)

__all__ = ["WS_PATH", "HyperliquidSim", "HyperliquidSimSettings", "serve"]
