"""Venue simulators: one folder per venue (`sim/binance/`); the clock, fault decisions and
window counters they share live here."""
