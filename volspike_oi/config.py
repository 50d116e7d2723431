"""Typed settings: attrs classes filled from environment variables and CLI flags.

Every field names its environment variable; values arrive as strings and are structured by a
cattrs converter with strict hooks, then checked by validators that know the allowed range. Any
bad value becomes one `SettingsError` line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs

T = TypeVar("T")

_INT_RE = re.compile(r"^[+-]?\d[\d_]*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(Exception):
    """A setting has a value we cannot run with; the message is one line meant for the operator."""


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    check: Callable[[Any], str | None] | None = None,
    secret: bool = False,
) -> Any:
    """Declare a settings field read from `env`.

    `check(value)` returns None when the value is allowed, else a phrase saying what is allowed
    ("an integer from 1 to 65535"); the loader turns it into the one-line error.
    """
    return attrs.field(
        default=default,
        metadata={"env": env, "help": help, "check": check, "secret": secret},
        repr=not secret,
    )


# -- checks: each returns None when fine, else the allowed range in words ----------------------


def int_between(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"an integer from {lo} to {hi}"

    return check


def number_between(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
        return None if ok else f"a number {'>' if lo_open else '≥'} {lo:g} and ≤ {hi:g}"

    return check


def url_with_scheme(*schemes: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None:
            return None
        if any(v.startswith(f"{s}://") and len(v) > len(s) + 3 for s in schemes):
            return None
        return "a URL starting with " + " or ".join(f"{s}://" for s in schemes)

    return check


# -- conversion from strings -------------------------------------------------------------------


def _int_from_str(v: object, _: type) -> int:
    if isinstance(v, bool):
        raise ValueError("expected an integer")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _INT_RE.match(v.strip()):
        return int(v.strip())
    raise ValueError("expected an integer")


def _float_from_str(v: object, _: type) -> float:
    if isinstance(v, bool):
        raise ValueError("expected a number")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            out = float(v.strip().replace("_", ""))
        except ValueError:
            pass
        else:
            if math.isfinite(out):
                return out
    raise ValueError("expected a finite number")


def _bool_from_str(v: object, _: type) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _str_from_str(v: object, _: type) -> str:
    if not isinstance(v, str):
        raise ValueError("expected text")
    return v


def _is_optional(t: Any) -> bool:
    args = typing.get_args(t)
    return len(args) == 2 and type(None) in args


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(int, _int_from_str)
    conv.register_structure_hook(float, _float_from_str)
    conv.register_structure_hook(bool, _bool_from_str)
    conv.register_structure_hook(str, _str_from_str)

    def optional(v: object, t: Any) -> Any:
        # An empty value in an env file means "not set", as `VAR=` does in systemd and shells.
        if v is None or (isinstance(v, str) and v.strip() == ""):
            return None
        inner = next(a for a in typing.get_args(t) if a is not type(None))
        return conv.structure(v, inner)

    conv.register_structure_hook_func(_is_optional, optional)
    return conv


_CONVERTER = _converter()


def _leaf_messages(exc: BaseException) -> list[tuple[str | None, str]]:
    """(attribute name, message) for each leaf error of a cattrs validation group."""
    out: list[tuple[str | None, str]] = []
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            name = None
            for note in getattr(sub, "__notes__", []):
                name = getattr(note, "name", None) or name
            for child_name, msg in _leaf_messages(sub):
                out.append((child_name or name, msg))
        return out
    return [(None, str(exc) or type(exc).__name__)]


def load(
    cls: type[T],
    environ: Mapping[str, str],
    flags: Mapping[str, str] | None = None,
) -> T:
    """Build `cls` from `environ` (by each field's env name) and `flags` (by field name).

    Flags win over the environment, the environment over defaults. Raises `SettingsError` with
    one line naming the variable (or flag), the value given and what is allowed.
    """
    flags = flags or {}
    raw: dict[str, object] = {}
    source: dict[str, str] = {}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        env = field.metadata["env"]
        if field.name in flags:
            raw[field.name] = flags[field.name]
            source[field.name] = "--" + field.name.replace("_", "-")
        elif env in environ:
            raw[field.name] = environ[env]
            source[field.name] = env
    try:
        obj = _CONVERTER.structure(raw, cls)
    except cattrs.BaseValidationError as exc:
        name, msg = _leaf_messages(exc)[0]
        if name is None:
            raise SettingsError(f"invalid settings: {msg}") from None
        label = source.get(name, name)
        raise SettingsError(f"{label}={raw.get(name)!r}: {msg}") from None
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        check = field.metadata["check"]
        value = getattr(obj, field.name)
        allowed = check(value) if check is not None and value is not None else None
        if allowed is not None:
            label = source.get(field.name, field.metadata["env"])
            shown = "<hidden>" if field.metadata["secret"] else repr(raw.get(field.name, value))
            raise SettingsError(f"{label}={shown}: must be {allowed}")
    cross = getattr(obj, "cross_check", None)
    if cross is not None:
        problem = cross()
        if problem:
            raise SettingsError(problem)
    return obj


def describe(cls: type[Any]) -> list[tuple[str, str, str]]:
    """(env name, default as text, help) per field: the source of `ops/.env.example`."""
    rows = []
    for field in attrs.fields(cls):
        default = "" if field.default is None else str(field.default)
        rows.append((field.metadata["env"], default, field.metadata["help"]))
    return rows


@attrs.frozen
class Settings:
    """Everything the service reads at start-up. Names follow the seeds where they name one."""

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
    http_host: str = setting("HTTP_HOST", "127.0.0.1", "Address the HTTP/WebSocket API binds to.")
    http_port: int = setting(
        "HTTP_PORT", 8080, "Port of the HTTP/WebSocket API.", check=int_between(0, 65535)
    )
    database_url: str | None = setting(
        "DATABASE_URL",
        None,
        "Postgres URL; unset starts an embedded Postgres under VOLSPIKE_DATA_DIR.",
        secret=True,
    )
    data_dir: str = setting(
        "VOLSPIKE_DATA_DIR", "./.volspike", "Directory for the embedded Postgres and local state."
    )
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
        5000.0,
        "An alert also needs |now − baseline| of at least this many contracts.",
        check=number_between(0, 1e15),
    )
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
    oi_min_delta_usd: float = setting(
        "OI_MIN_DELTA_USD",
        0.0,
        "An alert also needs |now − baseline| × mark price of at least this many USD (0 = off).",
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
        "Quiet time per (symbol, direction) after an alert.",
        check=number_between(0, 86_400),
    )
    oi_history_hours: float = setting(
        "OI_HISTORY_HOURS",
        3.0,
        "Hours of native-resolution OI history kept in memory per symbol (≥ 1).",
        check=number_between(1, 48),
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

    def cross_check(self) -> str | None:
        if self.oi_liquid_exit_quote_24h > self.oi_liquid_enter_quote_24h:
            return (
                f"OI_LIQUID_EXIT_QUOTE_24H={self.oi_liquid_exit_quote_24h:g} must be ≤ "
                f"OI_LIQUID_ENTER_QUOTE_24H={self.oi_liquid_enter_quote_24h:g} (hysteresis)"
            )
        if self.oi_baseline_to_min >= self.oi_baseline_from_min:
            return (
                f"OI_BASELINE_TO_MIN={self.oi_baseline_to_min:g} must be < "
                f"OI_BASELINE_FROM_MIN={self.oi_baseline_from_min:g}"
            )
        if self.max_req_per_min > self.binance_weight_limit:
            return (
                f"MAX_REQ_PER_MIN={self.max_req_per_min} must be ≤ "
                f"BINANCE_WEIGHT_LIMIT={self.binance_weight_limit}"
            )
        if self.min_interval_sec > self.max_interval_sec:
            return (
                f"MIN_INTERVAL_SEC={self.min_interval_sec:g} must be ≤ "
                f"MAX_INTERVAL_SEC={self.max_interval_sec:g}"
            )
        return None
