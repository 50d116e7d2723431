"""A Deribit simulator: JSON-RPC REST and WebSocket (tickers, heartbeats), credits and faults.

Public names: `DeribitSim` (the framework-free exchange), `serve` (real HTTP/WebSocket on
loopback), `WS_PATH`.
"""

from volspike_oi.sim.deribit.app import serve
from volspike_oi.sim.deribit.exchange import WS_PATH, DeribitSim, WsSession

__all__ = ["WS_PATH", "DeribitSim", "WsSession", "serve"]
