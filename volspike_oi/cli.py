"""The `volspike-oi` command: subcommands, settings from env + flags, one-line errors."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

import attrs
import trio

from volspike_oi.config import Settings, SettingsError, load
from volspike_oi.sim.scenario import ScenarioError, load_scenario
from volspike_oi.sim.settings import SimSettings

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


async def _cancel_on_signal(scope: trio.CancelScope) -> None:
    """SIGINT/SIGTERM end the program cleanly (systemd stops units with SIGTERM)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            scope.cancel()
            return


async def _run_sim(settings: SimSettings) -> None:
    from volspike_oi.sim import BinanceSim, Scenario, serve_sim

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


async def _run_serve(settings: Settings) -> None:
    from volspike_oi import service

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancel_on_signal, nursery.cancel_scope)
        await nursery.start(service.run, settings)


async def _run_demo(settings: Settings, sim_settings: SimSettings) -> None:
    from volspike_oi import service
    from volspike_oi.sim import BinanceSim, serve_sim
    from volspike_oi.sim.scenario import BUILTIN_DIR

    scenario = load_scenario(sim_settings.scenario or BUILTIN_DIR / "demo.json")
    sim = BinanceSim(sim_settings, scenario)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancel_on_signal, nursery.cancel_scope)
        binds = await nursery.start(serve_sim, sim, sim_settings.host, sim_settings.port)
        base = binds[0]
        log.info("demo: simulator on %s (stats at %s/_sim/stats)", base, base)
        demo_settings = attrs.evolve(
            settings,
            binance_fapi_url=base,
            binance_fstream_url=base.replace("http://", "ws://"),
            binance_proxy_url=None,
            binance_weight_limit=sim_settings.weight_limit,
        )
        await nursery.start(service.run, demo_settings)


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
            trio.run(_run_serve, load(Settings, os.environ, _flags(args, Settings)))
        elif args.command == "demo":
            service_settings = load(Settings, os.environ, _flags(args, Settings))
            demo_sim = load(SimSettings, os.environ, {"port": "0", **_flags(args, SimSettings)})
            trio.run(_run_demo, service_settings, demo_sim)
    except (SettingsError, ScenarioError) as exc:
        print(f"volspike-oi: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"volspike-oi: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
