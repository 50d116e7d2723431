"""The liquid set survives a restart: the classifier starts from `open_interest_liquid_symbols`,
so a symbol between the exit and enter thresholds stays liquid (with its `entered_at`) and one
that fell below the exit threshold meanwhile leaves with an exit event.

Real Postgres (embedded), real clock: the database work runs in a worker thread, which MockClock
would jump over (trio-stack-facts §2e).
"""

from __future__ import annotations

import logging

import psycopg
import pytest
import trio

from tests.conftest import START_MS
from tests.service_harness import start_stack, wait_until
from volspike_oi import service as service_mod
from volspike_oi.messages import LiquidMember, UniverseUpdate
from volspike_oi.sim.binance import BinanceSim, SimSettings
from volspike_oi.sim.binance.scenario import NO_EVENTS
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.universe import Thresholds

THRESHOLDS = Thresholds(4e6, 2e6)
SYMBOLS = 120
CLASSIFIER_ONLY = {
    "OI_REALTIME_ENABLED": "false",
    "OI_ALERTS_ENABLED": "false",
    "MARK_PRICE_STREAM_ENABLED": "false",
    "STATUS_LOG_SEC": "3600",
}
"""Only exchangeInfo, the classifier and the store writer matter here."""
A_DAY_AGO = START_MS / 1000 - 86_400


def universe(members: list[LiquidMember], at: float) -> UniverseUpdate:
    return UniverseUpdate(
        tracked=frozenset(m.symbol for m in members),
        liquid=tuple(sorted(members, key=lambda m: m.symbol)),
        entered=frozenset(m.symbol for m in members),
        exited=frozenset(),
        thresholds=THRESHOLDS,
        classified_at=at,
    )


def events(uri: str) -> list[tuple[str, str]]:
    with psycopg.connect(uri) as conn:
        rows = conn.execute(
            "SELECT symbol, event FROM open_interest_universe_events ORDER BY id"
        ).fetchall()
    return [(symbol, event) for symbol, event in rows]


def stored_set(uri: str) -> dict[str, float]:
    """symbol → entered_at (epoch seconds) of the stored liquid set."""
    with psycopg.connect(uri) as conn:
        rows = conn.execute(
            "SELECT symbol, extract(epoch FROM entered_at)::float8 FROM open_interest_liquid_symbols"
        ).fetchall()
    return dict(rows)


async def test_the_liquid_set_reads_back_as_the_last_universe_left_it(pg_store: PostgresStore):
    members = [
        LiquidMember("ETHUSDT", 8.1e9, A_DAY_AGO),
        LiquidMember("BTCUSDT", 1.44e10, A_DAY_AGO - 3600),
        LiquidMember("ADAUSDT", 3.9e8, A_DAY_AGO + 60),
    ]
    await pg_store.write(WriteBatch(universes=[universe(members, A_DAY_AGO + 120)]))
    await pg_store.write(WriteBatch(universes=[universe(members[:2], A_DAY_AGO + 180)]))
    assert await pg_store.liquid_members() == sorted(members[:2], key=lambda m: m.symbol)


async def test_an_empty_store_has_no_liquid_set(pg_store: PostgresStore):
    assert await pg_store.liquid_members() == []


def initial_volumes() -> dict[str, float]:
    """The simulated market's 24h quote volumes at the start, as the first ticker/24hr reads
    them (the start_stack market: same settings, same seed)."""
    sim = BinanceSim(SimSettings(start_ms=START_MS, symbols=SYMBOLS), NO_EVENTS)
    return {s: state.quote_volume_24h for s, state in sim.market.symbols.items()}


async def test_a_restart_keeps_the_liquid_set_and_a_member_that_fell_below_exit_gets_its_event(
    pg_uri: str, pg_store: PostgresStore
):
    volumes = initial_volumes()
    between = sorted(s for s, v in volumes.items() if 2.3e6 < v < 3.7e6)[:2]
    below = sorted(s for s, v in volumes.items() if 0 < v < 1.7e6)[:1]
    above = sorted(s for s, v in volumes.items() if v > 5e6)[:1]
    assert len(between) == 2
    assert len(below) == len(above) == 1
    stored = [LiquidMember(s, 4.5e6, A_DAY_AGO) for s in [*between, *below, *above]]
    # What the previous run left: these four liquid, each with its enter event.
    await pg_store.write(WriteBatch(universes=[universe(stored, A_DAY_AGO)]))

    async with trio.open_nursery() as nursery:
        stack = await start_stack(
            nursery, sim={"symbols": SYMBOLS}, env=CLASSIFIER_ONLY, store=pg_store
        )
        status = stack.service.status
        await wait_until(lambda: status.universe is not None, 30)
        await wait_until(lambda: set(below) <= {s for s, _ in events(pg_uri)[4:]}, 30)
        nursery.cancel_scope.cancel()

    update = status.universe
    assert update is not None
    liquid = {m.symbol: m for m in update.liquid}
    for symbol in [*between, *above]:
        assert symbol in liquid, symbol
        assert liquid[symbol].entered_at == A_DAY_AGO  # kept, not re-entered
    assert set(below) <= update.exited
    assert not set(below) & set(liquid)
    after_restart = events(pg_uri)[4:]
    assert [(s, e) for s, e in after_restart if s in [*between, *below, *above]] == [
        (below[0], "exit")
    ]
    kept = stored_set(pg_uri)
    assert {s: kept[s] for s in [*between, *above]} == dict.fromkeys([*between, *above], A_DAY_AGO)
    assert below[0] not in kept


class UnreachableStore:
    async def liquid_members(self) -> list[LiquidMember]:
        raise psycopg.OperationalError("connection refused")


async def test_an_unreadable_liquid_set_starts_the_classifier_empty_and_says_so(
    caplog: pytest.LogCaptureFixture,
):
    with caplog.at_level(logging.WARNING):
        seed = await service_mod._stored_liquid_set(UnreachableStore())  # type: ignore[arg-type]
    assert seed == []
    assert "stored liquid set unreadable (connection refused)" in caplog.text
