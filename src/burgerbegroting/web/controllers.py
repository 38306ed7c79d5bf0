"""Pages that belong to no feature: home, accessibility statement, privacy, language, theme."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from burgerbegroting import i18n
from burgerbegroting.errors import ValidationFailed
from burgerbegroting.web.forms import safe_next_path
from burgerbegroting.web.pages import page_shell, render, route_paths, user_roles
from burgerbegroting.web.request_helpers import settings_of

AnyRequest = Request[Any, Any, Any]

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
FAVICON = Path(__file__).resolve().parents[3] / "frontend" / "static" / "favicon.ico"
DEFAULT_PRIMARY = "#01689b"
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


def _relative_luminance(colour: str) -> float:
    # WCAG 2.1 relative luminance; used only to pick readable colours, never in a decision.
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(ch * 2 for ch in hex_digits)
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio between two ``#rrggbb`` colours (1 to 21)."""
    la, lb = _relative_luminance(a), _relative_luminance(b)
    light, dark = max(la, lb), min(la, lb)
    return (light + 0.05) / (dark + 0.05)


def _darken(colour: str, factor: float) -> str:
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(ch * 2 for ch in hex_digits)
    rgb = [round(int(hex_digits[i : i + 2], 16) * factor) for i in (0, 2, 4)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def readable_on_white(colour: str, minimum: float = 4.5) -> str:
    """``colour``, darkened just enough to reach ``minimum`` contrast against white (WCAG 1.4.3)."""
    candidate = colour.lower()
    factor = 1.0
    while contrast_ratio(candidate, "#ffffff") < minimum and factor > 0:
        factor = round(factor - 0.05, 2)
        candidate = _darken(colour, max(factor, 0.0))
    return candidate


def theme_css(primary_colour: str) -> str:
    """Custom properties that put the municipality's colour on the NL Design System components.

    The configured colour is darkened where needed so text on it (white) and links in it keep a
    contrast of at least 4.5:1. Anything that is not a hex colour falls back to the default: the
    value comes from configuration, but it still ends up inside a stylesheet.
    """
    colour = primary_colour if _HEX_COLOUR.match(primary_colour or "") else DEFAULT_PRIMARY
    primary = readable_on_white(colour)
    hover = _darken(primary, 0.8)
    return (
        "/* Generated from BB_PRIMARY_COLOUR by burgerbegroting.web.controllers.theme_css */\n"
        ".bb-theme {\n"
        f"  --bb-primary: {primary};\n"
        f"  --bb-primary-hover: {hover};\n"
        "  --bb-on-primary: #ffffff;\n"
        f"  --utrecht-button-primary-action-background-color: {primary};\n"
        f"  --utrecht-button-primary-action-border-color: {primary};\n"
        "  --utrecht-button-primary-action-color: #ffffff;\n"
        f"  --utrecht-button-primary-action-hover-background-color: {hover};\n"
        f"  --utrecht-button-primary-action-hover-border-color: {hover};\n"
        "  --utrecht-button-primary-action-hover-color: #ffffff;\n"
        f"  --utrecht-button-secondary-action-color: {primary};\n"
        f"  --utrecht-button-secondary-action-border-color: {primary};\n"
        f"  --utrecht-button-subtle-color: {primary};\n"
        f"  --utrecht-link-color: {primary};\n"
        f"  --utrecht-link-hover-color: {hover};\n"
        "}\n"
    )


def _home_actions(request: AnyRequest, summary: Any) -> list[tuple[str, str, bool]]:
    """Calls to action for the current round: (href, Dutch label, primary), only for live routes."""
    if summary is None:
        return []
    paths = route_paths(request)
    phase = str(getattr(summary.phase, "value", summary.phase))
    actions: list[tuple[str, str, bool]] = []
    # Submitting is for residents: a visitor is sent to log in first, but a staff account would
    # get 403 from the form, so staff are not offered the link (found by tests/web/test_crawl.py).
    user = request.scope.get("user")
    may_submit = user is None or "resident" in user_roles(user)
    if phase == "submission" and may_submit and "/rondes/{round_id:int}/voorstellen/nieuw" in paths:
        actions.append(
            (f"/rondes/{summary.id}/voorstellen/nieuw", i18n.gettext("Dien een voorstel in"), True)
        )
    if "/rondes/{round_id:int}/voorstellen" in paths:
        actions.append(
            (f"/rondes/{summary.id}/voorstellen", i18n.gettext("Bekijk de voorstellen"), False)
        )
    return actions


class ShellController(Controller):
    """Public pages of the shell; no login needed."""

    tags = ["pages"]  # noqa: RUF012 - Litestar reads this class attribute
    include_in_schema = False

    @get("/", name="home")
    async def home(self, request: AnyRequest) -> Template:
        """The home page: what the burgerbegroting is, and every open round with its phase and
        timeline (the current round when none is open, e.g. one closed and awaiting publication)."""
        shell = page_shell(request)
        summaries = list(shell.open_rounds) or ([shell.phase_banner] if shell.phase_banner else [])
        return render(
            request,
            "pages/home.html",
            {
                "rounds": [(summary, _home_actions(request, summary)) for summary in summaries],
                "round": summaries[0] if summaries else None,
            },
        )

    @get("/toegankelijkheid", name="accessibility")
    async def accessibility(self, request: AnyRequest) -> Template:
        """The accessibility statement (required for Dutch government websites)."""
        return render(request, "pages/toegankelijkheid.html", {"contact": settings_of(request)})

    @get("/privacy", name="privacy")
    async def privacy(self, request: AnyRequest) -> Template:
        """The privacy statement (AVG)."""
        return render(request, "pages/privacy.html", {"contact": settings_of(request)})

    @post("/taal", name="language", status_code=HTTP_303_SEE_OTHER)
    async def switch_language(self, request: AnyRequest) -> Redirect:
        """Remember the chosen language in a cookie and go back to the page it was chosen on."""
        form = await request.form()
        choice = form.get("taal")
        language = i18n.normalise_language(choice if isinstance(choice, str) else None)
        if language is None:
            raise ValidationFailed(
                "Kies Nederlands of Engels.", fields={"taal": "Deze taal wordt niet ondersteund."}
            )
        settings = settings_of(request)
        return Redirect(
            safe_next_path(form.get("next")),
            status_code=HTTP_303_SEE_OTHER,
            cookies=[
                Cookie(
                    key=i18n.LANGUAGE_COOKIE,
                    value=language,
                    max_age=LANGUAGE_COOKIE_SECONDS,
                    path="/",
                    httponly=True,
                    secure=settings.secure_cookies,
                    samesite="lax",
                )
            ],
        )

    @get("/favicon.ico", name="favicon", media_type="image/x-icon")
    async def favicon(self) -> Response[bytes]:
        """The site icon at the address browsers ask for by themselves (no 404 in every log)."""
        return Response(
            FAVICON.read_bytes(),
            media_type="image/x-icon",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @get("/static-theme.css", name="theme_css", media_type="text/css")
    async def theme(self, request: AnyRequest) -> Response[str]:
        """The municipality's colour as CSS custom properties (CSP forbids inline styles)."""
        return Response(
            theme_css(settings_of(request).primary_colour),
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )
