"""A Binance USDT-M futures simulator: REST, mark price WebSocket, weights, bans and faults.

Public names: `BinanceSim` (the framework-free exchange), `SimSettings`, `serve_sim` (real
HTTP/WebSocket on loopback), `SimTransport` (in-process httpx transport), `load_scenario`.
"""

from volspike_oi.sim.binance.app import serve_sim
from volspike_oi.sim.binance.exchange import BinanceSim, SimResponse
from volspike_oi.sim.binance.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from volspike_oi.sim.binance.settings import SimSettings
from volspike_oi.sim.binance.transport import SimTransport

__all__ = [
    "BinanceSim",
    "Scenario",
    "ScenarioError",
    "SimResponse",
    "SimSettings",
    "SimTransport",
    "load_scenario",
    "parse_scenario",
    "serve_sim",
]
