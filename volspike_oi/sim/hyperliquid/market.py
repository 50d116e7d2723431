"""The simulated Hyperliquid perpetuals: a seeded listing and per-coin random walks of OI and mark.

Each coin owns a random stream seeded by `(seed, name)` and is stepped lazily, one step per
simulated second, only when looked at, so its value at a given second does not depend on who
asked or how often. Values are formatted as Hyperliquid formats them: decimal strings, prices to
5 significant figures and at most `6 - szDecimals` decimals, OI to `szDecimals`.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

# (name, szDecimals, maxLeverage, mark price in USD per listed unit, OI in USD)
_MAJORS: tuple[tuple[str, int, int, float, float], ...] = (
    ("BTC", 5, 40, 83_000.0, 2_900_000_000.0),
    ("ETH", 4, 25, 3_000.0, 1_800_000_000.0),
    ("SOL", 2, 20, 140.0, 600_000_000.0),
    ("HYPE", 2, 10, 30.0, 900_000_000.0),
    ("XRP", 0, 20, 2.2, 250_000_000.0),
    ("DOGE", 0, 10, 0.16, 120_000_000.0),
    ("kPEPE", 0, 10, 0.0075, 60_000_000.0),
    ("SUI", 1, 10, 2.4, 110_000_000.0),
    ("AVAX", 2, 10, 19.0, 50_000_000.0),
    ("LINK", 1, 10, 14.0, 45_000_000.0),
    ("kBONK", 0, 10, 0.015, 20_000_000.0),
    ("kSHIB", 0, 10, 0.012, 8_000_000.0),
    ("ATOM", 2, 5, 4.5, 6_000_000.0),
    ("ARB", 1, 10, 0.35, 25_000_000.0),
    ("OP", 1, 10, 0.6, 15_000_000.0),
    ("LTC", 2, 10, 85.0, 30_000_000.0),
    ("BNB", 3, 10, 600.0, 40_000_000.0),
    ("WIF", 0, 10, 0.6, 30_000_000.0),
    ("ENA", 0, 10, 0.4, 70_000_000.0),
    ("TRUMP", 1, 10, 9.0, 40_000_000.0),
)
_DELISTED: tuple[tuple[str, int, int, float], ...] = (
    ("MATIC", 1, 20, 0.37621),
    ("FTM", 0, 10, 0.71),
    ("RNDR", 1, 20, 7.1),
)
FAST_COINS = 10
"""The first this many coins (the liquid ones) change every second; the rest every 3 s."""
SLOW_PERIOD_S = 3
"""Hyperliquid's oracle updates about every 3 s, which moves every context at least that often."""


def _trim(text: str) -> str:
    """Hyperliquid's decimal strings: no trailing zeros, but always one decimal ("97561.0")."""
    if "." not in text:
        return text + ".0"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


def format_px(value: float, sz_decimals: int) -> str:
    """5 significant figures, at most `6 - szDecimals` decimals."""
    magnitude = math.floor(math.log10(value)) if value > 0 else 0
    decimals = max(0, min(6 - sz_decimals, 4 - magnitude))
    return _trim(f"{value:.{decimals}f}")


def format_sz(value: float, sz_decimals: int) -> str:
    return _trim(f"{value:.{sz_decimals}f}")


@attrs.define
class Coin:
    name: str
    sz_decimals: int
    max_leverage: int
    margin_table_id: int
    delisted: bool
    mark: float
    """USD per listed unit (per kPEPE for kPEPE)."""
    oi: float
    """In listed units."""
    prev_day_px: float
    fast: bool
    rng: random.Random
    step: int = 0
    day_volume_units: float = 0.0

    def advance_to(self, step: int) -> None:
        """Apply one random step per simulated second up to `step` (never backwards)."""
        if self.delisted:
            self.step = max(self.step, step)
            return
        while self.step < step:
            self.step += 1
            self.mark *= math.exp(self.rng.gauss(0.0, 0.0004))
            self.oi = max(self.oi * math.exp(self.rng.gauss(0.0, 0.0006)), 1.0)
            self.day_volume_units += abs(self.rng.gauss(0.0, self.oi * 0.0002))

    def changes_at(self, second: int) -> bool:
        """Whether this coin's context changes (and is pushed) in this simulated second."""
        if self.delisted:
            return False
        return self.fast or (second + self.margin_table_id) % SLOW_PERIOD_S == 0

    def universe_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "szDecimals": self.sz_decimals,
            "name": self.name,
            "maxLeverage": self.max_leverage,
            "marginTableId": self.margin_table_id,
        }
        if self.delisted:
            entry["isDelisted"] = True
        return entry

    def ctx(self) -> dict[str, Any]:
        """The asset context, keys in Hyperliquid's order, every value a string (or null)."""
        px = self.mark
        szd = self.sz_decimals
        if self.delisted:
            return {
                "funding": "0.0",
                "openInterest": "0.0",
                "prevDayPx": format_px(self.prev_day_px, szd),
                "dayNtlVlm": "0.0",
                "premium": None,
                "oraclePx": format_px(px * 0.998, szd),
                "markPx": format_px(px, szd),
                "midPx": None,
                "impactPxs": None,
                "dayBaseVlm": "0.0",
            }
        spread = px * 0.00005
        return {
            "funding": _trim(f"{0.0000125 + (self.mark / self.prev_day_px - 1) * 0.0001:.10f}"),
            "openInterest": format_sz(self.oi, szd),
            "prevDayPx": format_px(self.prev_day_px, szd),
            "dayNtlVlm": _trim(f"{self.day_volume_units * px:.4f}"),
            "premium": _trim(f"{-0.0002 + (self.step % 7) * 0.00005:.10f}"),
            "oraclePx": format_px(px * 1.0002, szd),
            "markPx": format_px(px, szd),
            "midPx": format_px(px + spread / 2, szd),
            "impactPxs": [format_px(px - spread, szd), format_px(px + spread, szd)],
            "dayBaseVlm": format_sz(self.day_volume_units, szd),
        }


def build_coins(seed: int, perps: int) -> list[Coin]:
    """`perps` listed perpetuals (the majors first, then generated ones) and the delisted few,
    in universe order: delisted assets keep their index, as on Hyperliquid."""
    coins: list[Coin] = []
    specs: list[tuple[str, int, int, float, float]] = list(_MAJORS[:perps])
    listing = random.Random(f"{seed}:listing")
    for i in range(len(specs), perps):
        price = 10 ** listing.uniform(-2.5, 2.5)
        specs.append(
            (
                f"ALT{i:03d}",
                max(0, min(5, 3 - math.floor(math.log10(price)))),
                5,
                price,
                10 ** listing.uniform(5.5, 7.5),
            )
        )
    rows: list[tuple[str, int, int, float, float, bool]] = [(*s, False) for s in specs]
    for j, (name, szd, lev, price) in enumerate(_DELISTED):
        rows.insert(min(len(rows), 5 + 7 * j), (name, szd, lev, price, 0.0, True))
    for index, (name, szd, lev, price, oi_usd, delisted) in enumerate(rows):
        rng = random.Random(f"{seed}:{name}")
        coins.append(
            Coin(
                name=name,
                sz_decimals=szd,
                max_leverage=lev,
                margin_table_id=index + 1,
                delisted=delisted,
                mark=price,
                oi=oi_usd / price if not delisted else 0.0,
                prev_day_px=price * math.exp(rng.gauss(0.0, 0.02)),
                fast=not delisted and index < FAST_COINS,
                rng=rng,
                day_volume_units=0.0 if delisted else oi_usd / price * rng.uniform(0.3, 3.0),
            )
        )
    return coins
