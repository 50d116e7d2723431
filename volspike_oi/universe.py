"""Which contracts we track, and which of them are liquid: pure rules, no I/O.

`is_tracked_perpetual` is the exchangeInfo filter (USDT-margined perpetuals that trade);
`classify` is the liquidity hysteresis: enter at ≥ enter threshold, leave below the exit
threshold, keep in between, and leave at once when the contract vanishes or stops trading.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen
class ContractInfo:
    """The exchangeInfo fields that decide whether a contract is tracked."""

    symbol: str
    contract_type: str
    status: str
    quote_asset: str
    margin_asset: str


def is_tracked_perpetual(info: ContractInfo, *, include_tradfi: bool = False) -> bool:
    kinds = ("PERPETUAL", "TRADIFI_PERPETUAL") if include_tradfi else ("PERPETUAL",)
    return (
        info.contract_type in kinds
        and info.quote_asset == "USDT"
        and info.margin_asset == "USDT"
        and info.status == "TRADING"
    )


@attrs.frozen
class Thresholds:
    enter_quote_24h: float
    """A symbol joins the liquid set at this 24h quote volume (USDT) or more."""
    exit_quote_24h: float
    """A liquid symbol leaves below this 24h quote volume; ≤ enter_quote_24h."""

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.exit_quote_24h <= self.enter_quote_24h:
            raise ValueError("exit threshold must be ≥ 0 and ≤ the enter threshold")


@attrs.frozen
class Classification:
    members: frozenset[str]
    entered: frozenset[str]
    exited: frozenset[str]
    """Left because volume fell below the exit threshold or the contract is no longer tracked."""


def classify(
    current: frozenset[str],
    quote_volume_24h: Mapping[str, float],
    tracked: frozenset[str],
    thresholds: Thresholds,
) -> Classification:
    """The liquid set after one 24h-ticker reading.

    A tracked symbol without a ticker row keeps its membership: no reading is no evidence.
    """
    members: set[str] = set()
    for symbol in tracked:
        volume = quote_volume_24h.get(symbol)
        if symbol in current:
            if volume is None or volume >= thresholds.exit_quote_24h:
                members.add(symbol)
        elif volume is not None and volume >= thresholds.enter_quote_24h:
            members.add(symbol)
    frozen = frozenset(members)
    return Classification(frozen, frozen - current, current - frozen)
