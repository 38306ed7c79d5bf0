"""``kill -9`` of the server during 200 in-flight casts, then a restart.

200 voters cast and recast without pause (casts are written in batches and would otherwise all
be done before the kill), so 200 casts are in flight when the server dies.

SQLite with one worker and PostgreSQL with two (``serve --workers 2``): every receipt the server
acknowledged before it died is stored, no ballot is half-written (every stored ballot has its log
event and the log replays to the stored current ballots), and the restarted server goes on.
"""

from __future__ import annotations

import asyncio

import httpx

from burgerbegroting import db
from burgerbegroting.settings import Settings
from tests.voting.factories import issue_codes, open_round, scalar
from tests.voting.replay import replay
from tests.voting.server import Server, start_server

CASTS = 200
KILL_AFTER_ACKS = 40


async def _redeem(client: httpx.AsyncClient, codes: list[str]) -> list[dict[str, str]]:
    headers = []
    for code in codes:
        response = await client.post("/api/v1/auth/code", json={"code": code})
        assert response.status_code == 200, response.text
        headers.append({"Authorization": f"Bearer {response.json()['token']}"})
    return headers


async def _storm(
    server: Server, round_id: int, projects: list[int], codes: list[str]
) -> tuple[list[str], int]:
    """200 voters cast and cast again without pause, so 200 casts are in flight at every moment;
    the server is killed once ``KILL_AFTER_ACKS`` were acknowledged. Returns the acknowledged
    receipts and how many casts were cut off by the kill (sent, never answered)."""
    acknowledged: list[str] = []
    cut_off = 0
    limits = httpx.Limits(max_connections=CASTS, max_keepalive_connections=CASTS)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as client:
        voters = await _redeem(client, codes)
        enough = asyncio.Event()

        async def voter(i: int) -> None:
            nonlocal cut_off
            n = 0
            while True:
                try:
                    response = await client.put(
                        f"/api/v1/rounds/{round_id}/ballot",
                        json={"projects": [projects[(i + n) % len(projects)]]},
                        headers=voters[i],
                    )
                except httpx.HTTPError:
                    cut_off += 1  # in flight when the server died: not acknowledged
                    return
                assert response.status_code == 200, response.text
                acknowledged.append(response.json()["receipt"])
                n += 1
                if len(acknowledged) >= KILL_AFTER_ACKS:
                    enough.set()

        tasks = [asyncio.create_task(voter(i)) for i in range(CASTS)]
        await asyncio.wait_for(enough.wait(), timeout=120)
        server.kill()
        await asyncio.gather(*tasks)
    return acknowledged, cut_off


def test_kill_9_during_200_casts_loses_no_acknowledged_ballot(settings: Settings) -> None:
    workers = 1 if db.is_sqlite(settings.database_url) else 2
    vr = open_round(settings, costs=(3_000_000, 2_000_000, 1_000_000))
    codes = issue_codes(settings, vr, CASTS)
    server = start_server(settings, workers=workers)
    try:
        acknowledged, cut_off = asyncio.run(_storm(server, vr.round_id, vr.projects, codes))
    finally:
        server.kill()
    assert len(acknowledged) >= KILL_AFTER_ACKS
    assert cut_off > 0, "no cast was in flight when the server died: no crash tested"
    stored = scalar(settings, "SELECT count(*) FROM ballots")
    result = replay(settings, vr.round_id)  # no partial ballot: the log and the ballots agree
    # Every acknowledged receipt is in the log (a voter's later cast may have superseded it).
    assert set(acknowledged) <= result.receipts
    assert len(result.receipts) == stored
    # The restarted server reads the same log and takes new casts.
    again = start_server(settings, workers=workers)
    try:
        head = httpx.get(f"{again.base_url}/api/v1/rounds/{vr.round_id}/log/head", timeout=10)
        assert head.status_code == 200
        assert head.json()["height"] == result.height
        [code] = issue_codes(settings, vr, 1)
        token = httpx.post(f"{again.base_url}/api/v1/auth/code", json={"code": code}, timeout=10)
        cast = httpx.put(
            f"{again.base_url}/api/v1/rounds/{vr.round_id}/ballot",
            json={"projects": [vr.projects[0]]},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
            timeout=10,
        )
        assert cast.status_code == 200, cast.text
    finally:
        again.stop()
    replay(settings, vr.round_id)
