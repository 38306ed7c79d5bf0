"""Who may reach the voting routes (read by ``tests/test_route_matrix.py``).

The booth (``/ballot``) is for voters: a voter session (tested in ``tests/voting``), or a
resident's account in rounds with account voting; staff accounts are no voters there.

The entry pages (``/stemmen``, ``/ontvangstbewijs``) are "anyone". The booth pages of a round
(``/stemmen/{id}…``) find the voter themselves (the ``bb_voter`` cookie or the resident's account):
without a voter session a visitor gets the code form with 401 (or, in account rounds, the login
page) and a staff account 403, so in the matrix, which sends no voter session and probes a real
voting round, they read like the API booth: residents. Voter sessions are tested in
``test_pages.py`` and in ``tests/test_route_matrix.py`` (round 1's session cannot reach round 2).
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
    ("GET", "/stemmen/{round_id:int}"): RESIDENT,
    ("POST", "/stemmen/{round_id:int}"): RESIDENT,
    ("POST", "/stemmen/{round_id:int}/wijk"): RESIDENT,
    ("POST", "/stemmen/{round_id:int}/concept"): RESIDENT,
    ("GET", "/stemmen/{round_id:int}/controleren"): RESIDENT,
    ("POST", "/stemmen/{round_id:int}/bevestigen"): RESIDENT,
    ("GET", "/stemmen/{round_id:int}/ontvangstbewijs"): RESIDENT,
    ("GET", "/ontvangstbewijs"): "anyone",
    ("POST", "/ontvangstbewijs"): "anyone",
}
