"""Query parameters of the read routes: parsed and bounded, or a `QueryError` naming the one
that is wrong (answered 400)."""

from __future__ import annotations

import datetime as dt

from volspike_oi.web.errors import BadRequest

SINCE_BEFORE_S = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()
MAX_SYMBOL_CHARS = 40


class QueryError(BadRequest):
    """A query parameter we cannot use."""


def _whole_number(raw: str) -> bool:
    # str.isdigit() alone accepts "²" and other digits int() refuses; 18 digits fit an int64.
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def parse_limit(raw: str | None, default: int, cap: int) -> int:
    """`?limit=`: a whole number ≥ 1; larger than `cap` is served as `cap`."""
    if raw is None or raw == "":
        return default
    if not _whole_number(raw) or int(raw) < 1:
        raise QueryError("limit", f"expected a whole number ≥ 1, got {raw!r}")
    return min(int(raw), cap)


def parse_symbol(raw: str | None, *, required: bool) -> str | None:
    """`?symbol=`: upper-cased; no whitespace or unprintable characters."""
    if raw is None or raw == "":
        if required:
            raise QueryError("symbol", "required, e.g. ?symbol=BTCUSDT")
        return None
    if len(raw) > MAX_SYMBOL_CHARS or any(c.isspace() for c in raw) or not raw.isprintable():
        raise QueryError("symbol", f"not a symbol: {raw[:50]!r}")
    return raw.upper()


def parse_since(raw: str | None) -> float | None:
    """`?since=`: epoch milliseconds or ISO 8601 (UTC when no offset), as epoch seconds."""
    if raw is None or raw == "":
        return None
    if _whole_number(raw):
        since = int(raw) / 1000  # epoch milliseconds, as Binance writes times
    else:
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            since = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
        except (ValueError, OverflowError):
            raise QueryError(
                "since", f"expected epoch milliseconds or ISO 8601, got {raw[:50]!r}"
            ) from None
    if not 0 <= since < SINCE_BEFORE_S:
        raise QueryError("since", f"not between 1970 and 2099: {raw[:50]!r}")
    return since
