import httpx
import trio

from tests.conftest import START_MS


async def test_real_server_answers_under_mock_clock(sim_server, autojump_clock):
    _sim, url = sim_server
    async with httpx.AsyncClient(base_url=url) as client:
        first = await client.get("/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})
        await trio.sleep(3600)
        later = await client.get("/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})
    assert first.status_code == later.status_code == 200
    assert first.json()["time"] == START_MS
    assert later.json()["time"] == START_MS + 3_600_000
    assert later.headers["x-mbx-used-weight-1m"] == "1"
