"""What the service needs of a store, split by direction; `PostgresStore` is the real one.

The store writer and HTTP ingest write (`StoreWriter`); the warm start and the read routes read
(`StoreReader`). The service takes a `Store`, both at once, so a fake store in a test must
answer the web API's reads too instead of silently losing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from volspike_oi.messages import LiquidMember, OiAlert, OiSample, UniverseUpdate
from volspike_oi.views import OiAlertView, OiStoredSample


@attrs.frozen
class WriteBatch:
    """Rows written in one transaction: all of them or none."""

    samples: Sequence[OiSample] = ()
    alerts: Sequence[OiAlert] = ()
    universes: Sequence[UniverseUpdate] = ()

    def __len__(self) -> int:
        return len(self.samples) + len(self.alerts) + len(self.universes)


CoinRow = tuple[str, str, str, float, float, float | None]
"""(venue, asset, symbol, epoch seconds, coin, usd or None) of one stored reading."""


class StoreWriter(Protocol):
    async def write(self, batch: WriteBatch) -> int:
        """Store `batch` idempotently; returns how many sample rows were new."""
        ...

    async def prepare_partitions(self, now: float, days_ahead: int) -> None: ...

    async def migrate(self) -> int:
        """Bring the schema up to date (idempotent); returns its version."""
        ...

    async def drop_partitions_before(self, cutoff: float) -> list[str]:
        """Drop the daily sample partitions of days before `cutoff`'s (UTC); their names."""
        ...


class StoreReader(Protocol):
    async def recent_samples(self, since: float) -> dict[str, list[tuple[float, float, float]]]:
        """(epoch seconds, contracts, mark price or NaN) per symbol since `since`, oldest
        first: the alert evaluator's history after a restart."""
        ...

    async def recent_coin(self, since: float) -> list[CoinRow]:
        """Every stored reading with a coin quantity since `since`, oldest first: the
        aggregator's per-venue history after a restart."""
        ...

    async def last_alerts(self, since: float, source: str, venue: str = "binance") -> list[OiAlert]:
        """Each (symbol, direction)'s newest alert of `venue` ("all": the aggregate alerts)
        from `source` since `since`: the alert gate after a restart."""
        ...

    async def samples(
        self, symbol: str, since: float | None, limit: int, venue: str = "binance"
    ) -> list[OiStoredSample]:
        """One venue-symbol's stored readings, newest first, as `/samples` serves them."""
        ...

    async def alerts(self, symbol: str | None, limit: int) -> list[OiAlertView]:
        """Stored alerts, newest first, as `/api/open-interest-alerts` serves them."""
        ...

    async def liquid_members(self) -> list[LiquidMember]:
        """The liquid set as last written (`open_interest_liquid_symbols`), by symbol: the
        classifier's starting members after a restart."""
        ...


class Store(StoreWriter, StoreReader, Protocol):
    """Both directions: what `service.run` takes."""
