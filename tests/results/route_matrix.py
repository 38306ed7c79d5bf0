"""Who may reach the results routes (read by ``tests/test_route_matrix.py``).

The reading routes carry no role guard: a published round's results are public, and before that
``results.service.check_visible`` refuses in the handler (tested in ``tests/results``). The matrix
probes a published round (``tests/world.py``), so every role gets its 200.
"""

from __future__ import annotations

ADMIN = {"admin"}

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/api/v1/rounds/{round_id:int}/results"): "anyone",
    ("GET", "/api/v1/rounds/{round_id:int}/results/document"): "anyone",
    ("POST", "/api/v1/rounds/{round_id:int}/results/overrides"): ADMIN,
    ("GET", "/uitslag"): "anyone",
    ("GET", "/rondes/{round_id:int}/uitslag"): "anyone",
    ("POST", "/rondes/{round_id:int}/uitslag/correcties"): ADMIN,
    ("GET", "/rondes/{round_id:int}/raadsinformatiebrief"): "anyone",
    ("GET", "/rondes/{round_id:int}/raadsinformatiebrief.pdf"): "anyone",
}
