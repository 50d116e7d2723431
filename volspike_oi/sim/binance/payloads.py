"""JSON bodies in Binance's exact shape: field names, key order and types of the real captures.

Prices, quantities, rates and OI are strings; times and ids are integers (the captures vendored
in `tests/fixtures/binance/`, with their sources).
"""

from __future__ import annotations

import math
from typing import Any

from volspike_oi.sim.binance.catalog import SymbolSpec
from volspike_oi.sim.binance.market import SymbolState
from volspike_oi.sim.clock import MINUTE_MS

FUNDING_PERIOD_MS = 8 * 3_600_000
DAY_MS = 86_400_000


def fixed(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def rounded_price(state: SymbolState) -> float:
    return round(state.mark_price, state.spec.price_precision)


def next_funding_ms(now_ms: int) -> int:
    return now_ms - now_ms % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS


def rate_limits(weight_limit: int) -> list[dict[str, Any]]:
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": weight_limit,
        },
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]


def _filters(spec: SymbolSpec) -> list[dict[str, Any]]:
    tick = fixed(10.0**-spec.price_precision, spec.price_precision)
    step = (
        fixed(10.0**-spec.quantity_precision, spec.quantity_precision)
        if spec.quantity_precision
        else "1"
    )
    return [
        {
            "maxPrice": fixed(spec.mark_price * 50, spec.price_precision),
            "tickSize": tick,
            "filterType": "PRICE_FILTER",
            "minPrice": tick,
        },
        {"stepSize": step, "minQty": step, "maxQty": "1000000", "filterType": "LOT_SIZE"},
        {"minQty": step, "maxQty": "100000", "filterType": "MARKET_LOT_SIZE", "stepSize": step},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"notional": "5", "filterType": "MIN_NOTIONAL"},
        {
            "multiplierDown": "0.9500",
            "multiplierUp": "1.0500",
            "multiplierDecimal": "4",
            "filterType": "PERCENT_PRICE",
        },
        {"filterType": "POSITION_RISK_CONTROL", "positionControlSide": "NONE"},
    ]


_ORDER_TYPES = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]
_TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX", "GTD"]


def exchange_info_symbol(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "pair": spec.pair,
        "contractType": spec.contract_type,
        "deliveryDate": spec.delivery_ms,
        "onboardDate": spec.onboard_ms,
        "status": spec.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base_asset,
        "quoteAsset": spec.quote_asset,
        "marginAsset": spec.margin_asset,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": spec.underlying_type,
        "underlyingSubType": list(spec.underlying_sub_type),
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": _filters(spec),
        "orderTypes": list(_ORDER_TYPES),
        "timeInForce": list(_TIME_IN_FORCE),
        "permissionSets": ["GRID", "COPY", "DCA", "PSB"],
    }


def exchange_info(specs: list[SymbolSpec], weight_limit: int, now_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": rate_limits(weight_limit),
        "exchangeFilters": [],
        "assets": [
            {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
            {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
            {"asset": "USDC", "marginAvailable": True, "autoAssetExchange": "-10000"},
        ],
        "symbols": [exchange_info_symbol(s) for s in specs],
    }


def open_interest(state: SymbolState, start_epoch_ms: int) -> dict[str, Any]:
    return {
        "symbol": state.spec.symbol,
        "openInterest": fixed(state.open_interest, state.spec.quantity_precision),
        # Binance's `time` is the last change; here OI changes every simulated second.
        "time": start_epoch_ms + state.step * 1000,
    }


def premium_index(state: SymbolState, now_ms: int) -> dict[str, Any]:
    mark = state.mark_price
    tradfi = state.spec.is_tradfi
    return {
        "symbol": state.spec.symbol,
        "markPrice": fixed(round(mark, state.spec.price_precision), 8),
        "indexPrice": fixed(mark * (1 - 0.0006), 8),
        "estimatedSettlePrice": fixed(mark * (1 + 0.0009), 8),
        "lastFundingRate": fixed(state.funding_rate, 8),
        "interestRate": "0.00000000" if tradfi else "0.00010000",
        "nextFundingTime": next_funding_ms(now_ms),
        "time": now_ms - now_ms % 1000,
    }


def ticker_24hr(state: SymbolState, now_ms: int, open_price: float) -> dict[str, Any]:
    spec = state.spec
    prec = spec.price_precision
    last = rounded_price(state)
    high = max(open_price, last) * 1.021
    low = min(open_price, last) * 0.983
    avg = (open_price + last + high + low) / 4
    volume = state.quote_volume_24h / avg
    count = max(1, int(state.quote_volume_24h / 4_000))
    last_id = 190_000_000 + state.step * 37 + int(spec.onboard_ms % 1_000_000)
    change = last - open_price
    # Keys in the order of the stored real capture (alphabetical there).
    return {
        "closeTime": now_ms - 137,
        "count": count,
        "firstId": last_id - count + 1,
        "highPrice": fixed(high, prec),
        "lastId": last_id,
        "lastPrice": fixed(last, prec),
        "lastQty": fixed(max(10.0**-spec.quantity_precision, 1000 / last), spec.quantity_precision),
        "lowPrice": fixed(low, prec),
        "openPrice": fixed(open_price, prec),
        "openTime": now_ms - now_ms % MINUTE_MS - DAY_MS + MINUTE_MS,
        "priceChange": fixed(change, prec),
        "priceChangePercent": fixed(100 * change / open_price, 3),
        "quoteVolume": fixed(state.quote_volume_24h, 2),
        "symbol": spec.symbol,
        "volume": fixed(volume, spec.quantity_precision),
        "weightedAvgPrice": fixed(avg, prec),
    }


def open_interest_hist_row(
    symbol: str, ms: int, oi: float, mark: float, supply: float
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "sumOpenInterest": fixed(oi, 8),
        "sumOpenInterestValue": fixed(oi * mark, 8),
        "CMCCirculatingSupply": fixed(supply, 8),
        "timestamp": ms,
    }


def mark_price_update(state: SymbolState, event_ms: int) -> dict[str, Any]:
    mark = state.mark_price
    no_funding = state.spec.contract_type not in ("PERPETUAL", "TRADIFI_PERPETUAL")
    return {
        "e": "markPriceUpdate",
        "E": event_ms,
        "s": state.spec.symbol,
        "p": fixed(round(mark, state.spec.price_precision), 8),
        "ap": fixed(round(mark, state.spec.price_precision), 8),
        "P": fixed(mark * (1 + 0.0009), 8),
        "i": fixed(mark * (1 - 0.0006), 8),
        # Contracts without scheduled funding send T: 0 and a zero rate, as observed live.
        "r": "0.00000000" if no_funding else fixed(state.funding_rate, 8),
        "T": 0 if no_funding else next_funding_ms(event_ms),
        "st": 2 if state.spec.coin_margined else 1,
    }


def circulating_supply(state: SymbolState) -> float:
    return math.floor(state.spec.quote_volume_24h / state.spec.mark_price * 37.0) + 1_000_000.0
