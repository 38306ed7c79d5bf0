"""An XSS corpus in every text field of a proposal: pages and API stay inert.

Each payload is stored as given (residents may write about ``<script>`` tags) and must come back
escaped in pages, sanitised in the ``*_html`` API fields, and never as live markup: no script, svg,
iframe, object, embed, math, style or img element, no ``on*`` attribute, no javascript:/data:/
vbscript: link anywhere in the document.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.proposals.text import render_markdown
from burgerbegroting.settings import Settings
from tests.proposals.factories import (
    People,
    RoundIds,
    create_proposal,
    make_people,
    make_round,
)

CORPUS: tuple[str, ...] = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1></svg>",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)' x='",
    "[klik](javascript:alert(1))",
    "[klik](JaVaScRiPt:alert(1))",
    "[klik](  javascript:alert(1))",
    "[klik](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[klik](vbscript:msgbox(1))",
    '<a href="javascript:alert(1)">x</a>',
    '[x](https://ok.example/" onmouseover="alert(1))',
    "<iframe src=https://evil.example></iframe>",
    "<object data=x></object><embed src=x>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>body{display:none}</style>",
    "<<script>script>alert(1)<</script>/script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "{{ 7*191 }} {% raw %}x{% endraw %}",
    "![plaatje](javascript:alert(1))",
    "<details open ontoggle=alert(1)>",
    "`<script>alert(1)</script>`",
)
FORBIDDEN_TAGS = {"script", "svg", "iframe", "object", "embed", "math", "style", "img", "details"}
FORBIDDEN_SCHEMES = ("javascript:", "data:", "vbscript:")


# Markup our templates write themselves: the gallery's and log's folded filters. A <details>
# from the corpus never has exactly these attributes (and any on* attribute is caught below).
_OWN_DETAILS = {(("class", "bb-filters bb-gallery__filters"),), (("class", "bb-filters"),)}


def _our_own(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    plain = tuple((name, value) for name, value in attrs if name != "open" or value is not None)
    return tag == "details" and plain in _OWN_DETAILS


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS and not _our_own(tag, attrs):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag}[{name}]")
            if name in {"href", "src", "action", "formaction", "data"} and value:
                cleaned = "".join(value.split()).lower()
                if cleaned.startswith(FORBIDDEN_SCHEMES):
                    self.problems.append(f"{tag}[{name}={value}]")


def problems(html: str) -> list[str]:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.problems


def test_the_checker_itself_catches_live_markup() -> None:
    # Guards the guard: unescaped payloads must be reported.
    assert problems("<p>ok</p><a href='https://x.nl'>x</a>") == []
    assert problems("<script>alert(1)</script>") == ["<script>"]
    assert problems("<img src=x onerror=alert(1)>") == ["<img>", "img[onerror]"]
    assert problems('<a href=" JavaScript:alert(1)">x</a>') == ["a[href= JavaScript:alert(1)]"]


@pytest.mark.parametrize("payload", CORPUS)
def test_markdown_renderer_never_emits_live_markup(payload: str) -> None:
    html = str(render_markdown(payload))
    assert problems(html) == [], html
    assert "1337" not in html


def test_safe_markdown_subset_still_works() -> None:
    html = str(
        render_markdown("*a* **b**\n\n- een\n- twee\n\n1. drie\n\n[site](https://example.nl)")
    )
    assert "<em>a</em>" in html
    assert "<strong>b</strong>" in html
    assert "<ul>" in html
    assert "<ol>" in html
    assert '<a href="https://example.nl" rel="nofollow noopener noreferrer ugc">site</a>' in html


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


@pytest.fixture
def ids(settings: Settings) -> RoundIds:
    return make_round(settings)


def test_corpus_is_inert_in_pages_and_api(
    client: TestClient[Litestar], settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    mod = people.headers(settings, "moderator")
    created: list[int] = []
    for i, payload in enumerate(CORPUS):
        body = create_proposal(
            client,
            settings,
            ids,
            h,
            title=f"Voorstel {i} {payload}"[:200],
            summary=payload,
            description=f"Beschrijving\n\n{payload}",
            societal_effect=payload,
            target_group=payload[:300],
            location=payload,
            organisation_name=payload[:200],
        )
        created.append(body["id"])
        review = client.post(
            f"/api/v1/proposals/{body['id']}/review",
            json={
                "decision": "changes_requested",
                "public_reasoning": payload,
                "feasibility_notes": payload,
            },
            headers=mod,
        )
        assert review.status_code == 200
        # Stored as written: nothing is silently dropped from what residents typed.
        api = client.get(f"/api/v1/proposals/{body['id']}").json()
        assert api["summary"] == payload
        assert problems(api["description_html"]) == [], api["description_html"]
        assert problems(api["societal_effect_html"]) == [], api["societal_effect_html"]

    pages = [f"/voorstellen/{pid}" for pid in created]
    pages.append(f"/rondes/{ids.round_id}/voorstellen")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200
        assert problems(response.text) == [], url
        assert "1337" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/voorstellen/{created[0]}").text
    for url in ["/mijn-voorstellen", *[f"/voorstellen/{pid}/bewerken" for pid in created[:3]]]:
        response = client.get(url, headers=h)
        assert response.status_code == 200
        assert problems(response.text) == [], url
    for url in [
        "/toetsing",
        f"/voorstellen/{created[1]}/toetsing",
        f"/voorstellen/{created[2]}/samenvoegen",
    ]:
        response = client.get(url, headers=mod)
        assert response.status_code == 200
        assert problems(response.text) == [], url
    listing = client.get(f"/api/v1/rounds/{ids.round_id}/proposals?q=script")
    assert listing.headers["content-type"].startswith("application/json")
    assert listing.headers["x-content-type-options"] == "nosniff"
    assert listing.json()["total"] >= 1
