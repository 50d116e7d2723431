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
ROWS_APPEAR_S = 60.0
"""Within it: (nearly) every liquid Binance symbol has a row, five venues are healthy in the
venue panel and rows of at least four venues are in the table (issue 11: all five within 60 s)."""
CHANGE_WAIT_S = 30.0
"""Liquid symbols are polled every 5 s in the demo: 30 s is six chances to see a value move."""
STOP_GRACE_S = 20.0
LIQUID_ROWS_SHARE = 0.9
VENUE_COUNT = 5
MIN_VENUES_WITH_ROWS = 4
FILTER_APPLIES_S = 5.0
ASSETS_VIEW_S = 10.0
"""The All venues view lists BTC with a share bar of every venue: /assets is read at page load
and the assets channel pushes each second, so this is met at once unless the page is broken."""
SHARES_TOLERANCE_PCT = 0.5
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
    rows[`${tr.dataset.venue}:${tr.dataset.symbol}`] = {
      contracts: cell('contracts'), coin: cell('coin'), usd: cell('usd'),
      venue: tr.dataset.venue, shown: !tr.hidden,
    };
  }
  const venues = {};
  for (const tr of document.querySelectorAll('#venues tr[data-venue]')) {
    venues[tr.dataset.venue] = {state: tr.dataset.state, healthy: tr.dataset.healthy === 'true'};
  }
  return {rows, venues, updates: typeof window.__oiUpdates === 'number' ? window.__oiUpdates : null};
})()"""
"""OI rows keyed `venue:symbol` (Bybit's BTCUSDT is not Binance's), and the venue panel."""

CLICK_VENUE_JS = """document.querySelector('#venue-filter button[data-venue="%s"]').click()"""
"""The venue filter's button for one venue (`%s`), or for every venue with an empty name."""


READ_ASSETS_JS = """(() => {
  const bar = (tr) => tr.querySelector('.shares');
  const assets = {};
  for (const tr of document.querySelectorAll('#asset-rows tr[data-asset]')) {
    const b = bar(tr), width = b ? b.getBoundingClientRect().width : 0;
    assets[tr.dataset.asset] = {
      usd: (tr.querySelector('[data-field="usd"]') || {}).textContent ?? null,
      badges: [...tr.querySelectorAll('.vb[data-venue]')].map(
        (el) => [el.dataset.venue, el.classList.contains('stale')]),
      segments: [...(b ? b.children : [])].map((el) => [
        el.dataset.venue, width ? 100 * el.getBoundingClientRect().width / width : 0]),
    };
  }
  const table = document.getElementById('asset-table');
  return {assets, order: Object.keys(assets),
          visible: !!table && table.getBoundingClientRect().height > 0};
})()"""
"""The All venues view: each asset row's USD cell, venue badges (venue, stale) and share bar
segments (venue, % of the bar's rendered width), in table order."""

CLICK_VIEW_JS = """document.querySelector('#view-toggle button[data-view="%s"]').click()"""
"""The view toggle: `assets` (All venues) or `venues` (the per-venue table)."""

SET_FILTER_JS = """(() => { const f = document.getElementById('filter'); f.value = '%s';
  f.dispatchEvent(new Event('input')); })()"""


def _btc_split(view: dict[str, Any]) -> bool:
    btc = view["assets"].get("BTC")
    return (
        btc is not None
        and len(btc["segments"]) == VENUE_COUNT
        and abs(sum(w for _, w in btc["segments"]) - 100.0) <= SHARES_TOLERANCE_PCT
    )


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


def _changed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(s for s, cells in before.items() if s in after and after[s] != cells)


def _liquid_shown(table: dict[str, Any], liquid: list[str]) -> list[str]:
    """The liquid Binance symbols whose row has a formatted USD value."""
    rows = table["rows"]
    return [s for s in liquid if (rows.get(f"binance:{s}") or {}).get("usd", "").startswith("$")]


def _healthy_venues(table: dict[str, Any]) -> list[str]:
    return sorted(v for v, state in table["venues"].items() if state["healthy"])


def _venues_with_rows(table: dict[str, Any], *, shown_only: bool = False) -> set[str]:
    return {r["venue"] for r in table["rows"].values() if r["shown"] or not shown_only}


def _other_venues_btc_usd(table: dict[str, Any]) -> dict[str, str]:
    """USD cells of BTC rows (the coin cell names the asset) of every venue but Binance."""
    return {
        key: r["usd"]
        for key, r in table["rows"].items()
        if r["venue"] != "binance" and (r["coin"] or "").endswith(" BTC")
    }


def _ready(table: dict[str, Any], liquid: list[str]) -> bool:
    return (
        bool(liquid)
        and len(_liquid_shown(table, liquid)) >= LIQUID_ROWS_SHARE * len(liquid)
        and len(_healthy_venues(table)) == VENUE_COUNT
        and len(_venues_with_rows(table)) >= MIN_VENUES_WITH_ROWS
        and any(usd.startswith("$") for usd in _other_venues_btc_usd(table).values())
    )


async def test_debug_page_shows_every_venue_and_sees_the_values_change(
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

        # 1. Rows with a formatted USD value for (nearly) every liquid Binance symbol; every
        #    venue healthy in the venue panel, rows of at least four venues, and a BTC row of
        #    another venue with a USD value (all awaited together: one deadline, no extra time).
        liquid: list[str] = []
        table: dict[str, Any] = {"rows": {}, "venues": {}, "updates": None}
        with trio.move_on_after(ROWS_APPEAR_S):
            while True:
                universe = (await api.get("/api/market/open-interest/liquid-universe")).json()
                liquid = [m["symbol"] for m in universe["symbols"]]
                table = await page.evaluate(READ_TABLE_JS) or table
                if _ready(table, liquid):
                    break
                await trio.sleep(0.5)
        shown = _liquid_shown(table, liquid)
        assert liquid, f"the demo never formed a liquid universe:\n{demo.log_tail()}"
        assert len(shown) >= LIQUID_ROWS_SHARE * len(liquid), (
            f"only {len(shown)} of {len(liquid)} liquid symbols have a row with a $ value; "
            f"missing e.g. {sorted(set(liquid) - set(shown))[:10]}; page errors {page.exceptions}"
        )
        assert not any(cells["usd"] == "$0.00" for cells in table["rows"].values())
        assert len(_healthy_venues(table)) == VENUE_COUNT, (
            f"the venue panel shows {table['venues']} after {ROWS_APPEAR_S:.0f} s; "
            f"/venues says {(await api.get('/api/market/open-interest/venues')).json()}"
        )
        with_rows = _venues_with_rows(table)
        assert len(with_rows) >= MIN_VENUES_WITH_ROWS, f"rows of {sorted(with_rows)} only"
        btc = _other_venues_btc_usd(table)
        assert any(usd.startswith("$") for usd in btc.values()), (
            f"no BTC row of another venue than Binance has a USD value: {btc}"
        )

        # 2. The venue filter narrows the table to one venue ("all" brings every one back: 3.).
        narrowed = table
        with trio.move_on_after(FILTER_APPLIES_S):
            await page.evaluate(CLICK_VENUE_JS % "bybit")
            while _venues_with_rows(narrowed, shown_only=True) != {"bybit"}:
                await trio.sleep(0.1)
                narrowed = await page.evaluate(READ_TABLE_JS)
        assert _venues_with_rows(narrowed, shown_only=True) == {"bybit"}, (
            f"with the bybit filter the table shows rows of "
            f"{sorted(_venues_with_rows(narrowed, shown_only=True))}"
        )
        await page.evaluate(CLICK_VENUE_JS % "")

        # 2b. All venues: BTC's total split over the five venues (one segment each, summing to
        #     the bar's width, every venue's badge live), largest total first; the filter box
        #     narrows it too. Then back to the per-venue table for 3.
        await page.evaluate(CLICK_VIEW_JS % "assets")
        assets_view: dict[str, Any] = {"assets": {}, "order": [], "visible": False}
        with trio.move_on_after(ASSETS_VIEW_S):
            while not (assets_view["visible"] and _btc_split(assets_view)):
                await trio.sleep(0.2)
                assets_view = await page.evaluate(READ_ASSETS_JS)
        btc_view = assets_view["assets"].get("BTC")
        assert assets_view["visible"], "the All venues table is not shown after its button"
        assert btc_view is not None, (
            f"All venues lists no BTC row; first rows {assets_view['order'][:10]}; "
            f"/assets says {(await api.get('/api/market/open-interest/assets')).json()['assets'][:3]}"
        )
        assert _btc_split(assets_view), (
            f"BTC's share bar is {btc_view['segments']}: want {VENUE_COUNT} segments summing "
            f"to 100 %; /assets/BTC says {(await api.get('/api/market/open-interest/assets/BTC')).json()['venues']}"
        )
        segment_venues = sorted(v for v, _ in btc_view["segments"])
        assert segment_venues == sorted(v for v, _ in btc_view["badges"]), btc_view
        assert not any(stale for _, stale in btc_view["badges"]), btc_view["badges"]
        assert btc_view["usd"].startswith("$"), btc_view
        assert assets_view["order"][0] in ("BTC", "ETH"), assets_view["order"][:5]
        narrowed_assets = assets_view
        with trio.move_on_after(FILTER_APPLIES_S):
            await page.evaluate(SET_FILTER_JS % "ETH")
            while "BTC" in narrowed_assets["order"] or not narrowed_assets["order"]:
                await trio.sleep(0.1)
                narrowed_assets = await page.evaluate(READ_ASSETS_JS)
        assert narrowed_assets["order"], "filtering All venues on ETH left no row"
        assert all("ETH" in a for a in narrowed_assets["order"]), narrowed_assets["order"]
        await page.evaluate(SET_FILTER_JS % "")
        await page.evaluate(CLICK_VIEW_JS % "venues")

        # 3. The same cells move as the WebSocket delivers new samples.
        first = {f"binance:{s}": table["rows"][f"binance:{s}"] for s in shown}
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
        assert len(_venues_with_rows(later, shown_only=True)) >= MIN_VENUES_WITH_ROWS, (
            "the table did not show every venue again after the filter went back to all"
        )

        # 4. It renders: a real, full-size PNG.
        shot = await page.call("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        (tmp_path / "debug-page.png").write_bytes(png)
        assert png.startswith(PNG_SIGNATURE)
        width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
        assert width >= 800, f"screenshot is {width}×{height}"
        assert height >= 600, f"screenshot is {width}×{height}"
        assert len(png) > 30_000, f"a {len(png)}-byte screenshot is too small to show the page"

        assert not page.exceptions, f"the page threw: {page.exceptions}"
