"""The simulated exchange's listing: which contracts exist and where each one starts.

`build_catalog(n_usdt_perps, seed, start_ms)` returns `n_usdt_perps` trading USDT-margined
perpetuals (what a correct filter keeps) plus the contracts a correct filter must drop:
quarterlies, USDC-margined perps, TradFi perps, settling and pending symbols. Starting 24h quote
volumes are heavy-tailed (lognormal body, realistic heads) so about 57 % sit above 4M USDT.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import attrs

PERPETUAL_DELIVERY_MS = 4133404800000
"""Binance's `deliveryDate` for perpetuals that have no delist date."""

# Real bases in rough order of trading activity, with a realistic mark price for the heads.
_HEADS: list[tuple[str, float, float | None]] = [
    ("BTC", 83084.3, 1.44e10),
    ("ETH", 3055.5, 8.1e9),
    ("SOL", 142.2, 2.3e9),
    ("XRP", 2.21, 1.6e9),
    ("DOGE", 0.1534, 9.8e8),
    ("BNB", 612.4, 6.1e8),
    ("SUI", 1.75, 5.2e8),
    ("1000PEPE", 0.00912, 4.6e8),
    ("ADA", 0.4417, 3.9e8),
    ("LINK", 13.62, 3.1e8),
    ("AVAX", 15.48, 2.4e8),
    ("LTC", 86.35, 2.0e8),
    ("WIF", 0.4821, None),
    ("ENA", 0.2733, None),
    ("TRX", 0.2871, None),
    ("DOT", 2.917, None),
    ("BCH", 446.2, None),
    ("NEAR", 2.214, None),
    ("APT", 4.381, None),
    ("ARB", 0.3112, None),
    ("OP", 0.5617, None),
    ("FIL", 2.224, None),
    ("INJ", 10.42, None),
    ("TIA", 1.673, None),
    ("SEI", 0.2015, None),
    ("ATOM", 4.108, None),
    ("UNI", 6.842, None),
    ("AAVE", 221.4, None),
    ("1000SHIB", 0.01153, None),
    ("1000BONK", 0.01734, None),
    ("ORDI", 7.312, None),
    ("ETC", 15.91, None),
    ("HBAR", 0.1612, None),
    ("XLM", 0.2644, None),
    ("RENDER", 3.512, None),
    ("FET", 0.5231, None),
    ("JUP", 0.4412, None),
    ("PENDLE", 3.117, None),
    ("LDO", 0.9213, None),
    ("CRV", 0.6512, None),
    ("MKR", 1512.0, None),
    ("STX", 0.6823, None),
    ("IMX", 0.4612, None),
    ("GALA", 0.01523, None),
    ("SAND", 0.2611, None),
    ("AXS", 2.612, None),
    ("币安人生", 0.4762, None),
]

_SYLLABLES = [
    "ka",
    "zo",
    "ra",
    "mi",
    "tu",
    "ne",
    "lo",
    "vi",
    "xa",
    "qu",
    "bo",
    "re",
    "sy",
    "da",
    "fe",
    "gi",
    "ho",
    "ju",
    "ly",
    "mo",
    "nu",
    "pe",
    "ri",
    "so",
    "te",
    "wa",
    "ze",
    "ca",
    "di",
    "fo",
]


@attrs.define
class SymbolSpec:
    """Static description of one contract, in exchangeInfo's terms (mutable: status changes)."""

    symbol: str
    pair: str
    contract_type: str
    status: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    onboard_ms: int
    delivery_ms: int
    price_precision: int
    quantity_precision: int
    underlying_type: str
    underlying_sub_type: list[str]
    mark_price: float
    """Mark price at the symbol's start."""
    quote_volume_24h: float
    """24h quote volume (quote asset) at the symbol's start."""
    open_interest: float
    """Open interest in contracts at the symbol's start."""
    coin_margined: bool = False
    """A COIN-M row: only ever seen in the all-market mark price stream (`st: 2`)."""

    @property
    def is_tradfi(self) -> bool:
        return self.contract_type == "TRADIFI_PERPETUAL"


def price_precision_for(price: float) -> int:
    return max(2, min(7, 6 - math.floor(math.log10(price))))


def quantity_precision_for(price: float) -> int:
    return max(0, min(3, math.floor(math.log10(price)) - 1))


def _quarter_expiries(start_ms: int) -> list[str]:
    """YYMMDD of the last Friday of the current and the next quarter month, as Binance names them."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, tz=dt.UTC).date()
    out: list[str] = []
    year, month = day.year, ((day.month - 1) // 3 + 1) * 3
    while len(out) < 2:
        last = dt.date(year + (month // 12), month % 12 + 1, 1) - dt.timedelta(days=1)
        friday = last - dt.timedelta(days=(last.weekday() - 4) % 7)
        if friday >= day:
            out.append(friday.strftime("%y%m%d"))
        month += 3
        if month > 12:
            year, month = year + 1, month - 12
    return out


def make_spec(
    symbol: str,
    *,
    base: str,
    mark_price: float,
    quote_volume_24h: float,
    onboard_ms: int,
    rng: random.Random,
    quote: str = "USDT",
    contract_type: str = "PERPETUAL",
    status: str = "TRADING",
    delivery_ms: int = PERPETUAL_DELIVERY_MS,
    open_interest: float | None = None,
    underlying_type: str = "COIN",
    coin_margined: bool = False,
) -> SymbolSpec:
    oi_usd = quote_volume_24h * rng.uniform(0.25, 1.0)
    qty_prec = quantity_precision_for(mark_price)
    contracts = open_interest if open_interest is not None else oi_usd / mark_price
    return SymbolSpec(
        symbol=symbol,
        pair=symbol.split("_")[0],
        contract_type=contract_type,
        status=status,
        base_asset=base,
        quote_asset=quote,
        margin_asset=quote,
        onboard_ms=onboard_ms,
        delivery_ms=delivery_ms,
        price_precision=price_precision_for(mark_price),
        quantity_precision=qty_prec,
        underlying_type=underlying_type,
        underlying_sub_type=["TradFi"] if contract_type == "TRADIFI_PERPETUAL" else ["Crypto"],
        mark_price=mark_price,
        quote_volume_24h=quote_volume_24h,
        open_interest=max(round(contracts, qty_prec), 10.0**-qty_prec),
        coin_margined=coin_margined,
    )


def _generated_bases(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).upper()
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def build_catalog(n_usdt_perps: int, seed: int, start_ms: int) -> list[SymbolSpec]:
    """Every contract of the simulated exchange at its start, deterministic from `seed`."""
    rng = random.Random(seed)
    onboard = start_ms - 400 * 86_400_000
    heads = _HEADS[:n_usdt_perps]
    taken = {base for base, _, _ in _HEADS}
    bases = [b for b, _, _ in heads] + _generated_bases(rng, n_usdt_perps - len(heads), taken)

    # Lognormal body: median 5.3M, sigma 1.7 puts ~57 % of symbols at or above 4M USDT.
    volumes = sorted((math.exp(rng.gauss(math.log(5.3e6), 1.7)) for _ in bases), reverse=True)
    # The heads keep the top of the distribution in their listed order; the rest are shuffled.
    tail = volumes[len(heads) :]
    rng.shuffle(tail)
    volumes = volumes[: len(heads)] + tail

    specs: list[SymbolSpec] = []
    for i, base in enumerate(bases):
        if i < len(heads):
            price = heads[i][1]
            volume = heads[i][2] or volumes[i]
        else:
            price = math.exp(rng.uniform(math.log(0.0005), math.log(300.0)))
            volume = volumes[i]
        specs.append(
            make_spec(
                f"{base}USDT",
                base=base,
                mark_price=price,
                quote_volume_24h=volume,
                onboard_ms=onboard + i * 3_600_000,
                rng=rng,
            )
        )

    btc = next((s.mark_price for s in specs if s.symbol == "BTCUSDT"), 83084.3)
    eth = next((s.mark_price for s in specs if s.symbol == "ETHUSDT"), 3055.5)
    q1, q2 = _quarter_expiries(start_ms)
    for expiry, kind in ((q1, "CURRENT_QUARTER"), (q2, "NEXT_QUARTER")):
        for base, price in (("BTC", btc), ("ETH", eth)):
            delivery = int(
                dt.datetime.strptime(expiry, "%y%m%d").replace(hour=8, tzinfo=dt.UTC).timestamp()
                * 1000
            )
            specs.append(
                make_spec(
                    f"{base}USDT_{expiry}",
                    base=base,
                    mark_price=price * 1.004,
                    quote_volume_24h=2.5e8,
                    onboard_ms=onboard,
                    rng=rng,
                    contract_type=kind,
                    delivery_ms=delivery,
                )
            )
    for base, price in (("BTC", btc), ("ETH", eth), ("SOL", 142.2)):
        specs.append(
            make_spec(
                f"{base}USDC",
                base=base,
                mark_price=price,
                quote_volume_24h=3.0e8,
                onboard_ms=onboard,
                rng=rng,
                quote="USDC",
            )
        )
    for base, price, volume in (("XAU", 4103.9, 2.2e9), ("XAG", 59.63, 3.1e8)):
        specs.append(
            make_spec(
                f"{base}USDT",
                base=base,
                mark_price=price,
                quote_volume_24h=volume,
                onboard_ms=start_ms - 30 * 86_400_000,
                rng=rng,
                contract_type="TRADIFI_PERPETUAL",
                underlying_type="COMMODITY",
            )
        )
    for base, price in (("OMG", 0.1871), ("WAVESOLD", 0.8123)):
        specs.append(
            make_spec(
                f"{base}USDT",
                base=base,
                mark_price=price,
                quote_volume_24h=9.0e6,
                onboard_ms=onboard,
                rng=rng,
                status="SETTLING",
                delivery_ms=start_ms - 86_400_000,
            )
        )
    specs.append(
        make_spec(
            "NEXTGENUSDT",
            base="NEXTGEN",
            mark_price=0.05,
            quote_volume_24h=0.0,
            onboard_ms=start_ms + 7 * 86_400_000,
            rng=rng,
            contract_type="",
            status="PENDING_TRADING",
        )
    )
    for base, price in (("BTC", btc), ("ETH", eth)):
        specs.append(
            make_spec(
                f"{base}USD_PERP",
                base=base,
                mark_price=price,
                quote_volume_24h=1.0e9,
                onboard_ms=onboard,
                rng=rng,
                quote="USD",
                coin_margined=True,
            )
        )
    return specs
