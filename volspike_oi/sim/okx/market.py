"""The simulated OKX swap listing and its market: contract specs as OKX lists them, and open
interest and mark price random walks on the simulator's clock.

Each swap owns a random stream seeded by (seed, instId) and is stepped lazily, one step per
simulated second, only when looked at: its value at a second does not depend on who asked.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import attrs

from volspike_oi.sim.clock import SimClock

HISTORY_STEP_MS = 300_000
"""The finest `period` of the rubik open-interest history (5m); coarser ones are sampled."""
HISTORY_MAX_POINTS = 1_440
"""OKX: "This endpoint can retrieve the latest 1,440 data entries" (5 days of 5m)."""


@attrs.frozen
class SwapSpec:
    """One row of OKX's SWAP listing (the fields the simulator varies)."""

    inst_id: str
    ct_val: Decimal
    ct_val_ccy: str
    settle_ccy: str
    ct_type: str
    tick_sz: Decimal
    lot_sz: Decimal
    price: float
    """Mark price at the start (USD per coin; USD per ctValCcy-coin for inverse swaps)."""
    oi_usd: float
    """Open interest at the start, in USD."""
    state: str = "live"
    ct_mult: Decimal = Decimal(1)
    lever: str = "50"
    mark_change_p: float = 0.5
    """Chance per second that the mark price moves (the channel pushes only on a change)."""
    oi_change_p: float = 0.5

    @property
    def uly(self) -> str:
        base, quote, _ = self.inst_id.split("-")
        return f"{base}-{quote}"

    @property
    def coin_per_contract(self) -> Decimal:
        return self.ct_val * self.ct_mult


def _d(text: str) -> Decimal:
    return Decimal(text)


MAJORS: tuple[SwapSpec, ...] = (
    # ctVal/tickSz as OKX lists them (BTC, ETH, SHIB from the 2022 capture; PEPE ctVal 10,000,000).
    SwapSpec(
        "BTC-USDT-SWAP",
        _d("0.01"),
        "BTC",
        "USDT",
        "linear",
        _d("0.1"),
        _d("0.01"),
        83_000.0,
        2.2e9,
        lever="100",
        mark_change_p=1.0,
        oi_change_p=0.9,
    ),
    SwapSpec(
        "ETH-USDT-SWAP",
        _d("0.1"),
        "ETH",
        "USDT",
        "linear",
        _d("0.01"),
        _d("0.01"),
        3_000.0,
        1.4e9,
        lever="100",
        mark_change_p=1.0,
        oi_change_p=0.9,
    ),
    SwapSpec(
        "SOL-USDT-SWAP",
        _d("1"),
        "SOL",
        "USDT",
        "linear",
        _d("0.01"),
        _d("0.01"),
        140.0,
        4.0e8,
        mark_change_p=0.8,
    ),
    SwapSpec(
        "XRP-USDT-SWAP", _d("100"), "XRP", "USDT", "linear", _d("0.0001"), _d("0.01"), 2.1, 2.5e8
    ),
    SwapSpec(
        "DOGE-USDT-SWAP",
        _d("1000"),
        "DOGE",
        "USDT",
        "linear",
        _d("0.00001"),
        _d("0.01"),
        0.17,
        2.0e8,
    ),
    SwapSpec(
        "PEPE-USDT-SWAP",
        _d("10000000"),
        "PEPE",
        "USDT",
        "linear",
        _d("0.0000000001"),
        _d("0.1"),
        0.0000075,
        8.0e7,
    ),
    SwapSpec(
        "SHIB-USDT-SWAP",
        _d("1000000"),
        "SHIB",
        "USDT",
        "linear",
        _d("0.000000001"),
        _d("1"),
        0.000012,
        3.0e7,
    ),
)
OUTSIDE: tuple[SwapSpec, ...] = (
    # What a USDT-linear universe must leave out: coin-margined, USDC-settled, not trading.
    SwapSpec(
        "BTC-USD-SWAP",
        _d("100"),
        "USD",
        "BTC",
        "inverse",
        _d("0.1"),
        _d("1"),
        83_000.0,
        4.0e8,
        lever="125",
    ),
    SwapSpec(
        "ETH-USD-SWAP",
        _d("10"),
        "USD",
        "ETH",
        "inverse",
        _d("0.01"),
        _d("1"),
        3_000.0,
        2.0e8,
        lever="100",
    ),
    SwapSpec(
        "BTC-USDC-SWAP", _d("0.0001"), "BTC", "USDC", "linear", _d("0.1"), _d("1"), 83_000.0, 5.0e7
    ),
    SwapSpec(
        "LUNA-USDT-SWAP",
        _d("1"),
        "LUNA",
        "USDT",
        "linear",
        _d("0.0001"),
        _d("1"),
        0.2,
        1.0e6,
        state="suspend",
    ),
    SwapSpec(
        "NEWCOIN-USDT-SWAP",
        _d("10"),
        "NEWCOIN",
        "USDT",
        "linear",
        _d("0.0001"),
        _d("1"),
        0.5,
        0.0,
        state="preopen",
    ),
)
_OTHER_COINS = [
    "ADA",
    "AVAX",
    "DOT",
    "LTC",
    "BCH",
    "TRX",
    "UNI",
    "ATOM",
    "FIL",
    "NEAR",
    "APT",
    "ARB",
    "OP",
    "SUI",
    "TON",
    "WIF",
    "LINK",
    "AAVE",
    "ETC",
    "XLM",
    "INJ",
    "TIA",
    "SEI",
    "JUP",
    "ORDI",
    "STX",
    "IMX",
    "RNDR",
    "FET",
    "GRT",
    "CRV",
    "LDO",
    "MKR",
    "SAND",
    "MANA",
    "AXS",
    "APE",
    "GALA",
    "DYDX",
    "ENS",
    "BLUR",
    "WLD",
    "PYTH",
    "BONK",
    "FLOKI",
    "NOT",
    "ONDO",
    "ENA",
    "ALGO",
    "HBAR",
]


def build_catalog(extra_swaps: int, seed: int) -> list[SwapSpec]:
    """The majors, `extra_swaps` other USDT swaps (names from a fixed list, then SIM000, SIM001 …
    for a universe as large as OKX's; prices drawn from the seed), then the swaps the client must
    leave out."""
    rng = random.Random(seed)
    extras: list[SwapSpec] = []
    generated = [f"SIM{n:03d}" for n in range(max(0, extra_swaps - len(_OTHER_COINS)))]
    for coin in [*_OTHER_COINS, *generated][: max(0, extra_swaps)]:
        price = 10 ** rng.uniform(-2.5, 2.5)
        # OKX sizes a contract at roughly 1–100 USD: ctVal a power of ten.
        ct_val = Decimal(10) ** max(-3, round(math.log10(10 / price)))
        tick = Decimal(10) ** (math.floor(math.log10(price)) - 4)
        extras.append(
            SwapSpec(
                f"{coin}-USDT-SWAP",
                ct_val,
                coin,
                "USDT",
                "linear",
                tick,
                _d("1"),
                price,
                10 ** rng.uniform(6.5, 8.3),
                mark_change_p=0.4,
                oi_change_p=0.3,
            )
        )
    return [*MAJORS, *extras, *OUTSIDE]


@attrs.define
class SwapState:
    """One swap's walk; `advance_to(step)` takes it to a whole simulated second."""

    spec: SwapSpec
    rng: random.Random
    step: int = 0
    mark: float = 0.0
    oi_contracts: Decimal = Decimal(0)
    origin_ms: int = 0
    """Epoch ms of step 0 (the simulator's start)."""
    next_point_ms: int = 0
    """The next 5-minute boundary not yet in `history`."""
    history: list[tuple[int, Decimal, Decimal]] = attrs.Factory(list)
    """(boundary epoch ms, contracts, mark price) in force at each 5-minute boundary since the
    start, oldest first, the latest `HISTORY_MAX_POINTS` kept."""

    @classmethod
    def start(cls, spec: SwapSpec, seed: int, origin_ms: int = 0) -> SwapState:
        state = cls(spec, random.Random(f"{seed}:{spec.inst_id}"), mark=spec.price)
        state.oi_contracts = state._round_lot(spec.oi_usd / state._usd_per_contract())
        state.origin_ms = origin_ms
        state.next_point_ms = origin_ms + (-origin_ms) % HISTORY_STEP_MS
        return state

    def record_until(self, until_ms: int) -> None:
        """The current values are in force at every boundary before `until_ms` not yet kept."""
        while self.next_point_ms < until_ms:
            self.history.append((self.next_point_ms, self.oi_contracts, self.mark_px))
            self.next_point_ms += HISTORY_STEP_MS
        if len(self.history) > HISTORY_MAX_POINTS:
            del self.history[: len(self.history) - HISTORY_MAX_POINTS]

    def _usd_per_contract(self) -> float:
        if self.spec.ct_type == "inverse":
            return float(self.spec.coin_per_contract)
        return float(self.spec.coin_per_contract) * self.mark

    def _round_lot(self, contracts: float) -> Decimal:
        lot = self.spec.lot_sz
        return (Decimal(repr(max(contracts, 0.0))) / lot).quantize(Decimal(1)) * lot

    def advance_to(self, step: int) -> None:
        if self.spec.state != "live":
            self.step = max(self.step, step)
            return
        while self.step < step:
            # The values of this step hold until the next one starts.
            if self.next_point_ms < self.origin_ms + (self.step + 1) * 1000:
                self.record_until(self.origin_ms + (self.step + 1) * 1000)
            self.step += 1
            move_mark, move_oi = self.rng.random(), self.rng.random()
            mark_shock, oi_shock = self.rng.gauss(0, 1), self.rng.gauss(0, 1)
            if move_mark < self.spec.mark_change_p:
                self.mark *= math.exp(0.0004 * mark_shock)
            if move_oi < self.spec.oi_change_p:
                target = float(self.oi_contracts) * (1 + 0.0008 * oi_shock)
                self.oi_contracts = self._round_lot(target)

    @property
    def mark_px(self) -> Decimal:
        tick = self.spec.tick_sz
        return (Decimal(repr(self.mark)) / tick).quantize(Decimal(1)) * tick

    @property
    def oi_ccy(self) -> Decimal:
        """Contracts in coin: ctVal × ctMult coin each (inverse: USD each, divided by mark)."""
        face = self.oi_contracts * self.spec.coin_per_contract
        if self.spec.ct_type == "inverse":
            return face / self.mark_px
        return face

    @property
    def oi_usd(self) -> Decimal:
        if self.spec.ct_type == "inverse":
            return self.oi_contracts * self.spec.coin_per_contract
        return self.oi_ccy * self.mark_px


def _pre_start(state: SwapState, seed: int) -> list[tuple[int, Decimal, Decimal]]:
    """`HISTORY_MAX_POINTS` 5-minute points before the start (oldest first), a walk drawn
    backward from the start values on its own stream, so the history meets the live walk."""
    spec = state.spec
    start = SwapState.start(spec, seed, state.origin_ms)
    rng = random.Random(f"{seed}:history:{spec.inst_id}")
    origin = state.origin_ms
    last = origin - 1 - (origin - 1) % HISTORY_STEP_MS
    contracts, mark = float(start.oi_contracts), start.mark
    points = []
    for k in range(HISTORY_MAX_POINTS):
        start.oi_contracts, start.mark = start._round_lot(contracts), mark
        points.append((last - k * HISTORY_STEP_MS, start.oi_contracts, start.mark_px))
        contracts *= math.exp(rng.gauss(0.0, 0.006))
        mark *= math.exp(rng.gauss(0.0, 0.004))
    points.reverse()
    return points


@attrs.define
class Market:
    catalog: list[SwapSpec]
    clock: SimClock
    seed: int
    _states: dict[str, SwapState] = attrs.Factory(dict)

    _pre_start: dict[str, list[tuple[int, Decimal, Decimal]]] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        origin = self.clock.start_epoch_ms
        self._states = {s.inst_id: SwapState.start(s, self.seed, origin) for s in self.catalog}

    def state(self, inst_id: str, now_ms: int) -> SwapState:
        state = self._states[inst_id]
        state.advance_to(self.clock.step_at(now_ms))
        return state

    def oi_history(self, inst_id: str, now_ms: int) -> list[tuple[int, Decimal, Decimal]]:
        """(epoch ms, contracts, mark price) at every 5-minute boundary up to `now_ms`, oldest
        first, the latest `HISTORY_MAX_POINTS`: a walk drawn backward from the start values
        before the start, then the values the live walk had at each boundary (the last one is
        the current value when nothing changed since that boundary). Empty unless live."""
        state = self.state(inst_id, now_ms)
        if state.spec.state != "live":
            return []
        state.record_until(now_ms + 1)
        before = self._pre_start.get(inst_id)
        if before is None:
            before = _pre_start(state, self.seed)
            self._pre_start[inst_id] = before
        return (before + state.history)[-HISTORY_MAX_POINTS:]

    def has(self, inst_id: str) -> bool:
        return inst_id in self._states

    def live(self) -> list[SwapSpec]:
        return [s for s in self.catalog if s.state == "live"]
