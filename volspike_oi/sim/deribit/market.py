"""The simulated Deribit listing and its prices: OI and mark random walks on the sim clock.

BTC-PERPETUAL and ETH-PERPETUAL are inverse (quote USD, settled in coin, OI in USD in multiples
of the 10 / 1 USD contract); the `*_USDC-PERPETUAL` are linear (OI in coin, multiples of
`contract_size`); dated futures of both kinds are listed too, for the client to filter out.
Each instrument owns a random stream seeded by `(seed, name)` and is stepped lazily, one step
per simulated second, so its value at a given second does not depend on who asked.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterable

import attrs

PERPETUAL_EXPIRY_MS = 32_503_708_800_000
"""Deribit's "never" (3000-01-01), the expiration_timestamp of every perpetual."""
CATCH_UP_MAX_STEPS = 86_400
"""Beyond a day of unobserved seconds, jump (one step) instead of walking every second."""


@attrs.frozen
class Spec:
    name: str
    base: str
    linear: bool
    perpetual: bool
    contract_size: float
    tick_size: float
    start_mark: float
    start_oi: float
    """USD for inverse instruments, coin for linear ones."""
    instrument_id: int
    creation_ms: int
    expiration_ms: int = PERPETUAL_EXPIRY_MS
    max_leverage: int = 50

    @property
    def currency(self) -> str:
        """The `currency` query that lists it: the coin for inverse, USDC for linear."""
        return "USDC" if self.linear else self.base

    @property
    def quote(self) -> str:
        return "USDC" if self.linear else "USD"

    @property
    def settlement_period(self) -> str:
        return "perpetual" if self.perpetual else "month"

    @property
    def oi_unit(self) -> float:
        """OI moves in whole contracts: 10 USD (BTC), 1 USD (ETH), `contract_size` coin (linear)."""
        return self.contract_size


def _linear(name: str, size: float, tick: float, mark: float, oi: float, iid: int) -> Spec:
    return Spec(
        name=f"{name}_USDC-PERPETUAL",
        base=name,
        linear=True,
        perpetual=True,
        contract_size=size,
        tick_size=tick,
        start_mark=mark,
        start_oi=oi,
        instrument_id=iid,
        creation_ms=1_647_349_200_000,
        max_leverage=25,
    )


def default_catalog() -> list[Spec]:
    """What Deribit lists (sizes and ticks as in the 2022 USDC capture), at late-2026 prices."""
    return [
        Spec(
            "BTC-PERPETUAL",
            "BTC",
            False,
            True,
            10.0,
            0.5,
            83_000.0,
            1_130_000_000.0,
            124_972,
            1_534_242_287_000,
        ),
        Spec(
            "ETH-PERPETUAL",
            "ETH",
            False,
            True,
            1.0,
            0.05,
            3_000.0,
            560_000_000.0,
            124_955,
            1_534_167_473_000,
        ),
        # Dated inverse futures: the client must filter these out.
        Spec(
            "BTC-25DEC26",
            "BTC",
            False,
            False,
            10.0,
            2.5,
            83_900.0,
            240_000_000.0,
            398_001,
            1_750_000_000_000,
            expiration_ms=1_798_185_600_000,
        ),
        Spec(
            "BTC-26MAR27",
            "BTC",
            False,
            False,
            10.0,
            2.5,
            85_100.0,
            160_000_000.0,
            398_002,
            1_758_000_000_000,
            expiration_ms=1_805_961_600_000,
        ),
        Spec(
            "ETH-25DEC26",
            "ETH",
            False,
            False,
            1.0,
            0.25,
            3_030.0,
            90_000_000.0,
            398_003,
            1_750_000_000_000,
            expiration_ms=1_798_185_600_000,
        ),
        # A dated USDC-linear future, also filtered out.
        Spec(
            "BTC_USDC-25DEC26",
            "BTC",
            True,
            False,
            0.001,
            5.0,
            83_800.0,
            35.0,
            398_004,
            1_750_000_000_000,
            expiration_ms=1_798_185_600_000,
            max_leverage=25,
        ),
        _linear("BTC", 0.001, 5.0, 83_000.0, 420.0, 210_838),
        _linear("ETH", 0.01, 0.1, 3_000.0, 7_695.0, 210_760),
        _linear("SOL", 0.1, 0.01, 140.0, 61_000.0, 213_039),
        _linear("XRP", 10.0, 0.0001, 2.1, 4_200_000.0, 212_737),
        _linear("DOGE", 100.0, 0.00001, 0.17, 18_000_000.0, 215_749),
        _linear("ADA", 10.0, 0.0001, 0.65, 2_300_000.0, 215_750),
        _linear("AVAX", 0.1, 0.01, 22.0, 48_000.0, 213_040),
        _linear("LINK", 1.0, 0.001, 14.0, 95_000.0, 215_754),
        _linear("DOT", 1.0, 0.001, 4.2, 120_000.0, 215_755),
        _linear("LTC", 0.1, 0.01, 85.0, 9_800.0, 215_751),
        _linear("BCH", 0.02, 0.05, 330.0, 1_900.0, 215_757),
        _linear("NEAR", 1.0, 0.001, 2.7, 210_000.0, 215_756),
        _linear("TRX", 100.0, 0.00001, 0.24, 6_500_000.0, 215_752),
        _linear("UNI", 1.0, 0.001, 6.5, 88_000.0, 215_753),
        _linear("ALGO", 10.0, 0.0001, 0.19, 3_100_000.0, 215_758),
    ]


def decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


@attrs.define
class InstrumentState:
    spec: Spec
    rng: random.Random
    step: int = 0
    mark: float = 0.0
    oi: float = 0.0
    """In contracts of `oi_unit` (an integer count, kept as float for the walk)."""
    phase: int = 0
    """Which tenth of each second this instrument's ticker is pushed in (0–9)."""
    volume_24h: float = 0.0

    def advance(self, to_step: int) -> None:
        if to_step <= self.step:
            return
        if to_step - self.step > CATCH_UP_MAX_STEPS:
            self.step = to_step - 1
        while self.step < to_step:
            self.step += 1
            self.mark *= math.exp(self.rng.gauss(0.0, 0.0003))
            self.oi = max(1.0, round(self.oi * math.exp(self.rng.gauss(0.0, 0.0004))))

    @property
    def mark_price(self) -> float:
        digits = decimals(self.spec.tick_size)
        return round(round(self.mark / self.spec.tick_size) * self.spec.tick_size, digits)

    @property
    def open_interest(self) -> float:
        """As Deribit reports it: USD for inverse, coin for linear (whole contracts)."""
        return round(self.oi * self.spec.oi_unit, decimals(self.spec.oi_unit))


@attrs.define
class Market:
    seed: int
    instruments: dict[str, InstrumentState] = attrs.Factory(dict)

    @classmethod
    def build(cls, seed: int, catalog: Iterable[Spec] | None = None) -> Market:
        market = cls(seed)
        for spec in catalog if catalog is not None else default_catalog():
            key = zlib.crc32(f"{seed}:{spec.name}".encode())
            rng = random.Random(key)
            market.instruments[spec.name] = InstrumentState(
                spec=spec,
                rng=rng,
                mark=spec.start_mark * math.exp(rng.gauss(0.0, 0.01)),
                oi=round(spec.start_oi / spec.oi_unit),
                phase=key % 10,
                volume_24h=spec.start_oi * 0.4,
            )
        return market

    def at(self, step: int) -> Market:
        """Every instrument advanced to simulated second `step`."""
        for state in self.instruments.values():
            state.advance(step)
        return self

    def listed(self, currency: str, kind: str | None) -> list[InstrumentState]:
        """What `currency`/`kind` select (every simulated instrument is a future)."""
        if kind not in (None, "future"):
            return []
        return [s for s in self.instruments.values() if s.spec.currency == currency]
