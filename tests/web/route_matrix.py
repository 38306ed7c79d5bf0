"""Who may reach the page shell's routes (read by ``tests/test_route_matrix.py``).

Added by ACCOUNTS so the matrix covers the shell; FRONTEND owns these routes and this file.
"""

from __future__ import annotations

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/"): "anyone",
    ("GET", "/privacy"): "anyone",
    ("GET", "/toegankelijkheid"): "anyone",
    ("GET", "/static-theme.css"): "anyone",
    ("GET", "/favicon.ico"): "anyone",
    ("POST", "/taal"): "anyone",
}
