"""The audit export through the API: formats, access, determinism, logging."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.audit.verify import verify
from burgerbegroting.settings import Settings
from tests.audit.factories import export_json, voted_round


def test_closed_round_export_verifies(client: TestClient[Litestar], settings: Settings) -> None:
    voted = voted_round(client, settings)
    raw, document = export_json(client, voted.vr.round_id, voted.auditor)
    report = verify(document)
    print(report.text())
    assert document["manifest"]["state"] == "closed"
