"""A Bybit v5 linear simulator: instruments-info and tickers REST with Bybit's envelope, limits
and refusals, and the public linear WebSocket's `tickers.{symbol}` snapshots and deltas.

Public names: `BybitSim` (the framework-free exchange), `serve` (real HTTP/WebSocket on
loopback), `WS_PATH` (the WebSocket's path on the same port).
"""

from volspike_oi.sim.bybit.app import WS_PATH, serve
from volspike_oi.sim.bybit.exchange import BybitSim

__all__ = ["WS_PATH", "BybitSim", "serve"]
