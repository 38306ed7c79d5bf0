"""Who may reach the voting routes (read by ``tests/test_route_matrix.py``).

The booth (``/ballot``) is for voters: a voter session (tested in ``tests/voting``), or a
resident's account in rounds with account voting; staff accounts are no voters there.

The booth pages (``/stemmen…``, ``/ontvangstbewijs``) are "anyone": they find the voter
themselves (the ``bb_voter`` cookie or the resident's account) and answer a visitor without one
with the code form (or, in account rounds, the login page), tested in ``test_pages.py``.
"""

from __future__ import annotations

ADMIN = {"admin"}
RESIDENT = {"resident"}
PAPER = {"admin", "moderator"}

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    ("POST", "/api/v1/rounds/{round_id:int}/codes"): ADMIN,
    ("GET", "/api/v1/rounds/{round_id:int}/codes"): ADMIN,
    ("POST", "/api/v1/rounds/{round_id:int}/codes/revoke"): ADMIN,
    ("POST", "/api/v1/rounds/{round_id:int}/codes/{batch_id:int}/revoke"): ADMIN,
    ("POST", "/api/v1/auth/code"): "anyone",
    ("GET", "/api/v1/rounds/{round_id:int}/ballot"): RESIDENT,
    ("PUT", "/api/v1/rounds/{round_id:int}/ballot"): RESIDENT,
    ("POST", "/api/v1/rounds/{round_id:int}/paper-ballots"): PAPER,
    ("GET", "/api/v1/rounds/{round_id:int}/receipts/{receipt:str}"): "anyone",
    ("GET", "/api/v1/rounds/{round_id:int}/log/head"): "anyone",
    # Staff pages (voting/admin_pages.py): codes for admins, paper ballots for admins and moderators.
    ("GET", "/beheer/rondes/{round_id:int}/stemcodes"): ADMIN,
    ("POST", "/beheer/rondes/{round_id:int}/stemcodes"): ADMIN,
    ("POST", "/beheer/rondes/{round_id:int}/stemcodes/intrekken"): ADMIN,
    ("POST", "/beheer/rondes/{round_id:int}/stemcodes/{batch_id:int}/intrekken"): ADMIN,
    ("GET", "/beheer/rondes/{round_id:int}/papieren-stem"): PAPER,
    ("POST", "/beheer/rondes/{round_id:int}/papieren-stem"): PAPER,
    ("GET", "/stemmen"): "anyone",
    ("POST", "/stemmen"): "anyone",
    ("POST", "/stemmen/stoppen"): "anyone",
    ("GET", "/stemmen/{round_id:int}"): "anyone",
    ("POST", "/stemmen/{round_id:int}"): "anyone",
    ("POST", "/stemmen/{round_id:int}/wijk"): "anyone",
    ("GET", "/stemmen/{round_id:int}/controleren"): "anyone",
    ("POST", "/stemmen/{round_id:int}/bevestigen"): "anyone",
    ("GET", "/stemmen/{round_id:int}/ontvangstbewijs"): "anyone",
    ("GET", "/ontvangstbewijs"): "anyone",
    ("POST", "/ontvangstbewijs"): "anyone",
}
