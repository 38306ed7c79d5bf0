"""Who may reach the proposals routes (read by ``tests/test_route_matrix.py``).

Guards decide by role only; whether a resident is an *author* of the proposal is the service's
business (403 or 404 there, tested in ``test_controllers.py``, ``test_pages.py`` and
``tests/test_route_matrix.py::test_ownership_is_checked_on_real_objects``). The matrix's resident
is the author of the proposals it probes.
"""

from __future__ import annotations

R = {"resident"}
M = {"moderator"}
EXPORT = {"moderator", "admin", "auditor"}
P = "/voorstellen/{proposal_id:int}"
API = "/api/v1/proposals/{proposal_id:int}"

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    # API
    ("GET", "/api/v1/rounds/{round_id:int}/proposals"): "anyone",
    ("POST", "/api/v1/rounds/{round_id:int}/proposals"): R,
    ("GET", "/api/v1/rounds/{round_id:int}/proposals/export"): EXPORT,
    ("GET", API): "anyone",
    ("PATCH", API): R,
    ("POST", f"{API}/submit"): R,
    ("POST", f"{API}/withdraw"): R,
    ("PUT", f"{API}/supports"): R,
    ("DELETE", f"{API}/supports"): R,
    ("POST", f"{API}/coauthors"): R,
    ("DELETE", f"{API}/coauthors/{{user_id:int}}"): "login",
    ("GET", f"{API}/invitations"): R,
    ("DELETE", f"{API}/invitations/{{invitation_id:int}}"): R,
    ("POST", "/api/v1/invitations/accept"): R,
    ("POST", "/api/v1/invitations/decline"): "login",
    ("GET", "/api/v1/me/proposals"): "login",
    ("GET", "/api/v1/me/invitations"): "login",
    ("GET", "/api/v1/review/proposals"): M,
    ("POST", f"{API}/review"): M,
    ("POST", f"{API}/merge"): M,
    # pages
    ("GET", "/voorstellen"): "anyone",
    ("GET", "/rondes/{round_id:int}/voorstellen"): "anyone",
    ("POST", "/rondes/{round_id:int}/voorstellen"): R,
    ("GET", "/rondes/{round_id:int}/voorstellen/nieuw"): R,
    ("GET", P): "anyone",
    ("GET", f"{P}/bewerken"): R,
    ("POST", f"{P}/bewerken"): R,
    ("POST", f"{P}/indienen"): R,
    ("GET", f"{P}/intrekken"): R,
    ("POST", f"{P}/intrekken"): R,
    ("POST", f"{P}/steunen"): R,
    ("POST", f"{P}/steun-intrekken"): R,
    ("GET", "/mijn-voorstellen"): "login",
    ("GET", f"{P}/fotos"): R,
    ("POST", f"{P}/fotos"): R,
    ("POST", f"{P}/fotos/{{photo_id:int}}/verwijderen"): R,
    ("GET", f"{P}/fotos/{{photo_id:int}}"): "anyone",
    ("GET", f"{P}/fotos/{{photo_id:int}}/klein"): "anyone",
    ("GET", f"{P}/mede-indieners"): R,
    ("POST", f"{P}/mede-indieners"): R,
    ("POST", f"{P}/mede-indieners/{{user_id:int}}/verwijderen"): "login",
    ("POST", f"{P}/uitnodigingen/{{invitation_id:int}}/intrekken"): R,
    ("GET", "/uitnodiging"): "anyone",
    ("POST", "/uitnodiging/accepteren"): R,
    ("POST", "/uitnodiging/afwijzen"): "login",
    ("GET", "/toetsing"): M,
    ("GET", f"{P}/toetsing"): M,
    ("POST", f"{P}/toetsing"): M,
    ("GET", f"{P}/samenvoegen"): M,
    ("POST", f"{P}/samenvoegen"): M,
    ("GET", "/raad"): {"council"},
}
