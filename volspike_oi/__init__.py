"""volspike-oi: near-real-time Open Interest for Binance USDT-M perpetuals."""

__version__ = "0.1.0"
