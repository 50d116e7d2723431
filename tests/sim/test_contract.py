"""Contract tests: the simulator answers in the exact shape of every stored Binance capture.

Every file in `REFERENCE_DIR` (tests/fixtures/binance/, listed in its SOURCES.md) is mapped to
the request that produced it and replayed against the simulator over real loopback
HTTP/WebSocket (hypercorn). The rules:

- Objects carry the capture's keys in the capture's order. Captures from 2026 must match exactly;
  captures from 2021/2022 predate fields added since, so their keys must appear in the simulator's
  object as an ordered subsequence, minus the explicit, minimal set of RETIRED names.
- JSON types match exactly: string, integer, float, boolean, array, object, null (a boolean is not
  an integer, an integer is not a float).
- A string that holds a number in the capture (e.g. "95744.938") holds a plain decimal number in
  the simulator too.
- Arrays are trimmed by the capturers, so rows pair by identity (`symbol`, `s`, `asset`), or by
  position where a row has none; lengths are not compared.
- Exception: inside exchangeInfo `filters` the real key order differs from symbol to symbol, so
  filters compare per `filterType` as key sets with equal value types.

A new capture added to `REFERENCE_DIR` fails the suite until a test here maps it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
from trio_websocket import open_websocket_url

from tests.conftest import REFERENCE_DIR

# -- the reference files -----------------------------------------------------------------------

OPEN_INTEREST = "openInterest.json"
PREMIUM_INDEX_ALL = "premiumIndex_all.json"
TICKER_24HR_ALL = "ticker24hr_all.json"
EXCHANGE_INFO = "exchangeInfo_trimmed.json"
INVALID_SYMBOL_400 = "error_invalid_symbol_400.json"
OI_HIST_LIVE_ROW = "openInterestHist_firstrow_2026-09-15_live.json"
OI_HIST_DOCS_JSON = "openInterestHist_docs_example.json"
OI_HIST_DOCS_TXT = "openInterestHist_docs_example.txt"
MARK_PRICE_ARR = "markPrice_arr_stream.json"
MARK_PRICE_SYMBOL = "markPrice_symbol_stream.json"

EXCHANGE_INFO_2021 = "exchangeInfo_full_2021-07-21_cryptofeed.json"
OPEN_INTEREST_2022 = "openInterest_2022-06-04_cryptomsgparser.json"
MARK_PRICE_ARR_2021 = "markPrice_arr_stream_2021-04-01_cryptomsgparser.json"
MARK_PRICE_SYMBOL_2021 = "markPrice_symbol_stream_2021-04-01_cryptomsgparser.json"

LEGACY_REST: dict[str, tuple[str, dict[str, str]]] = {
    EXCHANGE_INFO_2021: ("/fapi/v1/exchangeInfo", {}),
    OPEN_INTEREST_2022: ("/fapi/v1/openInterest", {"symbol": "BTCUSDT"}),
}
LEGACY_STREAMS = (MARK_PRICE_ARR_2021, MARK_PRICE_SYMBOL_2021)
"""Stream captures; each names its own stream in its `stream` key."""

ALL_SYMBOL_ARRAYS = {
    PREMIUM_INDEX_ALL: "/fapi/v1/premiumIndex",
    TICKER_24HR_ALL: "/fapi/v1/ticker/24hr",
}

COVERED = {
    OPEN_INTEREST,
    *ALL_SYMBOL_ARRAYS,
    EXCHANGE_INFO,
    INVALID_SYMBOL_400,
    OI_HIST_LIVE_ROW,
    OI_HIST_DOCS_JSON,
    OI_HIST_DOCS_TXT,
    MARK_PRICE_ARR,
    MARK_PRICE_SYMBOL,
    *LEGACY_REST,
    *LEGACY_STREAMS,
}

RETIRED_KEYS = frozenset({"settlePlan"})
"""Keys of the 2021 captures that Binance no longer sends (absent from the 2026 capture)."""
RETIRED_FILTER_TYPES = frozenset({"MAX_NUM_ALGO_ORDERS"})
"""exchangeInfo filters of 2021 that Binance no longer lists (absent from the 2026 capture)."""

IDENTITY_KEYS = ("symbol", "s", "asset")
QUARTERLY_TYPES = frozenset({"CURRENT_QUARTER", "NEXT_QUARTER"})
MAX_MESSAGE = 2**24
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def load(name: str) -> Any:
    return json.loads((REFERENCE_DIR / name).read_text(encoding="utf-8"))


# -- shape comparison ----------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: True is an int to Python, not to JSON
        return "boolean"
    for kind, name in ((int, "integer"), (float, "float"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "array" if isinstance(value, list) else "object"


def is_decimal(text: str) -> bool:
    return _DECIMAL.fullmatch(text) is not None and Decimal(text).is_finite()


def is_subsequence(needles: Sequence[str], haystack: Sequence[str]) -> bool:
    rest = iter(haystack)
    return all(any(item == candidate for candidate in rest) for item in needles)


def shape_problems(ref: Any, got: Any, *, legacy: bool = False, at: str = "$") -> list[str]:
    """Every way `got` (the simulator's JSON) departs from the shape of `ref` (a capture)."""
    if json_type(ref) != json_type(got):
        return [f"{at}: {json_type(got)} {got!r:.60} where the capture has {json_type(ref)}"]
    if isinstance(ref, str) and is_decimal(ref) and not is_decimal(got):
        return [f"{at}: {got!r} is not a decimal string like the capture's {ref!r}"]
    if isinstance(ref, dict):
        return _object_problems(ref, got, legacy, at)
    if isinstance(ref, list):
        return _array_problems(ref, got, legacy, at)
    return []


def _object_problems(ref: dict[str, Any], got: dict[str, Any], legacy: bool, at: str) -> list[str]:
    expected = [key for key in ref if not (legacy and key in RETIRED_KEYS)]
    in_order = is_subsequence(expected, list(got)) if legacy else expected == list(got)
    problems = [] if in_order else [f"{at}: keys {list(got)} against the capture's {list(ref)}"]
    for key in expected:
        if key not in got:
            continue
        if key == "filters":
            problems += _filters_problems(ref[key], got[key], legacy, f"{at}.filters")
        else:
            problems += shape_problems(ref[key], got[key], legacy=legacy, at=f"{at}.{key}")
    return problems


def _array_problems(ref: list[Any], got: list[Any], legacy: bool, at: str) -> list[str]:
    if ref and not isinstance(ref[0], dict):
        # Scalars: each element against the capture's element at its place (or the last one).
        return [
            problem
            for i, item in enumerate(got)
            for problem in shape_problems(
                ref[min(i, len(ref) - 1)], item, legacy=legacy, at=f"{at}[{i}]"
            )
        ]
    problems = []
    for i, item in enumerate(ref):
        partner = _partner(item, i, got, legacy)
        if partner is None:
            problems.append(f"{at}[{i}]: no counterpart of {_label(item)} among {len(got)} rows")
        else:
            problems += shape_problems(item, partner, legacy=legacy, at=f"{at}[{_label(item)}]")
    return problems


def _label(item: Any) -> str:
    keys = [key for key in IDENTITY_KEYS if isinstance(item, dict) and key in item]
    return f"{keys[0]}={item[keys[0]]}" if keys else "row"


def _partner(item: Any, index: int, got: list[Any], legacy: bool) -> Any:
    """The simulator's row for a captured row: the one with the same identity (`symbol`, `s`,
    `asset`), or for rows without one the row at the same position.

    In legacy captures a symbol or asset the simulator does not list (2021's BUSD perps, the BNB
    asset) stands against a sim row of the same contractType, else the first row: a row's shape
    does not depend on the name in it.
    """
    for key in IDENTITY_KEYS:
        if isinstance(item, dict) and key in item:
            same = [row for row in got if row.get(key) == item[key]]
            if same or not legacy:
                return same[0] if same else None
            if "contractType" in item:
                kind = [row for row in got if row.get("contractType") == item["contractType"]]
                if kind:
                    return kind[0]
            return got[0] if got else None
    return got[index] if index < len(got) else None


def _filters_problems(ref: list[Any], got: list[Any], legacy: bool, at: str) -> list[str]:
    # Binance's key order inside a filter varies per symbol in the real 2026 capture (BTCUSDT's
    # PRICE_FILTER starts with maxPrice, XAUUSDT's with tickSize), so the wire does not fix it:
    # filters compare per filterType as key SETS with equal value types. The order of the
    # filters themselves is the same for every captured symbol and is compared.
    wanted = [f for f in ref if not (legacy and f["filterType"] in RETIRED_FILTER_TYPES)]
    ref_types = [f["filterType"] for f in wanted]
    got_types = [f["filterType"] for f in got]
    in_order = is_subsequence(ref_types, got_types) if legacy else ref_types == got_types
    problems = [] if in_order else [f"{at}: filter types {got_types} against {ref_types}"]
    by_type = {f["filterType"]: f for f in got}
    for ref_filter in wanted:
        where = f"{at}[{ref_filter['filterType']}]"
        sim_filter = by_type.get(ref_filter["filterType"])
        if sim_filter is None:
            continue  # reported by the filter type order above
        keys_ok = (
            set(ref_filter) <= set(sim_filter) if legacy else set(ref_filter) == set(sim_filter)
        )
        if not keys_ok:
            problems.append(f"{where}: keys {sorted(sim_filter)} against {sorted(ref_filter)}")
        for key in ref_filter.keys() & sim_filter.keys():
            problems += shape_problems(
                ref_filter[key], sim_filter[key], legacy=legacy, at=f"{where}.{key}"
            )
    return problems


def rows_problems(ref_rows: list[Any], got_rows: list[Any], key: str) -> list[str]:
    """Each captured row against the sim row of its symbol, and every sim row against the shape
    of the captured rows (its own symbol's row, else the first one)."""
    by_symbol = {row[key]: row for row in ref_rows}
    got_symbols = {row[key] for row in got_rows}
    problems = [f"no sim row for {name}" for name in by_symbol if name not in got_symbols]
    for row in got_rows:
        ref_row = by_symbol.get(row[key], ref_rows[0])
        problems += shape_problems(ref_row, row, at=f"$[{key}={row[key]}]")
    return problems


def strip_docs_comments(text: str) -> str:
    """The docs example as JSON: `//` comments (outside strings) and trailing commas removed."""
    strings_or_comments = r'("(?:[^"\\]|\\.)*")|//[^\n]*'
    text = re.sub(strings_or_comments, lambda m: m.group(1) or "", text)
    return re.sub(r'("(?:[^"\\]|\\.)*")|,(?=\s*[\]}])', lambda m: m.group(1) or "", text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return dict(pairs)


def decode(text: str | bytes) -> Any:
    """The simulator's JSON, keys in wire order (a duplicate key would hide a reordering)."""
    return json.loads(text, object_pairs_hook=_unique_keys)


# -- driving the simulator over the wire ---------------------------------------------------------


async def rest(url: str, path: str, params: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as client:
        return await client.get(path, params=params)


async def rest_json(url: str, path: str, params: dict[str, str] | None = None) -> Any:
    response = await rest(url, path, params)
    assert response.status_code == 200, response.text
    return decode(response.text)


def _event_ms(frame: dict[str, Any]) -> int:
    data = frame["data"]
    event_ms: int = (data[0] if isinstance(data, list) else data)["E"]
    return event_ms


async def one_tick_of_frames(url: str, stream: str) -> list[dict[str, Any]]:
    """Every combined-stream frame of the first tick of `stream` on /market/stream."""
    ws_url = url.replace("http", "ws", 1) + f"/market/stream?streams={stream}"
    async with open_websocket_url(ws_url, max_message_size=MAX_MESSAGE) as ws:
        frames = [decode(await ws.get_message())]
        while True:  # a tick's frames go out back to back; the next tick ends the batch
            frame = decode(await ws.get_message())
            if _event_ms(frame) != _event_ms(frames[0]):
                return frames
            frames.append(frame)


def rows_of(frames: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for frame in frames for row in frame["data"]]


def frame_holding(frames: list[dict[str, Any]], symbol: str) -> dict[str, Any]:
    for frame in frames:
        data = frame["data"]
        if any(row["s"] == symbol for row in (data if isinstance(data, list) else [data])):
            return frame
    raise AssertionError(f"no frame of the tick holds {symbol}")


def sim_quarterly_or_same_name(
    ref_symbol: dict[str, Any], sim_symbols: list[Any]
) -> dict[str, Any]:
    """The sim contract a captured symbol is held against: a quarterly's name carries its expiry
    date, so it pairs with the sim's contract of the same pair and contractType; any other
    symbol pairs by name."""
    if ref_symbol["contractType"] in QUARTERLY_TYPES:
        kind = (ref_symbol["pair"], ref_symbol["contractType"])
        matches = [s for s in sim_symbols if (s["pair"], s["contractType"]) == kind]
    else:
        matches = [s for s in sim_symbols if s["symbol"] == ref_symbol["symbol"]]
    assert matches, f"the sim lists no counterpart of {ref_symbol['symbol']}"
    return dict(matches[0])


# -- the comparison itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "got", "problem"),
    [
        ({"a": 1, "b": "x"}, {"b": "x", "a": 1}, "keys"),
        ({"a": 1}, {"a": True}, "boolean"),
        ({"a": 1}, {"a": 1.0}, "float"),
        ({"a": "1.5"}, {"a": 1.5}, "float"),
        ({"a": "95744.938"}, {"a": "nan"}, "not a decimal"),
        ({"a": None}, {"a": "null"}, "string"),
        ([{"symbol": "X", "v": 1}], [{"symbol": "Y", "v": 1}], "no counterpart"),
    ],
    ids=[
        "reordered-keys",
        "bool-for-int",
        "float-for-int",
        "number-for-string",
        "nan-string",
        "string-for-null",
        "missing-row",
    ],
)
def test_shape_comparison_catches_each_kind_of_departure(ref, got, problem):
    problems = shape_problems(ref, got)
    assert len(problems) == 1
    assert problem in problems[0]


def test_every_reference_file_is_covered_by_a_contract_test():
    stored = {path.name for path in REFERENCE_DIR.iterdir() if path.name != "SOURCES.md"}
    assert stored, f"no captures found in {REFERENCE_DIR}"
    assert stored == COVERED


async def test_retired_names_are_only_in_the_2021_capture(sim_server):
    _, url = sim_server
    old, new = load(EXCHANGE_INFO_2021), load(EXCHANGE_INFO)
    sim = await rest_json(url, "/fapi/v1/exchangeInfo")

    def names(info: dict[str, Any]) -> set[str]:
        return {key for s in info["symbols"] for key in s} | {
            f["filterType"] for s in info["symbols"] for f in s["filters"]
        }

    retired = RETIRED_KEYS | RETIRED_FILTER_TYPES
    assert retired <= names(old)
    assert not retired & names(new)
    assert not retired & names(sim)


# -- REST, 2026 captures -------------------------------------------------------------------------


async def test_open_interest_matches_the_2026_capture_key_order(sim_server):
    _, url = sim_server
    got = await rest_json(url, "/fapi/v1/openInterest", {"symbol": "BTCUSDT"})
    assert shape_problems(load(OPEN_INTEREST), got) == []


@pytest.mark.parametrize(("capture", "path"), ALL_SYMBOL_ARRAYS.items())
async def test_all_symbol_arrays_match_the_2026_capture_row_by_row(sim_server, capture, path):
    _, url = sim_server
    got = await rest_json(url, path)
    assert isinstance(got, list)
    assert rows_problems(load(capture), got, "symbol") == []


@pytest.mark.parametrize(
    ("capture", "symbol"),
    [(capture, row["symbol"]) for capture in ALL_SYMBOL_ARRAYS for row in load(capture)],
)
async def test_single_symbol_answers_have_the_shape_of_the_captured_array_row(
    sim_server, capture, symbol
):
    # SOURCES.md: no single-symbol capture exists; the docs give the same object as one row.
    _, url = sim_server
    ref_row = next(row for row in load(capture) if row["symbol"] == symbol)
    got = await rest_json(url, ALL_SYMBOL_ARRAYS[capture], {"symbol": symbol})
    assert got["symbol"] == symbol
    assert shape_problems(ref_row, got) == []


async def test_exchange_info_top_level_matches_the_2026_capture_key_order(sim_server):
    _, url = sim_server
    ref = load(EXCHANGE_INFO)
    got = await rest_json(url, "/fapi/v1/exchangeInfo")
    assert list(got) == list(ref)
    del ref["symbols"], got["symbols"]  # compared symbol by symbol below
    assert shape_problems(ref, got) == []


@pytest.mark.parametrize("name", [s["symbol"] for s in load(EXCHANGE_INFO)["symbols"]])
async def test_exchange_info_symbols_match_the_2026_capture(sim_server, name):
    _, url = sim_server
    ref_symbol = next(s for s in load(EXCHANGE_INFO)["symbols"] if s["symbol"] == name)
    got = await rest_json(url, "/fapi/v1/exchangeInfo")
    sim_symbol = sim_quarterly_or_same_name(ref_symbol, got["symbols"])
    assert shape_problems(ref_symbol, sim_symbol, at=f"$.symbols[{name}]") == []


async def test_exchange_info_lists_each_captured_kind_of_contract(sim_server):
    _, url = sim_server
    got = await rest_json(url, "/fapi/v1/exchangeInfo")
    kinds = {}
    for ref_symbol in load(EXCHANGE_INFO)["symbols"]:
        sim_symbol = sim_quarterly_or_same_name(ref_symbol, got["symbols"])
        kinds[ref_symbol["symbol"]] = (sim_symbol["contractType"], sim_symbol["status"])
    assert kinds == {
        s["symbol"]: (s["contractType"], s["status"]) for s in load(EXCHANGE_INFO)["symbols"]
    }


async def test_unknown_symbol_is_answered_400_with_the_captured_body(sim_server):
    _, url = sim_server
    response = await rest(url, "/fapi/v1/openInterest", {"symbol": "NOPEUSDT"})
    assert response.status_code == 400
    assert response.content == (REFERENCE_DIR / INVALID_SYMBOL_400).read_bytes().strip()


async def test_open_interest_hist_rows_match_the_2026_live_row(sim_server):
    _, url = sim_server
    params = {"symbol": "BTCUSDT", "period": "5m", "limit": "2"}
    got = await rest_json(url, "/futures/data/openInterestHist", params)
    assert len(got) == 2
    ref_row = load(OI_HIST_LIVE_ROW)
    assert json_type(ref_row["timestamp"]) == "integer"
    for row in got:
        assert shape_problems(ref_row, row) == []


def test_open_interest_hist_docs_text_is_the_json_file_without_comments():
    text = (REFERENCE_DIR / OI_HIST_DOCS_TXT).read_text(encoding="utf-8")
    from_text = json.loads(strip_docs_comments(text))
    as_pairs = [list(row.items()) for row in from_text]
    assert as_pairs == [list(row.items()) for row in load(OI_HIST_DOCS_JSON)]


async def test_open_interest_hist_follows_the_docs_example_but_sends_an_integer_timestamp(
    sim_server,
):
    # The docs example shows "timestamp" as a string, but the live API sends a JSON integer
    # (the 2026-09-15 live row; the Python SDK changelog: "timestamp: type string -> integer").
    # The simulator follows the wire, so the docs rows are held to the sim with that one change.
    _, url = sim_server
    params = {"symbol": "BTCUSDT", "period": "5m", "limit": "2"}
    got = await rest_json(url, "/futures/data/openInterestHist", params)
    docs = load(OI_HIST_DOCS_JSON)
    assert all(json_type(row["timestamp"]) == "string" for row in docs)
    assert all(json_type(row["timestamp"]) == "integer" for row in got)
    as_on_the_wire = [{**row, "timestamp": int(row["timestamp"])} for row in docs]
    assert shape_problems(as_on_the_wire, got) == []


# -- streams, 2026 captures ----------------------------------------------------------------------


async def test_mark_price_arr_frames_match_the_2026_capture(sim_server, autojump_clock):
    _, url = sim_server
    ref = load(MARK_PRICE_ARR)
    frames = await one_tick_of_frames(url, ref["stream"])
    for frame in frames:
        assert list(frame) == list(ref)
        assert frame["stream"] == ref["stream"]
        assert json_type(frame["data"]) == "array"
    assert rows_problems(ref["data"], rows_of(frames), "s") == []


async def test_mark_price_arr_sends_tradfi_symbols_in_a_frame_of_their_own(
    sim_server, autojump_clock
):
    _, url = sim_server
    ref = load(MARK_PRICE_ARR)
    frames = await one_tick_of_frames(url, ref["stream"])
    info = await rest_json(url, "/fapi/v1/exchangeInfo")
    tradfi = {
        s["symbol"]
        for s in info["symbols"]
        if s["contractType"] == "TRADIFI_PERPETUAL" and s["status"] == "TRADING"
    }
    assert {row["s"] for row in ref["data"]} <= tradfi
    # Exactly one frame of the tick carries TradFi rows, and it holds nothing else.
    with_tradfi = [f for f in frames if any(row["s"] in tradfi for row in f["data"])]
    assert [{row["s"] for row in f["data"]} for f in with_tradfi] == [tradfi]
    assert len(frames) > 1


async def test_mark_price_symbol_stream_matches_the_2026_capture(sim_server, autojump_clock):
    _, url = sim_server
    ref = load(MARK_PRICE_SYMBOL)
    frames = await one_tick_of_frames(url, ref["stream"])
    assert len(frames) == 1
    assert frames[0]["stream"] == ref["stream"]
    assert shape_problems(ref, frames[0]) == []


# -- 2021/2022 captures: ordered subsequences ----------------------------------------------------


@pytest.mark.parametrize("capture", LEGACY_REST)
async def test_legacy_rest_capture_keys_are_an_ordered_subsequence_of_the_sim(sim_server, capture):
    _, url = sim_server
    path, params = LEGACY_REST[capture]
    got = await rest_json(url, path, params)
    assert shape_problems(load(capture), got, legacy=True) == []


@pytest.mark.parametrize("capture", LEGACY_STREAMS)
async def test_legacy_stream_capture_keys_are_an_ordered_subsequence_of_the_sim(
    sim_server, autojump_clock, capture
):
    _, url = sim_server
    ref = load(capture)
    first_row = ref["data"][0] if isinstance(ref["data"], list) else ref["data"]
    frames = await one_tick_of_frames(url, ref["stream"])
    frame = frame_holding(frames, first_row["s"])
    assert frame["stream"] == ref["stream"]
    assert shape_problems(ref, frame, legacy=True) == []
