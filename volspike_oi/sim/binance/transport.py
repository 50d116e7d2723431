"""The in-process transport for `BinanceSim` (the venue-neutral one in `sim/transport.py`)."""

from __future__ import annotations

from volspike_oi.sim.binance.exchange import BinanceSim
from volspike_oi.sim.transport import InProcessTransport


class SimTransport(InProcessTransport):
    def __init__(self, sim: BinanceSim, client_ip: str = "127.0.0.1") -> None:
        super().__init__(sim, client_ip)
