"""Who may reach the accounts routes (read by ``tests/test_route_matrix.py``).

Format (every feature's ``tests/<feature>/route_matrix.py`` uses it):
``EXPECTED: dict[tuple[method, route path], access]`` where the path is Litestar's route path
(``/api/v1/rounds/{round_id:int}``) and access is ``"anyone"`` (anonymous included), ``"login"``
(any logged-in user) or a set of role names (``{"admin"}``): anonymous → 401, other roles → 403.
"""

from __future__ import annotations

EXPECTED: dict[tuple[str, str], str | set[str]] = {
    ("POST", "/api/v1/auth/register"): "anyone",
    ("POST", "/api/v1/auth/confirm"): "anyone",
    ("POST", "/api/v1/auth/login"): "anyone",
    ("POST", "/api/v1/auth/logout"): "login",
    ("GET", "/api/v1/auth/me"): "login",
    ("GET", "/inloggen"): "anyone",
    ("POST", "/inloggen"): "anyone",
    ("GET", "/registreren"): "anyone",
    ("POST", "/registreren"): "anyone",
    ("GET", "/registreren/verstuurd"): "anyone",
    ("GET", "/bevestigen"): "anyone",
    ("POST", "/bevestigen"): "anyone",
    ("GET", "/uitloggen"): "anyone",
    ("POST", "/uitloggen"): "anyone",
    ("GET", "/uitgelogd"): "anyone",
    # forgotten password and "Mijn account" (accounts/selfservice_pages.py)
    ("GET", "/wachtwoord-vergeten"): "anyone",
    ("POST", "/wachtwoord-vergeten"): "anyone",
    ("GET", "/wachtwoord-vergeten/verstuurd"): "anyone",
    ("GET", "/wachtwoord-herstellen"): "anyone",
    ("POST", "/wachtwoord-herstellen"): "anyone",
    ("GET", "/wachtwoord-herstellen/klaar"): "anyone",
    ("GET", "/mijn-account"): "login",
    ("POST", "/mijn-account/naam"): "login",
    ("POST", "/mijn-account/e-mail"): "login",
    ("GET", "/mijn-account/e-mail-bevestigen"): "anyone",
    ("POST", "/mijn-account/e-mail-bevestigen"): "anyone",
    ("POST", "/mijn-account/wachtwoord"): "login",
    ("GET", "/mijn-account/gegevens.json"): "login",
    ("GET", "/mijn-account/verwijderen"): "login",
    ("POST", "/mijn-account/verwijderen"): {"resident"},  # staff: 403 (an admin closes theirs)
    ("GET", "/account-verwijderd"): "anyone",
    # staff accounts (accounts/admin_pages.py)
    ("GET", "/beheer/gebruikers"): {"admin"},
    ("POST", "/beheer/gebruikers/uitnodigen"): {"admin"},
    ("GET", "/beheer/gebruikers/{user_id:int}"): {"admin"},
    ("POST", "/beheer/gebruikers/{user_id:int}/rollen"): {"admin"},
    ("POST", "/beheer/gebruikers/{user_id:int}/sluiten"): {"admin"},
    ("POST", "/beheer/gebruikers/{user_id:int}/heropenen"): {"admin"},
}
