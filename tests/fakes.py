"""In-memory stand-ins shared by the tests."""

from __future__ import annotations

from volspike_oi.messages import LiquidMember, OiAlert
from volspike_oi.store.protocol import CoinRow, WriteBatch
from volspike_oi.views import OiAlertView, OiStoredSample


class EmptyStore:
    """The whole `Store` protocol over nothing: writes are kept in `batches`, reads find
    nothing. Tests override what they need (a slow write, a count)."""

    def __init__(self) -> None:
        self.batches: list[WriteBatch] = []

    async def write(self, batch: WriteBatch) -> int:
        self.batches.append(batch)
        return len(batch.samples)

    async def prepare_partitions(self, now: float, days_ahead: int) -> None:
        return None

    async def migrate(self) -> int:
        return 1

    async def drop_partitions_before(self, cutoff: float) -> list[str]:
        return []

    async def recent_samples(self, since: float) -> dict[str, list[tuple[float, float, float]]]:
        return {}

    async def recent_coin(self, since: float) -> list[CoinRow]:
        return []

    async def last_alerts(self, since: float, source: str, venue: str = "binance") -> list[OiAlert]:
        return []

    async def samples(
        self, symbol: str, since: float | None, limit: int, venue: str = "binance"
    ) -> list[OiStoredSample]:
        return []

    async def alerts(self, symbol: str | None, limit: int) -> list[OiAlertView]:
        return []

    async def liquid_members(self) -> list[LiquidMember]:
        return []
