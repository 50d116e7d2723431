"""Hyperliquid JSON → typed values, at one boundary, strictly.

Hyperliquid sends every asset-context value as a JSON string (`"openInterest":"36295.80812"`)
and the universe's `szDecimals`/`maxLeverage` as numbers; `premium`, `midPx` and `impactPxs` are
`null` on a market without a book (a delisted asset). Strict hooks refuse any other type, unknown
fields are ignored (Hyperliquid added `marginTableId`, `isDelisted`, `marginTables`,
`collateralToken` over time), and a missing or mistyped field raises `VenueDecodeError` naming
Hyperliquid's own key path (`metaAndAssetCtxs[1][3].openInterest`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from cattrs.preconf.json import make_converter

from volspike_oi.strict import register_strict_hooks
from volspike_oi.venues.decoding import parse_json, structure
from volspike_oi.venues.errors import VenueDecodeError
from volspike_oi.venues.model import Instrument, VenueReading
from volspike_oi.venues.units import split_bundle

T = TypeVar("T")

_CONVERTER = register_strict_hooks(make_converter(forbid_extra_keys=False, use_alias=True))


@attrs.frozen
class UniverseEntry:
    """One perpetual of `meta.universe`; its index is the index of its asset context."""

    name: str
    """The coin as Hyperliquid lists it: BTC, kPEPE (1000 PEPE)."""
    sz_decimals: int = attrs.field(alias="szDecimals")
    max_leverage: int = attrs.field(alias="maxLeverage")
    is_delisted: bool = attrs.field(default=False, alias="isDelisted")
    """Present (true) only on delisted assets; absent means listed."""


@attrs.frozen
class Meta:
    universe: list[UniverseEntry]


@attrs.frozen
class AssetCtx:
    """One perpetual's context, the same object in `metaAndAssetCtxs` and `activeAssetCtx`."""

    open_interest: Decimal = attrs.field(alias="openInterest")
    """In units of the listed coin (kPEPE units for kPEPE)."""
    mark_px: Decimal = attrs.field(alias="markPx")
    oracle_px: Decimal = attrs.field(alias="oraclePx")
    funding: Decimal | None = None
    prev_day_px: Decimal | None = attrs.field(default=None, alias="prevDayPx")
    day_ntl_vlm: Decimal | None = attrs.field(default=None, alias="dayNtlVlm")
    premium: Decimal | None = None
    mid_px: Decimal | None = attrs.field(default=None, alias="midPx")
    impact_pxs: list[Decimal] | None = attrs.field(default=None, alias="impactPxs")
    day_base_vlm: Decimal | None = attrs.field(default=None, alias="dayBaseVlm")
    """Only in the REST context (and newer pushes); the 2024 WebSocket push has none."""


@attrs.frozen
class MetaAndAssetCtxs:
    """`[meta, ctxs]`, paired by index: `pairs[i]` is (universe[i], ctxs[i])."""

    universe: list[UniverseEntry]
    ctxs: list[AssetCtx]

    def pairs(self) -> list[tuple[UniverseEntry, AssetCtx]]:
        return list(zip(self.universe, self.ctxs, strict=True))


@attrs.frozen
class AssetCtxPush:
    """`{"channel":"activeAssetCtx","data":{"coin":…,"ctx":{…}}}`: every push is the whole
    context (Hyperliquid sends no deltas), so a push alone is a full reading."""

    coin: str
    ctx: AssetCtx


@attrs.frozen
class SubscriptionAck:
    method: str
    subscription: dict[str, Any]


@attrs.frozen
class Pong:
    pass


@attrs.frozen
class StreamError:
    """`{"channel":"error","data":"<text>"}`: a refused command."""

    text: str


@attrs.frozen
class OtherChannel:
    channel: str


WsMessage = AssetCtxPush | SubscriptionAck | Pong | StreamError | OtherChannel


def decode(doc: Any, cls: type[T], what: str) -> T:
    return structure(_CONVERTER, doc, cls, what)


def decode_meta_and_asset_ctxs(doc: Any) -> MetaAndAssetCtxs:
    """The body of `POST /info {"type":"metaAndAssetCtxs"}`."""
    what = "metaAndAssetCtxs"
    if not isinstance(doc, list) or len(doc) != 2:
        shape = f"a list of {len(doc)}" if isinstance(doc, list) else type(doc).__name__
        raise VenueDecodeError(what, [f"expected [meta, assetCtxs], got {shape} @ {what}"])
    meta = decode(doc[0], Meta, f"{what}[0]")
    if not isinstance(doc[1], list):
        raise VenueDecodeError(what, [f"expected a list, got {type(doc[1]).__name__} @ {what}[1]"])
    ctxs = [decode(item, AssetCtx, f"{what}[1][{i}]") for i, item in enumerate(doc[1])]
    if len(ctxs) != len(meta.universe):
        raise VenueDecodeError(
            what,
            [
                f"{len(meta.universe)} universe entries but {len(ctxs)} asset contexts "
                f"@ {what}[0].universe / {what}[1]"
            ],
        )
    return MetaAndAssetCtxs(meta.universe, ctxs)


def decode_ws_message(message: str | bytes) -> WsMessage:
    """One WebSocket message; `VenueDecodeError` when a channel we rely on has the wrong shape."""
    doc = parse_json(message, "ws message")
    if not isinstance(doc, dict) or not isinstance(doc.get("channel"), str):
        raise VenueDecodeError("ws message", ["expected an object with a string `channel`"])
    channel: str = doc["channel"]
    if channel == "activeAssetCtx":
        return decode(doc.get("data"), AssetCtxPush, "activeAssetCtx.data")
    if channel == "subscriptionResponse":
        return decode(doc.get("data"), SubscriptionAck, "subscriptionResponse.data")
    if channel == "pong":
        return Pong()
    if channel == "error":
        data = doc.get("data")
        return StreamError(data if isinstance(data, str) else json.dumps(data))
    return OtherChannel(channel)


def instrument_of(entry: UniverseEntry) -> Instrument:
    """Linear, coin per OI unit from the name: kPEPE counts 1000 PEPE per unit."""
    asset, multiplier = split_bundle(entry.name)
    return Instrument(entry.name, asset, "linear", multiplier)


def reading_of(instrument: Instrument, ctx: AssetCtx) -> VenueReading:
    """`openInterest` is in units of the listed coin: coin = OI × coin_per_contract (×1000 for
    kPEPE). The price is `markPx`, not `oraclePx`: every other venue's USD is coin × that venue's
    own mark price, so Hyperliquid's mark keeps USD comparable across venues (the oracle is an
    index of spot prices elsewhere). Hyperliquid quotes kPEPE per kPEPE unit, so the USD per PEPE
    is markPx / 1000 and USD = OI × markPx; `mark_price` carries USD per asset coin."""
    mark = ctx.mark_px / instrument.coin_per_contract if ctx.mark_px > 0 else None
    return VenueReading(
        symbol=instrument.symbol,
        asset=instrument.asset,
        contracts=ctx.open_interest,
        coin=instrument.coin(ctx.open_interest, mark),
        mark_price=mark,
        exchange_time_ms=None,
    )
