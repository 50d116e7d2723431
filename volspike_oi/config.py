"""The service's settings: one frozen attrs class per concern, composed into `Settings`.

Every field names its environment variable and its CLI flag (`--field-name`); both names are
public, in operators' env files and scripts. The loader itself lives in `volspike_oi.envconfig`.
"""

from __future__ import annotations

import attrs

from volspike_oi.envconfig import (
    SettingsError,
    env_file,
    groups,
    http_origins,
    int_between,
    load,
    number_between,
    setting,
    url_with_scheme,
)
from volspike_oi.venues.model import VENUES

# SettingsError and load are re-exported: the CLI, the benches and tests import them from here.
__all__ = [
    "ENV_EXAMPLE_HEADER",
    "AlertSettings",
    "BinanceSettings",
    "FeatureFlags",
    "HttpSettings",
    "OpsSettings",
    "PollingSettings",
    "Settings",
    "SettingsError",
    "StoreSettings",
    "UniverseSettings",
    "VenueSettings",
    "VolSpikeSettings",
    "env_example",
    "load",
]

# Every group is unslotted (slots=False) because `Settings` inherits them all, and Python refuses
# a class with more than one slotted base that has fields.


@attrs.frozen(slots=False)
class BinanceSettings:
    """Binance: endpoints, the per-IP request weight budget, the mark price stream."""

    binance_fapi_url: str = setting(
        "BINANCE_FAPI_URL",
        "https://fapi.binance.com",
        "Binance USDT-M REST base URL.",
        check=url_with_scheme("http", "https"),
    )
    binance_fstream_url: str = setting(
        "BINANCE_FSTREAM_URL",
        "wss://fstream.binance.com",
        "Binance USDT-M WebSocket base URL (the /market routed path is appended).",
        check=url_with_scheme("ws", "wss"),
    )
    binance_proxy_url: str | None = setting(
        "BINANCE_PROXY_URL",
        None,
        "Optional binance-proxy base; exchangeInfo is read from <base>/api/binance/futures/info.",
        check=url_with_scheme("http", "https"),
    )
    binance_weight_limit: int = setting(
        "BINANCE_WEIGHT_LIMIT",
        2400,
        "Binance REQUEST_WEIGHT per minute per IP (shared with every process on the IP).",
        check=int_between(60, 1_000_000),
    )
    binance_safety_margin_pct: float = setting(
        "BINANCE_SAFETY_MARGIN_PCT",
        0.05,
        "Share of the per-IP limit never planned for (0.05 = 5 %).",
        check=number_between(0, 0.5),
    )
    exchange_info_refresh_sec: float = setting(
        "EXCHANGE_INFO_REFRESH_SEC",
        900.0,
        "How often exchangeInfo (the list of perpetuals) is read.",
        check=number_between(30, 86_400),
    )
    mark_price_stream: str = setting(
        "MARK_PRICE_STREAM",
        "!markPrice@arr@1s",
        "All-market mark price stream: !markPrice@arr@1s (1 s) or !markPrice@arr (3 s).",
        check=lambda v: (
            None
            if v in {"!markPrice@arr@1s", "!markPrice@arr"}
            else "!markPrice@arr@1s or !markPrice@arr"
        ),
    )
    mark_price_max_age_sec: float = setting(
        "MARK_PRICE_MAX_AGE_SEC",
        60.0,
        "A mark price older than this is not used for USD values (reported as unknown).",
        check=number_between(1, 3600),
    )


@attrs.frozen(slots=False)
class UniverseSettings:
    """Liquid universe: which perpetuals are polled in realtime."""

    oi_liquid_enter_quote_24h: float = setting(
        "OI_LIQUID_ENTER_QUOTE_24H",
        4_000_000.0,
        "A perp enters the liquid universe at this 24h quote volume (USDT) or more.",
        check=number_between(0, 1e15, lo_open=True),
    )
    oi_liquid_exit_quote_24h: float = setting(
        "OI_LIQUID_EXIT_QUOTE_24H",
        2_000_000.0,
        "A liquid perp leaves the universe below this 24h quote volume (USDT); must be ≤ enter.",
        check=number_between(0, 1e15),
    )
    universe_refresh_sec: float = setting(
        "UNIVERSE_REFRESH_SEC",
        60.0,
        "How often ticker/24hr (weight 40) reclassifies the liquid universe; at most 300.",
        check=number_between(10, 300),
    )
    oi_include_tradfi: bool = setting(
        "OI_INCLUDE_TRADFI",
        False,
        "Also track TRADIFI_PERPETUAL contracts (gold, silver …).",
    )

    def cross_check(self) -> str | None:
        """Exit threshold ≤ enter threshold: the gap keeps a perp from flapping in and out."""
        if self.oi_liquid_exit_quote_24h > self.oi_liquid_enter_quote_24h:
            return (
                f"OI_LIQUID_EXIT_QUOTE_24H={self.oi_liquid_exit_quote_24h:g} must be ≤ "
                f"OI_LIQUID_ENTER_QUOTE_24H={self.oi_liquid_enter_quote_24h:g} (hysteresis)"
            )
        return None


@attrs.frozen(slots=False)
class PollingSettings:
    """OI polling: the request weight it may use and the interval per liquid symbol."""

    max_req_per_min: int = setting(
        "MAX_REQ_PER_MIN",
        2000,
        "Weight per minute reserved for openInterest polls (of Binance's 2400 per IP).",
        check=int_between(1, 1_000_000),
    )
    min_interval_sec: float = setting(
        "MIN_INTERVAL_SEC",
        5.0,
        "Shortest OI polling interval per liquid symbol, seconds.",
        check=number_between(0.5, 3600),
    )
    max_interval_sec: float = setting(
        "MAX_INTERVAL_SEC",
        20.0,
        "Longest OI polling interval per liquid symbol, seconds; must be ≥ MIN_INTERVAL_SEC.",
        check=number_between(0.5, 3600),
    )

    def cross_check(self) -> str | None:
        """The shortest interval may not exceed the longest."""
        if self.min_interval_sec > self.max_interval_sec:
            return (
                f"MIN_INTERVAL_SEC={self.min_interval_sec:g} must be ≤ "
                f"MAX_INTERVAL_SEC={self.max_interval_sec:g}"
            )
        return None


@attrs.frozen(slots=False)
class AlertSettings:
    """OI alerts: thresholds, the baseline window, cooldown and history kept."""

    oi_spike_threshold_pct: float = setting(
        "OI_SPIKE_THRESHOLD_PCT",
        0.05,
        "UP alert when OI rose by at least this fraction over the baseline (0.05 = 5 %).",
        check=number_between(0, 10, lo_open=True),
    )
    oi_dump_threshold_pct: float = setting(
        "OI_DUMP_THRESHOLD_PCT",
        0.05,
        "DOWN alert when OI fell by at least this fraction under the baseline (0.05 = 5 %).",
        check=number_between(0, 1, lo_open=True),
    )
    oi_min_delta_contracts: float = setting(
        "OI_MIN_DELTA_CONTRACTS",
        0.0,
        "Optional extra gate: an alert also needs |now − baseline| of at least this many "
        "contracts (0 = off; a contract of BTC and of a penny coin differ a millionfold).",
        check=number_between(0, 1e15),
    )
    oi_min_delta_usd: float = setting(
        "OI_MIN_DELTA_USD",
        250_000.0,
        "An alert needs |now − baseline| × the current mark price of at least this many USD; "
        "without a fresh mark price it cannot be met, so no alert (counted). 0 = off.",
        check=number_between(0, 1e15),
    )
    oi_baseline_from_min: float = setting(
        "OI_BASELINE_FROM_MIN",
        60.0,
        "Baseline window starts this many minutes before the newest sample.",
        check=number_between(1, 24 * 60),
    )
    oi_baseline_to_min: float = setting(
        "OI_BASELINE_TO_MIN",
        30.0,
        "Baseline window ends this many minutes before the newest sample; < from.",
        check=number_between(0, 24 * 60),
    )
    oi_alert_cooldown_sec: float = setting(
        "OI_ALERT_COOLDOWN_SEC",
        900.0,
        "Quiet time per (symbol, direction) after an alert; after it the same direction fires "
        "again only once the move grew by one more threshold (+6 % → ≥ +11 %) or fell back "
        "below half the threshold first.",
        check=number_between(0, 86_400),
    )
    oi_history_hours: float = setting(
        "OI_HISTORY_HOURS",
        3.0,
        "Hours of native-resolution OI history kept in memory per symbol (≥ 1).",
        check=number_between(1, 48),
    )

    def cross_check(self) -> str | None:
        """The baseline window must end after it starts (both counted back from now)."""
        if self.oi_baseline_to_min >= self.oi_baseline_from_min:
            return (
                f"OI_BASELINE_TO_MIN={self.oi_baseline_to_min:g} must be < "
                f"OI_BASELINE_FROM_MIN={self.oi_baseline_from_min:g}"
            )
        return None


@attrs.frozen(slots=False)
class VolSpikeSettings:
    """VolSpike backend: where OI and alerts are forwarded, and the API key both sides use."""

    volspike_api_url: str | None = setting(
        "VOLSPIKE_API_URL",
        None,
        "Existing VolSpike backend (PROD); when set, realtime OI and alerts are forwarded to it.",
        check=url_with_scheme("http", "https"),
    )
    volspike_api_url_dev: str | None = setting(
        "VOLSPIKE_API_URL_DEV",
        None,
        "Existing VolSpike backend (DEV); forwarded to as well when set.",
        check=url_with_scheme("http", "https"),
    )
    volspike_api_key: str | None = setting(
        "VOLSPIKE_API_KEY",
        None,
        "API key for ingest routes (X-API-Key); unset refuses all ingest. Never logged.",
        secret=True,
    )
    forward_interval_sec: float = setting(
        "FORWARD_INTERVAL_SEC",
        5.0,
        "Seconds between two posts of the whole OI snapshot (one request) to each backend.",
        check=number_between(1, 300),
    )


@attrs.frozen(slots=False)
class StoreSettings:
    """Storage: the Postgres database and the local data directory."""

    database_url: str | None = setting(
        "DATABASE_URL",
        None,
        "Postgres URL; unset starts an embedded Postgres under VOLSPIKE_DATA_DIR.",
        secret=True,
    )
    data_dir: str = setting(
        "VOLSPIKE_DATA_DIR", "./.volspike", "Directory for the embedded Postgres and local state."
    )
    oi_retention_days: int = setting(
        "OI_RETENTION_DAYS",
        30,
        "Days of stored samples kept: older daily partitions are dropped (checked hourly; "
        "~670 MB a day at the full request rate).",
        check=int_between(1, 36_500),
    )


def _venue_list(v: object) -> str | None:
    names = tuple(v) if isinstance(v, tuple) else ()
    unknown = [n for n in names if n not in VENUES]
    if unknown:
        return f"a comma list of {', '.join(VENUES)} ({unknown[0]!r} is not a venue)"
    if not names:
        return f"at least one of {', '.join(VENUES)}"
    if len(set(names)) != len(names):
        return "a comma list naming each venue once"
    return None


@attrs.frozen(slots=False)
class VenueSettings:
    """Venues beside Binance: which run, their endpoints, how often a push venue is stored."""

    oi_venues: tuple[str, ...] = setting(
        "OI_VENUES",
        VENUES,
        "Comma-separated venues whose open interest is tracked (binance polls over REST; the "
        "others stream). A venue that is down never slows another.",
        check=_venue_list,
    )
    bybit_rest_url: str = setting(
        "BYBIT_REST_URL",
        "https://api.bybit.com",
        "Bybit v5 REST base URL.",
        check=url_with_scheme("http", "https"),
    )
    bybit_ws_url: str = setting(
        "BYBIT_WS_URL",
        "wss://stream.bybit.com/v5/public/linear",
        "Bybit v5 public linear WebSocket URL.",
        check=url_with_scheme("ws", "wss"),
    )
    okx_rest_url: str = setting(
        "OKX_REST_URL",
        "https://www.okx.com",
        "OKX v5 REST base URL.",
        check=url_with_scheme("http", "https"),
    )
    okx_ws_url: str = setting(
        "OKX_WS_URL",
        "wss://ws.okx.com:8443/ws/v5/public",
        "OKX v5 public WebSocket URL.",
        check=url_with_scheme("ws", "wss"),
    )
    deribit_url: str = setting(
        "DERIBIT_URL",
        "https://www.deribit.com",
        "Deribit REST base URL (/api/v2/public/... is appended).",
        check=url_with_scheme("http", "https"),
    )
    deribit_ws_url: str = setting(
        "DERIBIT_WS_URL",
        "wss://www.deribit.com/ws/api/v2",
        "Deribit JSON-RPC WebSocket URL.",
        check=url_with_scheme("ws", "wss"),
    )
    hyperliquid_url: str = setting(
        "HYPERLIQUID_URL",
        "https://api.hyperliquid.xyz",
        "Hyperliquid API base URL (POST /info).",
        check=url_with_scheme("http", "https"),
    )
    hyperliquid_ws_url: str = setting(
        "HYPERLIQUID_WS_URL",
        "wss://api.hyperliquid.xyz/ws",
        "Hyperliquid WebSocket URL.",
        check=url_with_scheme("ws", "wss"),
    )
    oi_store_min_interval_sec: float = setting(
        "OI_STORE_MIN_INTERVAL_SEC",
        5.0,
        "A streamed venue-symbol is stored at most this often, and only when its OI changed "
        "(the API and the WebSocket still get every update).",
        check=number_between(0, 3600),
    )


@attrs.frozen(slots=False)
class HttpSettings:
    """HTTP/WebSocket API: the address it listens on and the browser origins it answers."""

    http_host: str = setting("HTTP_HOST", "127.0.0.1", "Address the HTTP/WebSocket API binds to.")
    http_port: int = setting(
        "HTTP_PORT", 8080, "Port of the HTTP/WebSocket API.", check=int_between(0, 65535)
    )
    http_max_body_bytes: int = setting(
        "HTTP_MAX_BODY_BYTES",
        8 * 1024 * 1024,
        "Largest request body accepted (a 650-symbol snapshot is ~80 KB); a larger one is "
        "answered 413 before it is read.",
        check=int_between(1024, 1024 * 1024 * 1024),
    )
    allowed_origins: tuple[str, ...] = setting(
        "ALLOWED_ORIGINS",
        (),
        "Comma-separated browser origins (https://volspike.com) allowed to read the GET routes "
        "(CORS) and open /ws; unset = same origin only. The binance-proxy's setting name.",
        check=http_origins,
    )


@attrs.frozen(slots=False)
class FeatureFlags:
    """Feature flags: each switches one part of the service off."""

    oi_realtime_enabled: bool = setting(
        "OI_REALTIME_ENABLED", True, "Feature flag: the OI poller (realtime and 5-minute coverage)."
    )
    oi_alerts_enabled: bool = setting(
        "OI_ALERTS_ENABLED", True, "Feature flag: OI spike/dump alerts."
    )
    oi_liquidity_job_enabled: bool = setting(
        "OI_LIQUIDITY_JOB_ENABLED",
        True,
        "Feature flag: the 24h-ticker classifier; off = every perp on 5-minute coverage only.",
    )
    mark_price_stream_enabled: bool = setting(
        "MARK_PRICE_STREAM_ENABLED",
        True,
        "Feature flag: the mark price WebSocket; off = premiumIndex (all) every 15 s only.",
    )
    http_enabled: bool = setting(
        "HTTP_ENABLED", True, "Feature flag: the HTTP/WebSocket API and debug pages."
    )


@attrs.frozen(slots=False)
class OpsSettings:
    """Operations: status log lines and the log level."""

    status_log_sec: float = setting(
        "STATUS_LOG_SEC",
        60.0,
        "Seconds between two status log lines.",
        check=number_between(1, 3600),
    )
    log_level: str = setting(
        "LOG_LEVEL",
        "INFO",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        check=lambda v: (
            None
            if v in {"DEBUG", "INFO", "WARNING", "ERROR"}
            else "one of DEBUG, INFO, WARNING, ERROR"
        ),
    )


# attrs lists inherited fields from the last base to the first; the bases are listed backwards so
# that `--help` and ops/.env.example start with Binance and end with operations.
@attrs.frozen(slots=False)
class Settings(
    OpsSettings,
    FeatureFlags,
    HttpSettings,
    VenueSettings,
    StoreSettings,
    VolSpikeSettings,
    AlertSettings,
    PollingSettings,
    UniverseSettings,
    BinanceSettings,
):
    """Everything the service reads at start-up. Names follow the seeds where they name one."""

    def cross_check(self) -> str | None:
        """Checks between groups; `load` runs each group's own `cross_check` as well."""
        if self.max_req_per_min > self.binance_weight_limit:
            return (
                f"MAX_REQ_PER_MIN={self.max_req_per_min} must be ≤ "
                f"BINANCE_WEIGHT_LIMIT={self.binance_weight_limit}"
            )
        return None


ENV_EXAMPLE_HEADER = """\
# volspike-oi settings: copy to /etc/volspike-oi.env (or .env) and edit.
# Every variable is optional; the value shown is the default. Secrets come only from here.
# A bad value stops the program with one line naming the variable and what is allowed.
# `volspike-oi serve` reads the service's variables, `sim` the SIM_* ones and `demo` both;
# a command-line flag (see --help) overrides its variable.
"""


def env_example() -> str:
    """The text of `ops/.env.example`: every service setting by group, then the simulator's."""
    # Imported here: the simulator package brings its web server, which the service does not need.
    from volspike_oi.sim.binance.settings import SimSettings

    sections = [(_heading(group), group) for group in groups(Settings)]
    sections.append(("Binance simulator (volspike-oi sim / demo)", SimSettings))
    return env_file(ENV_EXAMPLE_HEADER, sections)


def _heading(group: type) -> str:
    """A group's heading in the env file: the first line of its docstring."""
    return (group.__doc__ or group.__name__).splitlines()[0].rstrip(".")


if __name__ == "__main__":
    print(env_example(), end="")
