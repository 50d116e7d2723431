"""The `volspike-oi` command as a user runs it: a real process, real loopback HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio

VOLSPIKE = [sys.executable, "-m", "volspike_oi"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOLSPIKE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_help_lists_the_sim_subcommand():
    done = run_cli("--help")
    assert done.returncode == 0
    assert "sim" in done.stdout


def test_a_bad_flag_value_exits_2_with_one_line_and_no_traceback():
    done = run_cli("sim", "--port", "abc")
    assert done.returncode == 2
    assert done.stderr.strip() == "volspike-oi: --port='abc': expected an integer"


def test_a_bad_environment_value_names_the_variable():
    done = run_cli("sim", env={"SIM_ERROR_RATE": "2"})
    assert done.returncode == 2
    assert done.stderr.strip() == "volspike-oi: SIM_ERROR_RATE='2': must be a number ≥ 0 and ≤ 1"


def test_a_missing_scenario_file_is_one_line():
    done = run_cli("sim", "--scenario", "/nonexistent/scenario.json")
    assert done.returncode == 2
    assert done.stderr.startswith("volspike-oi: cannot read scenario /nonexistent/scenario.json")
    assert "Traceback" not in done.stderr


@asynccontextmanager
async def _running(
    args: list[str], env: dict[str, str] | None = None
) -> AsyncIterator[trio.Process]:
    """`volspike-oi ARGS` with its stderr piped; killed on the way out if still running."""
    process = await trio.lowlevel.open_process([*VOLSPIKE, *args], stderr=subprocess.PIPE, env=env)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sim_process_answers_open_interest_with_the_weight_header():
    async with _running(["sim", "--port", "0", "--symbols", "50", "--seed", "3"]) as process:
        seen = await _wait_for(process, rb"Binance simulator on (http://[\d.:]+)", 30)
        match = re.search(rb"Binance simulator on (http://[\d.:]+)", seen)
        assert match is not None
        url = match.group(1).decode()
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})
        assert response.status_code == 200
        assert list(response.json()) == ["symbol", "openInterest", "time"]
        assert response.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await process.wait() == 0


async def _wait_for(process: trio.Process, pattern: bytes, seconds: float) -> bytes:
    assert process.stderr is not None
    seen = b""
    with trio.fail_after(seconds):
        while re.search(pattern, seen) is None:
            chunk = await process.stderr.receive_some()
            assert chunk, f"process exited early: {seen.decode()[-2000:]}"
            seen += chunk
    return seen


async def _stop_within(process: trio.Process, seconds: float) -> int:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(seconds):
        return await process.wait()


VENUE_REST_URLS = ("BYBIT_REST_URL", "OKX_REST_URL", "DERIBIT_URL", "HYPERLIQUID_URL")
VENUE_WS_URLS = ("BYBIT_WS_URL", "OKX_WS_URL", "DERIBIT_WS_URL", "HYPERLIQUID_WS_URL")
"""Every venue beside Binance: pointed at a closed port, so no test reaches the internet."""


async def test_serve_without_network_logs_a_clear_error_keeps_retrying_and_stops_on_sigterm(
    tmp_path,
):
    env = {
        **os.environ,
        "VOLSPIKE_DATA_DIR": str(tmp_path),
        "HTTP_PORT": "0",
        # Port 9 on loopback refuses connections: what "no network" looks like to a client.
        "BINANCE_FAPI_URL": "http://127.0.0.1:9",
        "BINANCE_FSTREAM_URL": "ws://127.0.0.1:9",
        **dict.fromkeys(VENUE_REST_URLS, "http://127.0.0.1:9"),
        **dict.fromkeys(VENUE_WS_URLS, "ws://127.0.0.1:9"),
    }
    async with _running(["serve"], env) as process:
        seen = await _wait_for(process, rb"exchangeInfo failed .*retrying in \d+ s", 30)
        assert b"Traceback" not in seen
        assert process.returncode is None  # still running, still retrying
        assert await _stop_within(process, 5) == 0


async def test_demo_logs_status_lines_and_stops_on_sigterm_within_5_s(tmp_path):
    env = {
        **os.environ,
        "STATUS_LOG_SEC": "2",
        "SIM_SYMBOLS": "80",
        "HTTP_PORT": "0",
        "VOLSPIKE_DATA_DIR": str(tmp_path),
    }
    async with _running(["demo"], env) as process:
        seen = await _wait_for(process, rb"status: universe 80/\d+ liquid .*OI polls \d+/min", 30)
        assert b"Traceback" not in seen
        assert await _stop_within(process, 5) == 0


async def test_serve_with_its_database_unreachable_stays_up_serves_and_retries(tmp_path):
    env = {
        **os.environ,
        "VOLSPIKE_DATA_DIR": str(tmp_path),
        "HTTP_PORT": "0",
        # Nothing listens on port 9: the database is down at boot (and so is the exchange).
        "DATABASE_URL": "postgresql://volspike@127.0.0.1:9/volspike?connect_timeout=1",
        "BINANCE_FAPI_URL": "http://127.0.0.1:9",
        "BINANCE_FSTREAM_URL": "ws://127.0.0.1:9",
        "OI_VENUES": "binance",
    }
    async with _running(["serve"], env) as process:
        seen = await _wait_for(process, rb"HTTP API on (http://[\d.:]+)", 30)
        if b"schema migration failed (OperationalError" not in seen:
            seen += await _wait_for(process, rb"schema migration failed \(OperationalError", 30)
        match = re.search(rb"HTTP API on (http://[\d.:]+)", seen)
        assert match is not None
        async with httpx.AsyncClient(base_url=match.group(1).decode()) as client:
            response = await client.get("/api/market/open-interest")
        assert response.status_code == 200
        await trio.sleep(3)  # a few migration retries later: still running
        assert process.returncode is None
        assert b"Traceback" not in seen
        assert await _stop_within(process, 15) == 0
