"""Binance USDⓈ-M futures: the budget-aware REST client, strict decoding, the mark price stream."""
