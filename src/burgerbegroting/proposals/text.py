"""Proposal text: plain text or a small, safe Markdown subset, rendered to sanitised HTML.

Residents write paragraphs, emphasis, lists and links. We parse with markdown-it-py with raw HTML
disabled (so ``<script>`` stays literal text) and a link validator that accepts only http(s), then
run the result through nh3 (ammonia) with an allow-list of tags. Two independent layers: a bug or
a new feature in the Markdown parser cannot by itself let markup through the sanitiser.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset({"p", "em", "strong", "ul", "ol", "li", "a", "br"})
ALLOWED_ATTRIBUTES = {"a": {"href"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https"})
_SAFE_LINK = re.compile(r"^https?://", re.IGNORECASE)
# Control characters other than tab, newline and carriage return are never meaningful in prose,
# and PostgreSQL refuses NUL in text columns (which would otherwise surface as a 500).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _validate_link(url: str) -> bool:
    return bool(_SAFE_LINK.match(url.strip()))


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # "zero" enables nothing; we switch on exactly the subset we promise residents.
    md = MarkdownIt("zero", {"html": False, "linkify": False, "breaks": True})
    md.enable(["emphasis", "list", "link", "newline", "escape"])
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


def has_control_characters(value: str) -> bool:
    """True when ``value`` contains control characters we refuse to store."""
    return bool(_CONTROL.search(value))


def render_markdown(source: str) -> Markup:
    """Render resident text (plain or the Markdown subset) to sanitised HTML safe to embed."""
    html = _parser().render(source)
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 with an allow-list just above
