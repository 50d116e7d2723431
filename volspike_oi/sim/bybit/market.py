"""The simulated Bybit linear market: a seeded listing and OI / mark price random walks on
100 ms ticks of trio's clock, rendered in Bybit's field names and string formats.

Each contract owns a random stream seeded by (seed, symbol) and changes on ~10 % of ticks (the
gaps between its changes are drawn geometrically), stepped lazily when looked at: its value at
a tick does not depend on who asked or how often, and an idle hour costs only its changes.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from decimal import Decimal
from typing import Any

import attrs

from volspike_oi.sim.clock import SimClock

TICK_MS = 100
"""Bybit pushes derivatives tickers every 100 ms."""
CHANGE_PROBABILITY = 0.1
"""Share of contracts that change on one tick (keeps the push rate of a demo sane)."""
OI_CHANGE_PROBABILITY = 0.6
"""A change moves the price; this share of changes also opens or closes positions."""
FUNDING_INTERVAL_MS = 8 * 3_600_000
HISTORY_STEP_MS = 300_000
"""The finest `intervalTime` of `/v5/market/open-interest` (5min); coarser ones are sampled."""
HISTORY_MAX_POINTS = 8_640
"""30 days of 5-minute points kept per contract (older ones are dropped, the oldest first)."""
PRE_START_POINTS = 2_016
"""Seven days of history before the simulator's start, drawn backward from the start values."""


@attrs.frozen
class ContractSpec:
    symbol: str
    symbol_id: int
    base_coin: str
    quote_coin: str
    settle_coin: str
    contract_type: str
    """LinearPerpetual or LinearFutures."""
    status: str
    """Trading or PreLaunch."""
    start_price: float
    start_oi: float
    """One side, in base-coin units."""
    price_scale: int
    qty_decimals: int
    launch_ms: int
    delivery_ms: int = 0


def _seed_of(seed: int, symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{symbol}".encode()).digest()[:8], "big")


def _qty_decimals(price: float) -> int:
    """Coarser quantity steps for cheaper coins (BTC 0.001, ETH 0.01, DOGE 1)."""
    return 3 if price >= 10_000 else 2 if price >= 1_000 else 1 if price >= 10 else 0


def _price_scale(price: float) -> int:
    return max(2, min(8, 4 - math.floor(math.log10(price))))


# (symbol, baseCoin, price, one-side OI in base units): the well-known ones, bundles included.
_CORE: tuple[tuple[str, str, float, float], ...] = (
    ("BTCUSDT", "BTC", 83_000.0, 52_000.0),
    ("ETHUSDT", "ETH", 3_000.0, 1_050_000.0),
    ("SOLUSDT", "SOL", 140.0, 8_500_000.0),
    ("XRPUSDT", "XRP", 2.1, 420_000_000.0),
    ("DOGEUSDT", "DOGE", 0.17, 3_900_000_000.0),
    ("1000PEPEUSDT", "1000PEPE", 0.0095, 38_000_000_000.0),
    ("SHIB1000USDT", "SHIB1000", 0.012, 9_000_000_000.0),
    ("10000000AIDOGEUSDT", "10000000AIDOGE", 0.0009, 90_000_000.0),
)


def build_catalog(seed: int, perpetuals: int, start_ms: int) -> list[ContractSpec]:
    """`perpetuals` trading USDT perpetuals (the core ones first), then the contracts a client
    must leave out: USDC perpetuals, a USDT-settled dated future, a pre-launch perpetual."""
    rng = random.Random(seed)
    launch = start_ms - 400 * 86_400_000
    specs: list[ContractSpec] = []

    def add(symbol: str, base: str, price: float, oi: float, **kw: Any) -> None:
        fields: dict[str, Any] = {
            "quote_coin": "USDT",
            "settle_coin": "USDT",
            "contract_type": "LinearPerpetual",
            "status": "Trading",
            "launch_ms": launch,
        }
        fields.update(kw)
        specs.append(
            ContractSpec(
                symbol=symbol,
                symbol_id=len(specs) + 1,
                base_coin=base,
                start_price=price,
                start_oi=oi,
                price_scale=_price_scale(price),
                qty_decimals=_qty_decimals(price),
                **fields,
            )
        )

    for symbol, base, price, oi in _CORE[:perpetuals]:
        add(symbol, base, price, oi)
    for n in range(max(0, perpetuals - len(_CORE))):
        price = math.exp(rng.uniform(math.log(0.005), math.log(300.0)))
        value_usd = math.exp(rng.uniform(math.log(2e5), math.log(4e8)))
        add(f"SIM{n:03d}USDT", f"SIM{n:03d}", price, value_usd / price)
    # Left out by the client: not USDT-settled, not perpetual, not trading.
    add("BTCPERP", "BTC", 83_010.0, 3_100.0, quote_coin="USDC", settle_coin="USDC")
    add("ETHPERP", "ETH", 3_001.0, 41_000.0, quote_coin="USDC", settle_coin="USDC")
    delivery = start_ms - start_ms % 86_400_000 + 90 * 86_400_000 + 8 * 3_600_000
    add(
        "BTCUSDT-26MAR27",
        "BTC",
        84_200.0,
        1_900.0,
        contract_type="LinearFutures",
        delivery_ms=delivery,
    )
    add("NEWCOINUSDT", "NEWCOIN", 0.5, 0.0, status="PreLaunch", launch_ms=start_ms + 86_400_000)
    return specs


@attrs.define
class ContractState:
    spec: ContractSpec
    rng: random.Random
    mark: float
    oi: float
    """One side, base-coin units."""
    high: float
    low: float
    volume_24h: float
    next_change_tick: int
    changed_tick: int = 0
    """The last tick at which something changed (0: the listing)."""
    cs: int = 1
    """Cross sequence, as Bybit numbers its ticker messages."""
    tick_direction: str = "ZeroPlusTick"
    next_point_ms: int = 0
    """The next 5-minute boundary not yet in `history`."""
    history: list[tuple[int, float, float]] = attrs.Factory(list)
    """(boundary epoch ms, one-side OI, mark) in force at each 5-minute boundary since the
    start, oldest first."""

    def record_until(self, until_ms: int) -> None:
        """The current values are in force at every boundary before `until_ms` not yet kept."""
        while self.next_point_ms < until_ms:
            self.history.append((self.next_point_ms, self.oi, self.mark))
            self.next_point_ms += HISTORY_STEP_MS
        if len(self.history) > HISTORY_MAX_POINTS:
            del self.history[: len(self.history) - HISTORY_MAX_POINTS]

    def step(self) -> None:
        move = self.rng.gauss(0.0, 0.0006)
        self.mark *= math.exp(move)
        self.high, self.low = max(self.high, self.mark), min(self.low, self.mark)
        self.tick_direction = "PlusTick" if move >= 0 else "MinusTick"
        if self.spec.status == "Trading" and self.rng.random() < OI_CHANGE_PROBABILITY:
            self.oi = max(0.0, self.oi * math.exp(self.rng.gauss(0.0, 0.0008)))
            self.volume_24h += self.oi * abs(self.rng.gauss(0.0, 0.0004))
        self.cs += self.rng.randint(1, 40)


def _gap(rng: random.Random) -> int:
    """Ticks until the next change: geometric with success probability CHANGE_PROBABILITY."""
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - CHANGE_PROBABILITY))


def _pre_start(spec: ContractSpec, seed: int, before_ms: int) -> list[tuple[int, float, float]]:
    """`PRE_START_POINTS` 5-minute points before `before_ms` (oldest first), a walk drawn
    backward from the start values on its own stream, so the history meets the live walk."""
    rng = random.Random(_seed_of(seed, f"history:{spec.symbol}"))
    last = before_ms - 1 - (before_ms - 1) % HISTORY_STEP_MS
    oi, mark = spec.start_oi, spec.start_price
    points = []
    for k in range(PRE_START_POINTS):
        at = last - k * HISTORY_STEP_MS
        if at < spec.launch_ms:
            break
        points.append((at, oi, mark))
        if spec.status == "Trading":
            oi = max(0.0, oi * math.exp(rng.gauss(0.0, 0.006)))
        mark *= math.exp(rng.gauss(0.0, 0.004))
    points.reverse()
    return points


class Market:
    def __init__(self, specs: list[ContractSpec], clock: SimClock, seed: int) -> None:
        self.clock = clock
        self.seed = seed
        self.contracts: dict[str, ContractState] = {}
        start = clock.start_epoch_ms
        first_point = start + (-start) % HISTORY_STEP_MS
        self.first_point_ms = first_point
        for spec in specs:
            rng = random.Random(_seed_of(seed, spec.symbol))
            self.contracts[spec.symbol] = ContractState(
                spec=spec,
                rng=rng,
                mark=spec.start_price,
                oi=spec.start_oi,
                high=spec.start_price * 1.02,
                low=spec.start_price * 0.97,
                volume_24h=spec.start_oi * 2.5,
                next_change_tick=_gap(rng),
                next_point_ms=first_point,
            )
        self._pre_start: dict[str, list[tuple[int, float, float]]] = {}
        self._queue = [(c.next_change_tick, c.spec.symbol) for c in self.contracts.values()]
        heapq.heapify(self._queue)
        self.synced_tick = 0

    def tick_at(self, now_ms: int) -> int:
        return (now_ms - self.clock.start_epoch_ms) // TICK_MS

    def sync(self, now_ms: int) -> int:
        """Step every contract up to the tick of `now_ms`; that tick."""
        tick = self.tick_at(now_ms)
        if tick <= self.synced_tick:
            return self.synced_tick
        queue = self._queue
        while queue and queue[0][0] <= tick:
            at, symbol = heapq.heappop(queue)
            state = self.contracts[symbol]
            state.record_until(self.clock.start_epoch_ms + at * TICK_MS)
            state.step()
            state.changed_tick = at
            state.next_change_tick = at + _gap(state.rng)
            heapq.heappush(queue, (state.next_change_tick, symbol))
        self.synced_tick = tick
        return tick

    def oi_history(self, symbol: str, now_ms: int) -> list[tuple[int, float, float]]:
        """(epoch ms, one-side OI, mark) at every 5-minute boundary up to `now_ms`, oldest
        first: the walk before the start, then the values the live walk had at each boundary
        (the last one is the current value when nothing changed since that boundary)."""
        state = self.contracts[symbol]
        self.sync(now_ms)
        state.record_until(now_ms + 1)
        if state.spec.status != "Trading":
            return []
        before = self._pre_start.get(symbol)
        if state.history and state.history[0][0] > self.first_point_ms:
            before = []  # the oldest live points were dropped: no gap between the two parts
        elif before is None:
            before = _pre_start(state.spec, self.seed, self.clock.start_epoch_ms)
            self._pre_start[symbol] = before
        live = [p for p in state.history if p[0] >= state.spec.launch_ms]
        return before + live


# -- Bybit's formats ---------------------------------------------------------------------------


def _price(state: ContractState, value: float) -> str:
    return f"{value:.{state.spec.price_scale}f}"


def _qty(state: ContractState, value: float) -> str:
    return f"{value:.{state.spec.qty_decimals}f}"


def _usd(value: float) -> str:
    return f"{value:.2f}"


def _next_funding_ms(now_ms: int) -> int:
    return now_ms - now_ms % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS


def oi_fields(state: ContractState) -> dict[str, str]:
    """OI as Bybit reports it since 2026-06: `openInterest` both sides (twice the one-side
    `singleOpenInterest`), each `…Value` the size × the reported mark price in USDT, to the
    cent (decimal arithmetic on the strings, as the 2023 capture's value is exactly that)."""
    single = Decimal(_qty(state, state.oi))
    both = 2 * single
    mark = Decimal(_price(state, state.mark))
    cent = Decimal("0.01")
    return {
        "openInterest": f"{both:f}",
        "openInterestValue": f"{(both * mark).quantize(cent):f}",
        "singleOpenInterest": f"{single:f}",
        "singleOpenInterestValue": f"{(single * mark).quantize(cent):f}",
    }


def _book(state: ContractState) -> dict[str, str]:
    tick = 10.0**-state.spec.price_scale
    size = max(state.oi * 0.0001, 10.0**-state.spec.qty_decimals)
    return {
        "bid1Price": _price(state, state.mark - tick),
        "bid1Size": _qty(state, size),
        "ask1Price": _price(state, state.mark + tick),
        "ask1Size": _qty(state, size * 1.3),
    }


def _pre_listing(state: ContractState) -> dict[str, str]:
    return {"preOpenPrice": "", "preQty": "", "curPreListingPhase": ""}


def rest_ticker(state: ContractState, now_ms: int) -> dict[str, str]:
    """One row of `GET /v5/market/tickers?category=linear`, keys in the captures' order."""
    spec = state.spec
    prelaunch = spec.status == "PreLaunch"
    perpetual = spec.contract_type == "LinearPerpetual"
    mark = "" if prelaunch else _price(state, state.mark)
    row = {
        "symbol": spec.symbol,
        "lastPrice": mark,
        "indexPrice": mark,
        "markPrice": mark,
        "prevPrice24h": _price(state, spec.start_price),
        "price24hPcnt": f"{state.mark / spec.start_price - 1:.6f}",
        "highPrice24h": _price(state, state.high),
        "lowPrice24h": _price(state, state.low),
        "prevPrice1h": _price(state, spec.start_price),
        **oi_fields(state),
        "turnover24h": f"{state.volume_24h * state.mark:.4f}",
        "volume24h": f"{state.volume_24h:.4f}",
        "fundingRate": "0.0001" if perpetual else "",
        "nextFundingTime": str(_next_funding_ms(now_ms)) if perpetual else "0",
        "predictedDeliveryPrice": "",
        "basisRate": "" if perpetual else "0.0144",
        "deliveryFeeRate": "" if perpetual else "0",
        "deliveryTime": str(spec.delivery_ms),
        **_book(state),
        "basis": "" if perpetual else _price(state, state.mark * 0.0144),
        **_pre_listing(state),
    }
    if perpetual:
        row["fundingIntervalHour"] = "8"
        row["fundingCap"] = "0.005"
    else:
        row["basisRateYear"] = "0.0602"
    if prelaunch:
        row["curPreListingPhase"] = "NotStarted"
    return row


def ws_ticker(state: ContractState, now_ms: int) -> dict[str, str]:
    """The full `data` of a `tickers.{symbol}` message, keys in the docs' linear order."""
    spec = state.spec
    rest = rest_ticker(state, now_ms)
    data = {
        "symbol": spec.symbol,
        "tickDirection": state.tick_direction,
        "price24hPcnt": rest["price24hPcnt"],
        "lastPrice": rest["lastPrice"],
        "prevPrice24h": rest["prevPrice24h"],
        "highPrice24h": rest["highPrice24h"],
        "lowPrice24h": rest["lowPrice24h"],
        "prevPrice1h": rest["prevPrice1h"],
        "markPrice": rest["markPrice"],
        "indexPrice": rest["indexPrice"],
        **oi_fields(state),
        "turnover24h": rest["turnover24h"],
        "volume24h": rest["volume24h"],
    }
    if spec.contract_type == "LinearPerpetual":
        data["fundingIntervalHour"] = "8"
        data["fundingCap"] = "0.005"
    data["nextFundingTime"] = rest["nextFundingTime"]
    data["fundingRate"] = rest["fundingRate"]
    data.update(_book(state))
    data.update(_pre_listing(state))
    return data


def history_row(state: ContractState, point: tuple[int, float, float]) -> dict[str, str]:
    """One row of `GET /v5/market/open-interest` as the docs show it since 2026-06
    (bybit-exchange/docs c416bd5bd): `openInterest` both sides with 8 decimals ("63910691.00000000"),
    `singleOpenInterest` one side, `timestamp` epoch ms, all strings. The one side is rounded
    as the ticker's (`oi_fields`) and both sides are twice it, so the history's last point and
    a ticker read at the same time give the same coin."""
    at, oi, _mark = point
    single = Decimal(_qty(state, oi))
    return {
        "openInterest": f"{2 * single:.8f}",
        "singleOpenInterest": f"{single:f}",
        "timestamp": str(at),
    }


def instrument_row(spec: ContractSpec) -> dict[str, Any]:
    """One row of `GET /v5/market/instruments-info?category=linear` (the docs' linear shape:
    numeric `symbolId` and `fundingInterval`, everything else strings, booleans and null)."""
    tick = f"{10.0**-spec.price_scale:.{spec.price_scale}f}"
    step = f"{10.0**-spec.qty_decimals:.{spec.qty_decimals}f}" if spec.qty_decimals else "1"
    max_qty = f"{max(1.0, spec.start_oi * 0.02):.{spec.qty_decimals}f}"
    return {
        "symbol": spec.symbol,
        "symbolId": spec.symbol_id,
        "contractType": spec.contract_type,
        "status": spec.status,
        "baseCoin": spec.base_coin,
        "quoteCoin": spec.quote_coin,
        "launchTime": str(spec.launch_ms),
        "deliveryTime": str(spec.delivery_ms),
        "deliveryFeeRate": "" if spec.contract_type == "LinearPerpetual" else "0",
        "priceScale": str(spec.price_scale),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
        "priceFilter": {
            "minPrice": tick,
            "maxPrice": f"{spec.start_price * 20:.{spec.price_scale}f}",
            "tickSize": tick,
        },
        "lotSizeFilter": {
            "maxOrderQty": max_qty,
            "minOrderQty": step,
            "qtyStep": step,
            "postOnlyMaxOrderQty": max_qty,
            "maxMktOrderQty": max_qty,
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480 if spec.contract_type == "LinearPerpetual" else 0,
        "settleCoin": spec.settle_coin,
        "copyTrading": "both" if spec.status == "Trading" else "none",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": spec.status == "PreLaunch",
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "symbolType": "",
    }
