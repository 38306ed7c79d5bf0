"""Who may reach the rounds and audit-log routes (read by ``tests/test_route_matrix.py``)."""

from __future__ import annotations

ADMIN = {"admin"}
STAFF_LOG = {"admin", "auditor"}

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/api/v1/rounds"): "anyone",
    ("POST", "/api/v1/rounds"): ADMIN,
    ("GET", "/api/v1/rounds/{round_id:int}"): "anyone",
    ("PATCH", "/api/v1/rounds/{round_id:int}"): ADMIN,
    ("POST", "/api/v1/rounds/{round_id:int}/phase"): ADMIN,
    ("GET", "/api/v1/rounds/{round_id:int}/definition"): "anyone",
    ("GET", "/api/v1/audit-log"): STAFF_LOG,
    ("GET", "/beheer/logboek"): STAFF_LOG,
    ("GET", "/beheer/logboek/export.csv"): STAFF_LOG,
    ("GET", "/rondes"): "anyone",
    ("GET", "/rondes/{round_id:int}"): "anyone",
    ("GET", "/beheer"): ADMIN,
    ("GET", "/beheer/rondes"): ADMIN,
    ("GET", "/beheer/rondes/nieuw"): ADMIN,
    ("POST", "/beheer/rondes/nieuw"): ADMIN,
    ("GET", "/beheer/rondes/{round_id:int}/bewerken"): ADMIN,
    ("POST", "/beheer/rondes/{round_id:int}/bewerken"): ADMIN,
    ("GET", "/beheer/rondes/{round_id:int}/fase"): ADMIN,
    ("POST", "/beheer/rondes/{round_id:int}/fase"): ADMIN,
}
