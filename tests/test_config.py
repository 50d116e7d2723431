"""Settings: env + flags → one typed object, or one line naming the variable, value and range."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from volspike_oi.config import Settings, SettingsError, describe, load
from volspike_oi.sim.binance.settings import SimSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / "ops" / ".env.example"


def test_defaults_follow_the_seeds():
    s = load(Settings, {})
    assert s.oi_liquid_enter_quote_24h == 4_000_000
    assert s.oi_liquid_exit_quote_24h == 2_000_000
    assert s.max_req_per_min == 2000
    assert (s.min_interval_sec, s.max_interval_sec) == (5, 20)
    assert s.oi_spike_threshold_pct == s.oi_dump_threshold_pct == 0.05
    assert s.oi_min_delta_contracts == 5000
    assert s.binance_fapi_url == "https://fapi.binance.com"
    assert s.binance_fstream_url == "wss://fstream.binance.com"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.binance_proxy_url is s.database_url is s.volspike_api_key is None


def test_environment_values_are_typed():
    s = load(
        Settings,
        {
            "MAX_REQ_PER_MIN": "1500",
            "OI_LIQUID_ENTER_QUOTE_24H": "5_000_000",
            "HTTP_PORT": " 9000 ",
        },
    )
    assert s.max_req_per_min == 1500
    assert s.oi_liquid_enter_quote_24h == 5_000_000.0
    assert s.http_port == 9000


def test_flags_win_over_the_environment():
    s = load(SimSettings, {"SIM_PORT": "9200"}, {"port": "9300"})
    assert s.port == 9300


def test_an_empty_value_means_unset():
    s = load(Settings, {"BINANCE_PROXY_URL": "", "DATABASE_URL": " "})
    assert s.binance_proxy_url is None
    assert s.database_url is None
    assert load(SimSettings, {"SIM_START_MS": ""}).start_ms is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HTTP_PORT": "http"}, "HTTP_PORT='http': expected an integer"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT='70000': must be an integer from 0 to 65535"),
        ({"MAX_REQ_PER_MIN": "2.5"}, "MAX_REQ_PER_MIN='2.5': expected an integer"),
        ({"MAX_REQ_PER_MIN": "0"}, "MAX_REQ_PER_MIN='0': must be an integer from 1 to 1000000"),
        (
            {"OI_SPIKE_THRESHOLD_PCT": "nan"},
            "OI_SPIKE_THRESHOLD_PCT='nan': expected a finite number",
        ),
        ({"OI_DUMP_THRESHOLD_PCT": "5"}, "OI_DUMP_THRESHOLD_PCT='5': must be a number > 0 and ≤ 1"),
        (
            {"BINANCE_FAPI_URL": "fapi.binance.com"},
            "BINANCE_FAPI_URL='fapi.binance.com': must be a URL",
        ),
        (
            {"BINANCE_FSTREAM_URL": "https://x"},
            "BINANCE_FSTREAM_URL='https://x': must be a URL starting with ws:// or wss://",
        ),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD': must be one of DEBUG"),
    ],
)
def test_a_bad_value_is_one_line_naming_variable_value_and_range(env, message):
    with pytest.raises(SettingsError) as info:
        load(Settings, env)
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_exit_threshold_above_enter_is_refused():
    with pytest.raises(
        SettingsError,
        match=r"^OI_LIQUID_EXIT_QUOTE_24H=5e\+06 must be ≤ OI_LIQUID_ENTER_QUOTE_24H=4e\+06",
    ):
        load(Settings, {"OI_LIQUID_EXIT_QUOTE_24H": "5000000"})


def test_min_interval_above_max_is_refused():
    with pytest.raises(SettingsError, match="MIN_INTERVAL_SEC=30 must be ≤ MAX_INTERVAL_SEC=20"):
        load(Settings, {"MIN_INTERVAL_SEC": "30"})


def test_a_bad_flag_is_named_as_a_flag():
    with pytest.raises(SettingsError, match=r"^--symbols='many': expected an integer$"):
        load(SimSettings, {}, {"symbols": "many"})


def test_secrets_are_not_in_repr_or_errors():
    s = load(Settings, {"VOLSPIKE_API_KEY": "s3cret-key", "DATABASE_URL": "postgresql://u:pw@h/db"})
    assert "s3cret-key" not in repr(s)
    assert "pw@h" not in repr(s)


def test_env_example_lists_every_setting_with_its_default():
    text = ENV_EXAMPLE.read_text()
    assigned = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", text, flags=re.M))
    for cls in (Settings, SimSettings):
        for env, default, _help in describe(cls):
            assert env in assigned, f"{env} missing from ops/.env.example"
            assert assigned[env] == default, (
                f"{env}: example says {assigned[env]!r}, default is {default!r}"
            )
