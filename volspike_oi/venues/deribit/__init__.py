"""Deribit perpetuals: inverse BTC-PERPETUAL/ETH-PERPETUAL (OI in USD) and the USDC-linear
`*_USDC-PERPETUAL` (OI in coin), over JSON-RPC on REST and WebSocket."""

from volspike_oi.venues.deribit.client import DeribitClient

__all__ = ["DeribitClient"]
