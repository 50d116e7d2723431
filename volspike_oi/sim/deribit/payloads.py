"""Deribit's JSON bodies, key for key in the order and JSON types of the vendored captures
(tests/fixtures/deribit/): every number a JSON number, `.0` on whole floats; inverse OI on REST
an integer (560105870), on the WebSocket a float (1132329370.0), as the captures show."""

from __future__ import annotations

import json
from typing import Any

from volspike_oi.sim.deribit.market import InstrumentState, decimals

API_VERSION = "1.2.26"


def dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


def envelope(now_ms: int, *, result: Any = None, error: Any = None, id_: Any = None) -> str:
    """A JSON-RPC answer: `id` when the request had one, `result` or `error`, then Deribit's
    `usIn`/`usOut`/`usDiff`/`testnet`."""
    doc: dict[str, Any] = {"jsonrpc": "2.0"}
    if id_ is not None:
        doc["id"] = id_
    if error is not None:
        doc["error"] = error
    else:
        doc["result"] = result
    us_in = now_ms * 1000 + 137
    doc.update({"usIn": us_in, "usOut": us_in + 164, "usDiff": 164, "testnet": False})
    return dumps(doc)


def rpc_error(code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "code": code}
    if data is not None:
        error = {"message": message, "data": data, "code": code}
    return error


def instrument(state: InstrumentState) -> dict[str, Any]:
    """A `get_instruments` row (USDC capture's key order, plus today's `instrument_type`)."""
    spec = state.spec
    kind_name = "linear" if spec.linear else "reversed"
    settlement = "USDC" if spec.linear else spec.base
    index = f"{spec.base.lower()}_{'usdc' if spec.linear else 'usd'}"
    return {
        "tick_size": spec.tick_size,
        "taker_commission": 0.0005,
        "settlement_period": spec.settlement_period,
        "settlement_currency": settlement,
        "rfq": False,
        "quote_currency": spec.quote,
        "price_index": index,
        "min_trade_amount": spec.contract_size,
        "max_liquidation_commission": 0.0075,
        "max_leverage": spec.max_leverage,
        "maker_commission": 0.0,
        "kind": "future",
        "is_active": True,
        "instrument_type": kind_name,
        "instrument_name": spec.name,
        "instrument_id": spec.instrument_id,
        "future_type": kind_name,
        "expiration_timestamp": spec.expiration_ms,
        "creation_timestamp": spec.creation_ms,
        "counter_currency": spec.quote,
        "contract_size": spec.contract_size,
        "block_trade_commission": 0.0001,
        "base_currency": spec.base,
    }


def _spread(state: InstrumentState) -> tuple[float, float]:
    tick, mark = state.spec.tick_size, state.mark_price
    digits = decimals(tick)
    return round(mark - tick, digits), round(mark + tick, digits)


def book_summary(state: InstrumentState, now_ms: int) -> dict[str, Any]:
    """A `get_book_summary_by_currency` future row (the BTC-PERPETUAL capture's key order)."""
    spec = state.spec
    mark = state.mark_price
    bid, ask = _spread(state)
    oi: float | int = state.open_interest
    if not spec.linear:
        oi = int(oi)  # whole USD, an integer on REST as in the capture
    volume_usd = round(state.volume_24h, 0)
    row: dict[str, Any] = {
        "volume_usd": volume_usd,
        "volume_notional": volume_usd,
        "volume": round(state.volume_24h / mark, 4),
        "quote_currency": spec.quote,
        "price_change": round(state.rng.uniform(-3.0, 3.0), 4),
        "open_interest": oi,
        "mid_price": round((bid + ask) / 2, 8),
        "mark_price": mark,
        "low": round(mark * 0.97, 8),
        "last": bid,
        "instrument_name": spec.name,
        "high": round(mark * 1.02, 8),
    }
    if spec.perpetual:
        row["funding_8h"] = 0.00000214
    row["estimated_delivery_price"] = mark
    if spec.perpetual:
        row["current_funding"] = 0.0
    row.update(
        {
            "creation_timestamp": now_ms,
            "bid_price": bid,
            "base_currency": spec.base,
            "ask_price": ask,
        }
    )
    return row


def ticker(state: InstrumentState, now_ms: int) -> dict[str, Any]:
    """`data` of a `ticker.<name>.100ms` push (the 2025 captures' key order)."""
    spec = state.spec
    mark = state.mark_price
    bid, ask = _spread(state)
    volume_usd = round(state.volume_24h, 0)
    data: dict[str, Any] = {
        "timestamp": now_ms,
        "state": "open",
        "stats": {
            "high": round(mark * 1.02, 8),
            "low": round(mark * 0.97, 8),
            "price_change": -1.2345,
            "volume": round(state.volume_24h / mark, 4),
            "volume_usd": volume_usd,
            "volume_notional": volume_usd,
        },
        "index_price": mark,
        "instrument_name": spec.name,
        "last_price": bid,
        "settlement_price": mark,
        "min_price": round(mark * 0.985, 8),
        "max_price": round(mark * 1.015, 8),
        "open_interest": float(state.open_interest),
        "mark_price": mark,
    }
    if spec.perpetual:
        data["interest_value"] = 0.0028213400122472977
    data.update(
        {
            "best_ask_price": ask,
            "best_bid_price": bid,
            "estimated_delivery_price": mark,
            "best_ask_amount": spec.contract_size * 20,
            "best_bid_amount": spec.contract_size * 12,
        }
    )
    if spec.perpetual:
        data["current_funding"] = 0.0
        data["funding_8h"] = 0.00001742
    return data


def notification(channel: str, data: Any) -> str:
    return dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    )


TEST_REQUEST = dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})
"""What the server sends each heartbeat interval; the client must answer with `public/test`."""
