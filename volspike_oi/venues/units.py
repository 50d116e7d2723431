"""Canonical assets from venues' base names (pure; tested with hypothesis in tests/venues).

Venues list small-priced coins in bundles: Binance and Bybit `1000PEPEUSDT` (base "1000PEPE"),
`1000000MOGUSDT`, `1MBABYDOGEUSDT`, Bybit `10000000AIDOGEUSDT`; Hyperliquid `kPEPE`. One unit of such a base is
`multiplier` units of the asset, so OI in the symbol's base times the multiplier is OI in coin.
"""

from __future__ import annotations

import re
from decimal import Decimal

_NUMERIC_PREFIX = re.compile(r"^(10000000|1000000|100000|10000|1000|100)(?=[A-Z])")
_MILLION_PREFIX = re.compile(r"^1M(?=[A-Z]{2})")
_QUOTE_SUFFIX = re.compile(r"(USDT|USDC)$")


def split_bundle(base: str) -> tuple[str, Decimal]:
    """("1000PEPE") → ("PEPE", 1000); ("1MBABYDOGE") → ("BABYDOGE", 1e6); ("kPEPE") → ("PEPE",
    1000); anything else is its own asset with multiplier 1 (1INCH stays 1INCH)."""
    if base.startswith("k") and len(base) > 1 and base[1:].isupper():
        return base[1:], Decimal(1000)
    match = _NUMERIC_PREFIX.match(base)
    if match:
        return base[match.end() :], Decimal(match.group(1))
    if _MILLION_PREFIX.match(base):
        return base[2:], Decimal(1_000_000)
    return base, Decimal(1)


def binance_style_base(symbol: str) -> str:
    """BTCUSDT → BTC, 1000PEPEUSDT → 1000PEPE (Binance and Bybit linear names)."""
    return _QUOTE_SUFFIX.sub("", symbol)
