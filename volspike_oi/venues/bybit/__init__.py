"""Bybit v5 linear USDT perpetuals: `BybitClient` (REST + the `tickers.{symbol}` stream)."""
