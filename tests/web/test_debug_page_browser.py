"""The debug page in a real browser: headless Chromium on `/debug/open-interest` of `volspike-oi demo`.

Rules for this module:
- Loopback only. The demo runs as a real process (`python -m volspike_oi demo`) on a port the
  OS picked free, with its embedded Postgres in the test's `tmp_path`; its simulator binds port 0.
- The browser is `$CHROMIUM` when set (an executable chromium/chrome), else Debian's `chromium`
  on PATH, which `make browser` installs when run as root (`make pytest` depends on it). A
  missing Chromium FAILS the test with a one-line instruction; it is never skipped.
- Chromium runs headless with the flags that keep it off the network (no background networking,
  component updates, sync or QUIC) and a fresh `--user-data-dir`; it is driven over the DevTools
  protocol with trio-websocket, with no other browser tooling.
- Browser and demo run on the real clock, so every wait is a `trio.fail_after` / `move_on_after`
  deadline on it, never a bare sleep; both processes get SIGTERM in `finally` blocks (SIGKILL
  after a grace period) so nothing outlives the test.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

DEMO_START_S = 90.0
"""First start runs initdb for the embedded Postgres: allow for a slow machine."""
BROWSER_START_S = 30.0
ROWS_APPEAR_S = 45.0
CHANGE_WAIT_S = 30.0
"""Liquid symbols are polled every 5 s in the demo: 30 s is six chances to see a value move."""
STOP_GRACE_S = 20.0
LIQUID_ROWS_SHARE = 0.9
CDP_MAX_MESSAGE = 64 * 1024 * 1024
"""A full-page PNG arrives base64-encoded in one DevTools message."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
    "--remote-debugging-port=0",
)

READ_TABLE_JS = """(() => {
  const rows = {};
  for (const tr of document.querySelectorAll('#oi-rows tr[data-symbol]')) {
    const cell = (f) => (tr.querySelector(`[data-field="${f}"]`) || {}).textContent ?? null;
    rows[tr.dataset.symbol] = {contracts: cell('contracts'), usd: cell('usd')};
  }
  return {rows, updates: typeof window.__oiUpdates === 'number' ? window.__oiUpdates : null};
})()"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _chromium() -> str:
    """The browser to drive: `$CHROMIUM` when set, else `chromium` on PATH; never a skip."""
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            pytest.fail(
                f"CHROMIUM={chosen} is not an executable file: point CHROMIUM at a "
                "chromium/chrome binary or unset it to use `chromium` on PATH",
                pytrace=False,
            )
        return chosen
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "the debug-page browser test needs Chromium: install Debian's chromium "
            "(sudo apt-get install chromium, or `make browser` as root) or set "
            "CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    return path


async def _stop(process: trio.Process, *, group: bool = False) -> None:
    """SIGTERM, a grace period, then SIGKILL: whatever the test's state, nothing is left behind."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(STOP_GRACE_S):
                await process.wait()
        if process.returncode is None:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            await process.wait()


@attrs.define
class Demo:
    url: str
    log: bytearray

    def log_tail(self) -> str:
        return self.log[-3000:].decode(errors="replace")


@asynccontextmanager
async def demo_service(data_dir: Path, nursery: trio.Nursery) -> AsyncIterator[Demo]:
    """`python -m volspike_oi demo` on a free port; `nursery` drains its stderr meanwhile."""
    env = {
        **os.environ,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(_free_port()),
        "VOLSPIKE_DATA_DIR": str(data_dir),
        "SIM_SYMBOLS": "120",
        "STATUS_LOG_SEC": "5",
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "volspike_oi", "demo"], env=env, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = process.stderr
    log = bytearray()
    try:
        with trio.fail_after(DEMO_START_S):
            while (match := re.search(rb"HTTP API on (http://[\d.:]+)", log)) is None:
                chunk = await stderr.receive_some()
                assert chunk, (
                    f"the demo exited before serving HTTP:\n{log.decode(errors='replace')}"
                )
                log += chunk

        async def drain() -> None:
            # An unread pipe would block the demo's logging once the pipe buffer is full.
            async for chunk in stderr:
                log.extend(chunk)

        nursery.start_soon(drain)
        yield Demo(match.group(1).decode(), log)
    finally:
        await _stop(process)


class DevTools:
    """The smallest DevTools-protocol client: one call at a time; page exceptions are kept."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.exceptions: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._ws.send_message(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.get_message())
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.exceptions.append(
                    details.get("exception", {}).get("description") or details.get("text", "?")
                )
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


@asynccontextmanager
async def headless_chromium(profile_dir: Path) -> AsyncIterator[DevTools]:
    """Debian's Chromium, headless, with DevTools on a port it picks (read from DevToolsActivePort)."""
    chromium = _chromium()
    await trio.Path(profile_dir).mkdir()
    with (profile_dir.parent / "chromium.log").open("wb") as chromium_log:
        process = await trio.lowlevel.open_process(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=chromium_log,
            start_new_session=True,  # its zygote and renderers form one group we can end
        )
    try:
        port_file = trio.Path(profile_dir / "DevToolsActivePort")
        with trio.fail_after(BROWSER_START_S):
            # Chromium writes the port it bound, then a newline and the browser target's path.
            while not (await port_file.exists() and "\n" in await port_file.read_text()):
                assert process.returncode is None, "chromium exited at start (see chromium.log)"
                await trio.sleep(0.1)
            port = int((await port_file.read_text()).split()[0])
            async with httpx.AsyncClient() as client:
                while True:
                    targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                    if pages := [t for t in targets if t["type"] == "page"]:
                        break
                    await trio.sleep(0.1)
        async with open_websocket_url(
            pages[0]["webSocketDebuggerUrl"], max_message_size=CDP_MAX_MESSAGE
        ) as ws:
            yield DevTools(ws)
    finally:
        await _stop(process, group=True)


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    return sorted(s for s, cells in before.items() if s in after and after[s] != cells)


async def test_debug_page_shows_the_liquid_symbols_and_sees_them_change(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    _chromium()  # fail fast, before the demo starts
    async with (
        demo_service(tmp_path / "data", nursery) as demo,
        httpx.AsyncClient(base_url=demo.url) as api,
        headless_chromium(tmp_path / "chromium-profile") as page,
    ):
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=f"{demo.url}/debug/open-interest")

        # 1. Rows with a formatted USD value for (nearly) every liquid symbol.
        liquid: list[str] = []
        table: dict[str, Any] = {"rows": {}, "updates": None}
        with trio.move_on_after(ROWS_APPEAR_S):
            while True:
                universe = (await api.get("/api/market/open-interest/liquid-universe")).json()
                liquid = [m["symbol"] for m in universe["symbols"]]
                table = await page.evaluate(READ_TABLE_JS) or table
                shown = [
                    s for s in liquid if table["rows"].get(s, {}).get("usd", "").startswith("$")
                ]
                if liquid and len(shown) >= LIQUID_ROWS_SHARE * len(liquid):
                    break
                await trio.sleep(0.5)
        shown = [s for s in liquid if table["rows"].get(s, {}).get("usd", "").startswith("$")]
        assert liquid, f"the demo never formed a liquid universe:\n{demo.log_tail()}"
        assert len(shown) >= LIQUID_ROWS_SHARE * len(liquid), (
            f"only {len(shown)} of {len(liquid)} liquid symbols have a row with a $ value; "
            f"missing e.g. {sorted(set(liquid) - set(shown))[:10]}; page errors {page.exceptions}"
        )
        assert not any(cells["usd"] == "$0.00" for cells in table["rows"].values())

        # 2. The same cells move as the WebSocket delivers new samples.
        first = {s: table["rows"][s] for s in shown}
        first_updates = table["updates"]
        assert isinstance(first_updates, int), "window.__oiUpdates is not a number"
        later = table
        with trio.move_on_after(CHANGE_WAIT_S):
            while True:
                await trio.sleep(1.0)
                later = await page.evaluate(READ_TABLE_JS)
                if _changed(first, later["rows"]) and later["updates"] > first_updates:
                    break
        changed = _changed(first, later["rows"])
        assert changed, (
            f"no contracts/USD cell of {len(first)} liquid rows changed in {CHANGE_WAIT_S:.0f} s"
        )
        assert later["updates"] > first_updates, "window.__oiUpdates did not grow"

        # 3. It renders: a real, full-size PNG.
        shot = await page.call("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        (tmp_path / "debug-page.png").write_bytes(png)
        assert png.startswith(PNG_SIGNATURE)
        width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
        assert width >= 800, f"screenshot is {width}×{height}"
        assert height >= 600, f"screenshot is {width}×{height}"
        assert len(png) > 30_000, f"a {len(png)}-byte screenshot is too small to show the page"

        assert not page.exceptions, f"the page threw: {page.exceptions}"
