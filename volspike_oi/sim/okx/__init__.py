"""An OKX v5 simulator: public REST (instruments, open interest, mark prices) with OKX's
envelope, limits and refusals, the public WebSocket's open-interest and mark-price channels,
and the venue-neutral control routes (`/_sim/stats`, `faults`, `drop-websockets`, `silence`,
`rate-limit`).
"""

from volspike_oi.sim.okx.app import WS_PATH, serve
from volspike_oi.sim.okx.exchange import OkxSim, OkxSimSettings

__all__ = ["WS_PATH", "OkxSim", "OkxSimSettings", "serve"]
