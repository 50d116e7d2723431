"""The simulated OKX exchange: public REST with OKX's paths (instruments, open interest, mark
prices and the rubik open-interest history), envelope, all-string values, per endpoint limits
and refusals, and faults; plus the control the tests and the demo use.

`OkxSim.handle()` is framework-free: the quart-trio app (`app.py`) and the in-process httpx
transport (`volspike_oi.sim.transport.InProcessTransport`) both call it, so both see the same
bytes, limits and statistics.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from volspike_oi.sim.answer import HANG, RestFault, VenueAnswer
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.control import control
from volspike_oi.sim.faults import Faults
from volspike_oi.sim.okx.market import (
    HISTORY_STEP_MS,
    Market,
    SwapSpec,
    SwapState,
    build_catalog,
)

INSTRUMENTS_PATH = "/api/v5/public/instruments"
OPEN_INTEREST_PATH = "/api/v5/public/open-interest"
MARK_PRICE_PATH = "/api/v5/public/mark-price"
HISTORY_PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
LIMITS_PER_2S = {
    INSTRUMENTS_PATH: 20,
    OPEN_INTEREST_PATH: 20,
    MARK_PRICE_PATH: 10,
    HISTORY_PATH: 10,
}
"""OKX v5 docs: requests per 2 s per IP (+ instrument ID or type) for each endpoint. The
history's 10 per 2 s per IP + instrument ID is from a copy of the docs page (rosssaunders/
coincise `docs/okx/endpoints/private/get_api_v5_rubik_stat_contracts_open_interest_history.md`)."""
HOUR_MS = 12 * HISTORY_STEP_MS
HISTORY_PERIODS_MS: dict[str, tuple[int, int]] = {
    "5m": (HISTORY_STEP_MS, 0),
    "15m": (3 * HISTORY_STEP_MS, 0),
    "30m": (6 * HISTORY_STEP_MS, 0),
    "1H": (HOUR_MS, 0),
    "2H": (2 * HOUR_MS, 0),
    "4H": (4 * HOUR_MS, 0),
    "1D": (24 * HOUR_MS, 16 * HOUR_MS),
    "1Dutc": (24 * HOUR_MS, 0),
}
"""`period` → (length, UTC offset of its boundaries): the docs' 5m/15m/30m/1H/2H/4H and the
days (1D opens at UTC+8 midnight, 16:00 UTC; 1Dutc at UTC midnight). The docs' 6H … 3M are
not simulated (answered as a wrong period)."""
HISTORY_MAX_LIMIT = 100
"""The docs: "The maximum is 100. The default is 100"."""
WINDOW_MS = 2_000
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
JSON_HEADERS = (("Content-Type", "application/json"),)
RATE_LIMIT_BODY = b'{"msg":"Too Many Requests","code":"50011"}'
"""What OKX answers with HTTP 429 (as ccxt and others log it; note: no `data`)."""
FIVE_XX = {
    500: ("50013", "Systems are busy. Please try again later."),
    502: ("50001", "Service temporarily unavailable. Please try again later."),
    503: ("50001", "Service temporarily unavailable. Please try again later."),
}


@attrs.frozen
class OkxSimSettings:
    seed: int = 1
    start_ms: int | None = None
    """Epoch ms at the start; None reads the wall clock once."""
    extra_swaps: int = 40
    """USDT swaps besides the majors (OKX lists ~250; 40 keeps a five-venue demo light)."""
    oi_push_interval_s: float = 3.0
    """The `open-interest` channel: "pushed every 3 seconds when there are updates"."""
    mark_push_interval_s: float = 0.2
    """The `mark-price` channel: every 200 ms when it changes…"""
    mark_idle_push_s: float = 10.0
    """…and every 10 s when it does not."""
    idle_close_s: float = 30.0
    """OKX closes a connection with no subscription for this long."""


@attrs.define
class OkxSimStats:
    requests: int = 0
    refused_for_rate: int = 0
    errors_5xx: int = 0
    ws_connections_opened: int = 0
    ws_messages_pushed: int = 0
    ws_subscribe_ops: int = 0


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def text(value: Decimal) -> str:
    """OKX writes plain decimals ("0.0000074954", never "7.4954E-6")."""
    return format(value, "f")


def envelope(data: list[Any], code: str = "0", msg: str = "") -> bytes:
    # Key order as the byte-exact 2022 capture: code, data, msg.
    return dumps({"code": code, "data": data, "msg": msg})


class _Refusal(Exception):
    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def instrument_row(spec: SwapSpec, list_time_ms: int) -> dict[str, str]:
    """A SWAP row with the 2022 capture's keys (plus `instFamily` and `ruleType`, which OKX
    added later), every value a string as OKX sends it."""
    return {
        "alias": "",
        "baseCcy": "",
        "category": "1",
        "ctMult": text(spec.ct_mult),
        "ctType": spec.ct_type,
        "ctVal": text(spec.ct_val),
        "ctValCcy": spec.ct_val_ccy,
        "expTime": "",
        "instFamily": spec.uly,
        "instId": spec.inst_id,
        "instType": "SWAP",
        "lever": spec.lever,
        "listTime": str(list_time_ms),
        "lotSz": text(spec.lot_sz),
        "maxIcebergSz": "100000000",
        "maxLmtSz": "100000000",
        "maxMktSz": "10000",
        "maxStopSz": "10000",
        "maxTriggerSz": "100000000",
        "maxTwapSz": "100000000",
        "minSz": text(spec.lot_sz),
        "optType": "",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": spec.settle_ccy,
        "state": spec.state,
        "stk": "",
        "tickSz": text(spec.tick_sz),
        "uly": spec.uly,
    }


def open_interest_row(state: SwapState, now_ms: int) -> dict[str, str]:
    """Keys in the capture's order (instId, instType, oi, oiCcy, ts) with `oiUsd`, added 2023."""
    return {
        "instId": state.spec.inst_id,
        "instType": "SWAP",
        "oi": text(state.oi_contracts),
        "oiCcy": text(state.oi_ccy.quantize(Decimal("1e-12")).normalize()),
        "oiUsd": text(state.oi_usd.quantize(Decimal("0.01"))),
        "ts": str(now_ms),
    }


def history_row(spec: SwapSpec, point: tuple[int, Decimal, Decimal]) -> list[str]:
    """One row of the rubik open-interest history, the docs' array [ts, oi, oiCcy, oiUsd]: oi
    in contracts, oiCcy in coin (oi × ctVal × ctMult), oiUsd in USD at that time's mark, all
    strings, formatted as the `open-interest` rows."""
    at, contracts, mark = point
    face = contracts * spec.coin_per_contract
    if spec.ct_type == "inverse":  # face is USD
        coin, usd = face / mark, face
    else:
        coin, usd = face, face * mark
    return [
        str(at),
        text(contracts),
        text(coin.quantize(Decimal("1e-12")).normalize()),
        text(usd.quantize(Decimal("0.01"))),
    ]


def mark_price_row(state: SwapState, now_ms: int) -> dict[str, str]:
    return {
        "instId": state.spec.inst_id,
        "instType": "SWAP",
        "markPx": text(state.mark_px),
        "ts": str(now_ms),
    }


class OkxSim:
    """One simulated OKX. Create it inside `trio.run` (it reads trio's clock)."""

    def __init__(self, settings: OkxSimSettings | None = None, *, seed: int | None = None) -> None:
        import time

        self.settings = settings or OkxSimSettings()
        if seed is not None:
            self.settings = attrs.evolve(self.settings, seed=seed)
        # The wall clock is read once, to anchor the simulated epoch when none is given.
        start_ms = self.settings.start_ms
        self.clock = SimClock.starting_now(
            start_ms if start_ms is not None else int(time.time() * 1000)
        )
        self.market = Market(
            build_catalog(self.settings.extra_swaps, self.settings.seed),
            self.clock,
            self.settings.seed,
        )
        self.faults = Faults()
        self.stats = OkxSimStats()
        self.ws_drop_generation = 0
        """Incremented to make every open WebSocket connection drop."""
        self.silent_until_ms = 0
        """Until then connections stay open but nothing is pushed or answered."""
        self.rate_limited_until_ms = 0
        """Until then every REST request is refused with OKX's 429."""
        self._windows: dict[tuple[str, str, str], tuple[int, int]] = {}
        self._fault_rng = random.Random(self.settings.seed ^ 0x0C5)
        self._list_time_ms = self.clock.start_epoch_ms - 400 * 86_400_000

    # -- control ---------------------------------------------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def drop_websockets(self) -> None:
        self.ws_drop_generation += 1

    def silence(self, seconds: float) -> None:
        self.silent_until_ms = self.clock.now_ms() + int(seconds * 1000)

    def rate_limit(self, seconds: float) -> None:
        self.rate_limited_until_ms = self.clock.now_ms() + int(seconds * 1000)

    def silenced(self) -> bool:
        return self.clock.now_ms() < self.silent_until_ms

    def stats_view(self) -> dict[str, int]:
        return attrs.asdict(self.stats)

    # -- REST ------------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        client_ip: str = "127.0.0.1",
        body: bytes = b"",
    ) -> VenueAnswer:
        now = self.clock.now_ms()
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        self.stats.requests += 1
        if path not in LIMITS_PER_2S:
            return VenueAnswer(404, b'{"msg":"","code":"404"}')
        if now < self.rate_limited_until_ms or not self._admit(client_ip, path, query, now):
            self.stats.refused_for_rate += 1
            return VenueAnswer(429, RATE_LIMIT_BODY)
        fate = RestFault.draw(self.faults, self._fault_rng)
        if fate.hang:
            return HANG
        if fate.five_xx is not None:
            self.stats.errors_5xx += 1
            code, msg = FIVE_XX.get(fate.five_xx, FIVE_XX[503])
            return VenueAnswer(fate.five_xx, envelope([], code, msg), delay_s=fate.delay_s)
        try:
            data = self._serve(path, query, now)
        except _Refusal as refusal:
            return VenueAnswer(refusal.status, envelope([], refusal.code, refusal.msg))
        return fate.served(envelope(data))

    def _admit(self, ip: str, path: str, query: Mapping[str, str], now_ms: int) -> bool:
        """Fixed 2 s windows per IP, endpoint and instrument (OKX: "IP + Instrument ID");
        refused requests are not counted."""
        key = (ip, path, query.get("instId") or query.get("instType", ""))
        window = now_ms - now_ms % WINDOW_MS
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            count = 0
        if count >= LIMITS_PER_2S[path]:
            return False
        self._windows[key] = (window, count + 1)
        return True

    def _swaps(self, query: Mapping[str, str]) -> list[SwapSpec]:
        inst_type = query.get("instType", "")
        if not inst_type:
            raise _Refusal(400, "50014", "Parameter instType can not be empty.")
        if inst_type not in INST_TYPES:
            raise _Refusal(400, "51000", "Parameter instType error")
        if inst_type != "SWAP":
            return []  # The simulator lists swaps only.
        inst_id = query.get("instId")
        if inst_id:
            if not self.market.has(inst_id):
                raise _Refusal(400, "51001", "Instrument ID does not exist")
            return [s for s in self.market.catalog if s.inst_id == inst_id]
        return list(self.market.catalog)

    def _history(self, query: Mapping[str, str], now: int) -> list[list[str]]:
        """Points at each `period` boundary from the market's own walk, newest first, of the
        latest 1,440; `end` keeps those older than it, `begin` those newer (the docs' words;
        both exclusive here), `limit` ≤ 100 of them."""
        inst_id = query.get("instId", "")
        if not inst_id:
            raise _Refusal(400, "50014", "Parameter instId can not be empty.")
        if not self.market.has(inst_id):
            raise _Refusal(400, "51001", "Instrument ID does not exist")
        period = HISTORY_PERIODS_MS.get(query.get("period") or "5m")
        if period is None:
            raise _Refusal(400, "51000", "Parameter period error")
        length, offset = period
        raw_limit = query.get("limit") or str(HISTORY_MAX_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= HISTORY_MAX_LIMIT:
            raise _Refusal(400, "51000", "Parameter limit error")
        bounds = []
        for key in ("begin", "end"):
            raw = query.get(key, "")
            if raw and not raw.isdigit():
                raise _Refusal(400, "51000", f"Parameter {key} error")
            bounds.append(int(raw) if raw else None)
        begin, end = bounds
        spec = next(s for s in self.market.catalog if s.inst_id == inst_id)
        points = [
            p
            for p in reversed(self.market.oi_history(inst_id, now))
            if (p[0] - offset) % length == 0
            and (begin is None or p[0] > begin)
            and (end is None or p[0] < end)
        ]
        return [history_row(spec, p) for p in points[: int(raw_limit)]]

    def _serve(self, path: str, query: Mapping[str, str], now: int) -> list[Any]:
        if path == HISTORY_PATH:
            return self._history(query, now)
        swaps = self._swaps(query)
        if path == INSTRUMENTS_PATH:
            return [instrument_row(s, self._list_time_ms) for s in swaps]
        live = [self.market.state(s.inst_id, now) for s in swaps if s.state == "live"]
        if path == OPEN_INTEREST_PATH:
            return [open_interest_row(state, now) for state in live]
        return [mark_price_row(state, now) for state in live]

    def _control(self, method: str, path: str, body: bytes) -> VenueAnswer:
        return control(self, method, path, body, self.stats_view)
