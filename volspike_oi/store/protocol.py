"""What the actors need of a store; `PostgresStore` is the real one, tests may pass a fake."""

from __future__ import annotations

from typing import Protocol

from volspike_oi.store.database import WriteBatch


class Store(Protocol):
    async def write(self, batch: WriteBatch) -> int: ...

    async def recent_samples(self, since: float) -> dict[str, list[tuple[float, float]]]: ...

    async def prepare_partitions(self, now: float, days_ahead: int) -> None: ...
