"""Settings: env + flags → one typed object, or one line naming the variable, value and range."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.config import (
    AlertSettings,
    BinanceSettings,
    FeatureFlags,
    HttpSettings,
    OpsSettings,
    PollingSettings,
    Settings,
    StoreSettings,
    UniverseSettings,
    VenueSettings,
    VolSpikeSettings,
    env_example,
)
from volspike_oi.envconfig import SettingsError, describe, groups, load
from volspike_oi.sim.binance.settings import SimSettings

T = TypeVar("T")

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / "ops" / ".env.example"


def test_defaults_follow_the_seeds():
    s = load(Settings, {})
    assert s.oi_liquid_enter_quote_24h == 4_000_000
    assert s.oi_liquid_exit_quote_24h == 2_000_000
    assert s.max_req_per_min == 2000
    assert (s.min_interval_sec, s.max_interval_sec) == (5, 20)
    assert s.oi_spike_threshold_pct == s.oi_dump_threshold_pct == 0.05
    # Issue 10: the absolute minimum is in USD (a contract's worth differs a millionfold).
    assert (s.oi_min_delta_usd, s.oi_min_delta_contracts) == (250_000, 0)
    assert s.oi_alert_cooldown_sec == 900
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


def test_env_example_is_generated_from_the_settings():
    assert ENV_EXAMPLE.read_text() == env_example(), (
        "ops/.env.example is stale: .venv/bin/python -m volspike_oi.config > ops/.env.example"
    )


# -- Settings composed of one group per concern ------------------------------------------------

GROUPS = [
    BinanceSettings,
    UniverseSettings,
    PollingSettings,
    AlertSettings,
    VolSpikeSettings,
    StoreSettings,
    VenueSettings,
    HttpSettings,
    FeatureFlags,
    OpsSettings,
]


def test_settings_has_exactly_the_fields_of_its_groups_in_group_order():
    assert groups(Settings) == GROUPS
    assert [f.name for f in attrs.fields(Settings)] == [
        f.name for group in GROUPS for f in attrs.fields(group)
    ]
    assert all(group.__doc__ for group in GROUPS)


def test_every_variable_and_flag_is_named_once():
    # One env file feeds the service and the simulator, and `demo` takes the flags of both.
    fields: list[attrs.Attribute[Any]] = [*attrs.fields(Settings), *attrs.fields(SimSettings)]
    envs = [f.metadata["env"] for f in fields]
    assert len(set(envs)) == len(envs)
    assert len({f.name for f in fields}) == len(fields)


def test_settings_is_read_and_evolved_by_the_field_names_of_its_groups():
    s = attrs.evolve(load(Settings, {}, {"http_port": "9001"}), oi_history_hours=5.0)
    assert (s.http_port, s.oi_history_hours) == (9001, 5.0)
    assert all(isinstance(s, group) for group in GROUPS)
    with pytest.raises(SettingsError, match=r"^--http-port='x': expected an integer$"):
        load(Settings, {}, {"http_port": "x"})


def _values(group: type[Any], settings: object) -> dict[str, object]:
    """The values `settings` holds for the fields of `group`."""
    return {f.name: getattr(settings, f.name) for f in attrs.fields(group)}


@pytest.mark.parametrize(
    ("group", "env", "message"),
    [
        (
            UniverseSettings,
            {"OI_LIQUID_EXIT_QUOTE_24H": "5000000"},
            "OI_LIQUID_EXIT_QUOTE_24H=5e+06 must be ≤ OI_LIQUID_ENTER_QUOTE_24H=4e+06 (hysteresis)",
        ),
        (
            PollingSettings,
            {"MIN_INTERVAL_SEC": "30"},
            "MIN_INTERVAL_SEC=30 must be ≤ MAX_INTERVAL_SEC=20",
        ),
        (
            AlertSettings,
            {"OI_BASELINE_TO_MIN": "60"},
            "OI_BASELINE_TO_MIN=60 must be < OI_BASELINE_FROM_MIN=60",
        ),
    ],
)
def test_a_group_loads_alone_and_runs_its_own_cross_check(group, env, message):
    assert _values(group, load(group, {})) == _values(group, load(Settings, {}))
    for cls in (group, Settings):
        with pytest.raises(SettingsError) as info:
            load(cls, env)
        assert str(info.value) == message


def test_the_weight_budget_check_spans_groups_so_only_settings_runs_it():
    env = {"MAX_REQ_PER_MIN": "3000"}
    assert load(PollingSettings, env).max_req_per_min == 3000
    with pytest.raises(
        SettingsError, match=r"^MAX_REQ_PER_MIN=3000 must be ≤ BINANCE_WEIGHT_LIMIT=2400$"
    ):
        load(Settings, env)


@given(enter=st.floats(1, 1e12), exit_=st.floats(0, 1e12))
def test_hysteresis_is_checked_alike_alone_and_composed(enter, exit_):
    env = {"OI_LIQUID_ENTER_QUOTE_24H": repr(enter), "OI_LIQUID_EXIT_QUOTE_24H": repr(exit_)}
    for cls in (UniverseSettings, Settings):
        if exit_ <= enter:
            assert load(cls, env).oi_liquid_exit_quote_24h == exit_
        else:
            with pytest.raises(SettingsError, match=r"^OI_LIQUID_EXIT_QUOTE_24H=\S+ must be ≤"):
                load(cls, env)


SETTINGS_ENVS = [f.metadata["env"] for f in attrs.fields(Settings)]
SOME_VALUES = ["", "0", "1", "2.5", "30", "3000", "4e6", "1e20", "nan", "no", "x", "https://h"]


def _load_or_refusal(cls: type[T], env: dict[str, str]) -> tuple[T | None, str | None]:
    """(settings, None) when `cls` loads from `env`, else (None, the one-line refusal)."""
    try:
        return load(cls, env), None
    except SettingsError as exc:
        return None, str(exc)


@given(env=st.dictionaries(st.sampled_from(SETTINGS_ENVS), st.sampled_from(SOME_VALUES)))
def test_settings_loads_exactly_when_every_group_loads_alone(env):
    alone = {group: _load_or_refusal(group, env) for group in GROUPS}
    refusals = [refusal for _, refusal in alone.values() if refusal is not None]
    whole, refusal = _load_or_refusal(Settings, env)
    if refusal is not None:
        spanning = not refusals and refusal.startswith("MAX_REQ_PER_MIN=")
        assert refusal in refusals or spanning
    else:
        assert not refusals
        for group, (part, _) in alone.items():
            assert _values(group, part) == _values(group, whole)


def test_allowed_origins_are_a_comma_separated_list_of_origins():
    assert load(Settings, {}).allowed_origins == ()
    assert load(Settings, {"ALLOWED_ORIGINS": ""}).allowed_origins == ()
    # As the binance-proxy's env file may write them: spaces, trailing slashes, a last comma.
    given = " https://volspike.com/, https://www.volspike.com ,http://localhost:3000,"
    assert load(Settings, {"ALLOWED_ORIGINS": given}).allowed_origins == (
        "https://volspike.com",
        "https://www.volspike.com",
        "http://localhost:3000",
    )
    with pytest.raises(
        SettingsError,
        match=r"^ALLOWED_ORIGINS='volspike.com': must be origins like https://example.com, not 'volspike.com'$",
    ):
        load(Settings, {"ALLOWED_ORIGINS": "volspike.com"})


def test_forward_interval_defaults_to_five_seconds():
    assert load(Settings, {}).forward_interval_sec == 5.0
    assert load(Settings, {"FORWARD_INTERVAL_SEC": "10"}).forward_interval_sec == 10.0
    with pytest.raises(SettingsError, match=r"^FORWARD_INTERVAL_SEC='0': must be"):
        load(Settings, {"FORWARD_INTERVAL_SEC": "0"})
