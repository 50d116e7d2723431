"""Binance: the budget-aware REST client and strict decoding of its JSON."""
