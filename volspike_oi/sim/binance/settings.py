"""Settings of the Binance simulator (`volspike-oi sim`), from `SIM_*` variables and flags."""

from __future__ import annotations

import attrs

from volspike_oi.envconfig import int_between, number_between, setting


@attrs.frozen
class SimSettings:
    host: str = setting(
        "SIM_HOST", "127.0.0.1", "Address the simulator binds to (keep it loopback)."
    )
    port: int = setting(
        "SIM_PORT", 9100, "Port of the simulator (0 picks a free one).", check=int_between(0, 65535)
    )
    symbols: int = setting(
        "SIM_SYMBOLS",
        600,
        "Trading USDT-margined perpetuals listed (other contract kinds come on top).",
        check=int_between(1, 5000),
    )
    seed: int = setting(
        "SIM_SEED",
        1,
        "Seed of the market; the same seed gives the same market.",
        check=int_between(0, 2**63 - 1),
    )
    weight_limit: int = setting(
        "SIM_WEIGHT_LIMIT",
        2400,
        "REQUEST_WEIGHT per minute per IP.",
        check=int_between(1, 1_000_000),
    )
    ban_after: int = setting(
        "SIM_BAN_AFTER",
        10,
        "Requests refused with 429 in one minute before the IP is banned (418).",
        check=int_between(0, 1_000_000),
    )
    scenario: str | None = setting(
        "SIM_SCENARIO", None, "JSON file of scripted events (OI moves, listings, faults)."
    )
    start_ms: int | None = setting(
        "SIM_START_MS",
        None,
        "Epoch ms the simulated clock starts at (default: now).",
        check=int_between(0, 2**53),
    )
    clock_offset_ms: int = setting(
        "SIM_CLOCK_OFFSET_MS",
        0,
        "The simulated exchange's clock minus the start epoch, to the millisecond (a clock ahead"
        " of or behind its clients'); unlike SIM_START_MS it is not rounded to a whole second.",
        check=int_between(-86_400_000, 86_400_000),
    )
    error_rate: float = setting(
        "SIM_ERROR_RATE", 0.0, "Fraction of REST requests answered 5xx.", check=number_between(0, 1)
    )
    latency_ms: float = setting(
        "SIM_LATENCY_MS",
        0.0,
        "Latency added to every REST response.",
        check=number_between(0, 600_000),
    )
    hang_rate: float = setting(
        "SIM_HANG_RATE",
        0.0,
        "Fraction of REST requests never answered.",
        check=number_between(0, 1),
    )
    malformed_rate: float = setting(
        "SIM_MALFORMED_RATE",
        0.0,
        "Fraction of 200 responses with a cut-short JSON body.",
        check=number_between(0, 1),
    )
    ws_drop_every_s: float = setting(
        "SIM_WS_DROP_EVERY_S",
        0.0,
        "Drop every WebSocket connection this often (0 = never).",
        check=number_between(0, 86_400),
    )
    background_weight: int = setting(
        "SIM_BACKGROUND_WEIGHT",
        0,
        "Weight per minute used by another process on the same IP.",
        check=int_between(0, 1_000_000),
    )
    mark_frame_rows: int = setting(
        "SIM_MARK_FRAME_ROWS",
        400,
        "Most rows in one !markPrice@arr frame (a tick is split into several).",
        check=int_between(1, 100_000),
    )
