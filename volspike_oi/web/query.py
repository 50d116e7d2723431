"""Query parameters of the read routes: parsed and bounded, or a `QueryError` naming the one
that is wrong (answered 400)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from volspike_oi.venues.model import VENUES, VenueName
from volspike_oi.web.contract import is_symbol
from volspike_oi.web.errors import BadRequest

SINCE_BEFORE_S = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()


class QueryError(BadRequest):
    """A query parameter we cannot use."""


SINCE_MS_DIGITS = 18
"""`?since=` in epoch milliseconds: up to 18 digits (the spec's pattern says the same)."""
MAX_WHOLE_NUMBER = 2**63 - 1
"""The largest `limit` (then served as the route's cap): a signed int64."""


def _whole_number(raw: str) -> bool:
    # str.isdigit() alone accepts "²" and other digits int() refuses.
    return raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_WHOLE_NUMBER


def parse_limit(raw: str | None, default: int, cap: int) -> int:
    """`?limit=`: a whole number ≥ 1; larger than `cap` is served as `cap`."""
    if raw is None or raw == "":
        return default
    if not _whole_number(raw) or int(raw) < 1:
        raise QueryError(
            "limit", f"expected a whole number from 1 to {MAX_WHOLE_NUMBER}, got {raw!r}"
        )
    return min(int(raw), cap)


def parse_symbol(raw: str | None, *, required: bool) -> str | None:
    """`?symbol=`: upper-cased; `contract.SYMBOL_PATTERN`. Absent means every symbol where that
    is allowed; given but empty is a mistake (a filter box left empty), never "every symbol"."""
    if raw is None:
        if required:
            raise QueryError("symbol", "required, e.g. ?symbol=BTCUSDT")
        return None
    if raw == "":
        raise QueryError("symbol", "empty: name a symbol, e.g. ?symbol=BTCUSDT, or leave it out")
    if not is_symbol(raw):
        raise QueryError("symbol", f"not a symbol: {raw[:50]!r}")
    return raw.upper()


def parse_since(raw: str | None) -> float | None:
    """`?since=`: epoch milliseconds or an ISO 8601 date or time (UTC when no offset), as epoch
    seconds. A time before 1970 means from the first reading, one after 2099 none: "since" is a
    lower bound, and any well-formed one is a fair question."""
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= SINCE_MS_DIGITS:
        since = int(raw) / 1000  # epoch milliseconds, as Binance writes times
    else:
        try:
            # RFC 3339 allows a lower-case t and z; fromisoformat wants them upper-case.
            parsed = dt.datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                "since", f"expected epoch milliseconds or ISO 8601, got {raw[:50]!r}"
            ) from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        since = (parsed - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds()
    return min(max(since, 0.0), SINCE_BEFORE_S)


def parse_venue(raw: str | None) -> VenueName:
    """`?venue=`: one of `VENUES` (lower case); absent is Binance, so clients written before
    there were venues read what they always read."""
    if raw is None:
        return "binance"
    name = raw.strip().lower()
    for venue in VENUES:
        if venue == name:
            return venue
    raise QueryError("venue", f"one of {', '.join(VENUES)}; got {raw[:50]!r}")


def venue_symbol(raw: str | None, venue: VenueName, known: Collection[str]) -> str:
    """`?symbol=` on `venue`: Binance's are upper-cased as always; another venue's keep their
    case (Hyperliquid lists kPEPE) but a case-insensitive match among `known` is accepted."""
    if venue == "binance":
        symbol = parse_symbol(raw, required=True)
        assert symbol is not None
        return symbol
    if raw is None:
        raise QueryError("symbol", "required, e.g. ?symbol=BTC-USDT-SWAP")
    if raw == "" or not is_symbol(raw):
        raise QueryError("symbol", f"not a symbol: {raw[:50]!r}")
    if raw in known:
        return raw
    folded = {k.casefold(): k for k in known}
    return folded.get(raw.casefold(), raw)


def parse_asset(raw: str, known: Collection[str]) -> str:
    """`/assets/{asset}`: BTC, 1000pepe → the known asset of that name, case-insensitively
    (a canonical asset is upper case, but a link may not be)."""
    if not is_symbol(raw):
        raise QueryError("asset", f"not an asset: {raw[:50]!r}")
    if raw in known:
        return raw
    folded = {k.casefold(): k for k in known}
    return folded.get(raw.casefold(), raw.upper())
