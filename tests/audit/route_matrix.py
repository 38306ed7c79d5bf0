"""Who may reach the audit export routes (read by ``tests/test_route_matrix.py``).

The staff action log (``/api/v1/audit-log``, ``/beheer/logboek``) is listed in
``tests/rounds/route_matrix.py``. The export has no role guard on the route: who may download
depends on the round (auditors and admins after the close, auditors' JSON during voting, anyone
after publication when ``export_public`` is set), so it is decided in ``audit.export`` and tested
in ``tests/audit/test_export.py``; the matrix probes a published round whose export is public
(``tests/world.py``), so everyone gets past.
"""

from __future__ import annotations

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/api/v1/rounds/{round_id:int}/export"): "anyone",
    ("GET", "/.well-known/burgerbegroting-key"): "anyone",
}
