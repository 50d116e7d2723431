"""The service started while its Postgres is down: it stays up, buffers, and writes it all later.

Real Postgres (embedded), real clock (trio-stack-facts §2e). The issue's acceptance is 45 s of
outage at boot; this test keeps the suite quick with `DOWN_AT_BOOT_S`, the same path: the
migration retries with backoff while samples are buffered, then runs, then everything lands.
"""

from __future__ import annotations

import trio

from tests.conftest import count_rows
from tests.service_harness import NO_STREAM, start_stack, wait_until
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.server import EmbeddedPostgres

DOWN_AT_BOOT_S = 15.0


async def test_a_database_down_at_boot_is_migrated_and_written_once_it_is_up(
    pg_server: EmbeddedPostgres, pg_uri: str
):
    store = PostgresStore(pg_uri)  # a new, empty database: never migrated
    await trio.to_thread.run_sync(pg_server.kill)
    try:
        async with trio.open_nursery() as nursery:
            stack = await start_stack(nursery, sim={"symbols": 120}, env=NO_STREAM, store=store)
            writer = stack.service.writer
            await trio.sleep(DOWN_AT_BOOT_S)
            assert writer.down_since is not None
            assert writer.last_error
            assert writer.buffered > 50
            assert writer.written == 0
            assert stack.service.health["store_writer"].state == "running"
            assert stack.service.health["oi_poller"].state == "running"
            await trio.to_thread.run_sync(pg_server.restart)
            await wait_until(lambda: writer.down_since is None and writer.buffered < 100, 60)
            nursery.cancel_scope.cancel()  # shutdown flushes what is still buffered
    finally:
        if pg_server.pid is None:
            await trio.to_thread.run_sync(pg_server.restart)
        await store.aclose()
    answers = sum(len(v) for v in stack.recorder.samples.values())
    assert answers > 300
    assert writer.dropped == 0
    assert count_rows(pg_uri, "open_interest_snapshots") == answers
