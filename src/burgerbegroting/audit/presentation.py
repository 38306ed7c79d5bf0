"""The staff action log as people read it: Dutch labels, the titles of rounds and proposals
(with links), and each change as "field: before → after". Used by the log page and its CSV.

The log itself stores machine names and raw values (``round.update``, ``total_budget_cents``);
translating them here keeps the stored log stable while the wording can improve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import i18n
from burgerbegroting.accounts.models import User
from burgerbegroting.audit.models import AuditEntry
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.proposals.service import STATUS_LABELS
from burgerbegroting.rounds.models import Round
from burgerbegroting.rounds.validation import FIELD_LABELS

ACTION_LABELS: dict[str, str] = {
    "round.create": N_("Ronde aangemaakt"),
    "round.update": N_("Ronde gewijzigd"),
    "round.phase": N_("Fase van de ronde gewijzigd"),
    "proposal.review": N_("Voorstel getoetst"),
    "proposal.merge": N_("Voorstellen samengevoegd"),
    "proposal.export": N_("Voorstellen gedownload"),
    "user.invite": N_("Medewerker uitgenodigd"),
    "user.roles": N_("Rollen gewijzigd"),
    "user.deactivate": N_("Account gesloten"),
    "user.reactivate": N_("Account heropend"),
}
ROLE_LABELS: dict[str, str] = {
    "resident": N_("inwoner"),
    "moderator": N_("toetser"),
    "admin": N_("beheerder"),
    "council": N_("raadslid"),
    "auditor": N_("controleur"),
}
SUBJECT_LABELS: dict[str, str] = {
    "round": N_("Ronde"),
    "proposal": N_("Voorstel"),
    "user": N_("Account"),
}
DETAIL_LABELS: dict[str, str] = {
    **FIELD_LABELS,
    "from": N_("Van"),
    "to": N_("Naar"),
    "into": N_("Samengevoegd met voorstel"),
    "supports_moved": N_("Steunbetuigingen overgezet"),
    "municipal_cost_cents": N_("Kostenraming gemeente"),
    "fingerprint": N_("Vingerafdruk"),
    "projects": N_("Aantal projecten"),
    "format": N_("Formaat"),
    "proposals": N_("Aantal voorstellen"),
    "feasibility_notes": N_("Met interne haalbaarheid"),
    "roles": N_("Rollen"),
}
_PHASES = {
    "draft": N_("In voorbereiding"),
    "submission": N_("Voorstellen indienen"),
    "review": N_("Toetsing door de gemeente"),
    "voting": N_("Stemmen"),
    "closed": N_("Stemmen gesloten, uitslag volgt"),
    "published": N_("Uitslag bekend"),
}


@dataclass(frozen=True, slots=True)
class Change:
    label: str
    before: str | None  # None: not a before/after pair (a plain fact)
    after: str


@dataclass(frozen=True, slots=True)
class EntryView:
    entry: AuditEntry
    action_label: str
    actor: str
    subject_label: str
    subject_title: str | None
    subject_link: str | None
    changes: tuple[Change, ...]


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return _(label) if label is not None else action


def _value(key: str, value: Any, *, action: str, lang: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return _("ja") if value else _("nee")
    if key.endswith("_cents") and isinstance(value, int):
        return i18n.format_money(value, lang)
    if key.endswith("_at") and isinstance(value, str):
        try:
            return i18n.format_datetime(datetime.fromisoformat(value), "medium", lang)
        except ValueError:
            return value
    if key in {"from", "to"} and isinstance(value, str):
        labels = _PHASES if action.startswith("round.") else STATUS_LABELS
        label = labels.get(value)
        return _(label) if label is not None else value
    if key == "roles" and isinstance(value, list):
        return ", ".join(_(ROLE_LABELS.get(str(v), str(v))) for v in value) or "–"
    if isinstance(value, list):
        names = [
            str(item.get("name", item)) if isinstance(item, dict) else str(item) for item in value
        ]
        return ", ".join(names) if names else "–"
    if key == "min_budget_share_permille" and isinstance(value, int):
        return f"{i18n.format_number(Decimal(value) / 10, lang)}%"
    return str(value)


def _label(key: str) -> str:
    label = DETAIL_LABELS.get(key)
    return _(label) if label is not None else key


def changes(entry: AuditEntry, lang: str) -> tuple[Change, ...]:
    """The entry's details as a readable list: before → after per changed field, else facts."""
    details: Mapping[str, Any] = entry.details or {}
    action = entry.action

    def fmt(key: str, value: Any) -> str:
        return _value(key, value, action=action, lang=lang)

    if isinstance(details.get("before"), dict) and isinstance(details.get("after"), dict):
        before, after = details["before"], details["after"]
        return tuple(
            Change(_label(key), fmt(key, before.get(key)), fmt(key, after.get(key)))
            for key in sorted(set(before) | set(after), key=_order)
        )
    if isinstance(details.get("fields"), dict):
        fields = details["fields"]
        return tuple(Change(_label(k), None, fmt(k, fields[k])) for k in sorted(fields, key=_order))
    out: list[Change] = []
    if "from" in details and "to" in details:
        out.append(
            Change(
                _("Status") if action.startswith("proposal.") else _("Fase"),
                fmt("from", details["from"]),
                fmt("to", details["to"]),
            )
        )
    out.extend(
        Change(_label(k), None, fmt(k, v)) for k, v in details.items() if k not in {"from", "to"}
    )
    return tuple(out)


_FIELD_ORDER = {name: i for i, name in enumerate(DETAIL_LABELS)}


def _order(key: str) -> tuple[int, str]:
    return (_FIELD_ORDER.get(key, len(_FIELD_ORDER)), key)


async def subject_titles(
    session: AsyncSession, entries: Sequence[AuditEntry]
) -> dict[tuple[str, str], str]:
    """Titles of the rounds and proposals the entries are about (one query per kind)."""
    wanted: dict[str, set[int]] = {"round": set(), "proposal": set(), "user": set()}
    for entry in entries:
        if entry.subject_type in wanted and entry.subject_id.isdigit():
            wanted[entry.subject_type].add(int(entry.subject_id))
        into = (entry.details or {}).get("into")
        if entry.action == "proposal.merge" and isinstance(into, int):
            wanted["proposal"].add(into)
    titles: dict[tuple[str, str], str] = {}
    if wanted["round"]:
        rows = await session.execute(
            select(Round.id, Round.title).where(Round.id.in_(wanted["round"]))
        )
        titles.update({("round", str(r.id)): r.title for r in rows})
    if wanted["proposal"]:
        rows = await session.execute(
            select(Proposal.id, Proposal.title).where(Proposal.id.in_(wanted["proposal"]))
        )
        titles.update({("proposal", str(r.id)): r.title or f"#{r.id}" for r in rows})
    if wanted["user"]:
        rows = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(wanted["user"]))
        )
        titles.update({("user", str(r.id)): r.display_name for r in rows})
    return titles


def subject_link(subject_type: str, subject_id: str) -> str | None:
    if subject_type == "round":
        return f"/rondes/{subject_id}"
    if subject_type == "proposal":
        return f"/voorstellen/{subject_id}"
    if subject_type == "user":
        return f"/beheer/gebruikers/{subject_id}"
    return None


async def describe(
    session: AsyncSession,
    entries: Sequence[AuditEntry],
    actor_names: Mapping[int, str],
    lang: str,
) -> list[EntryView]:
    titles = await subject_titles(session, entries)
    views = []
    for entry in entries:
        key = (entry.subject_type, entry.subject_id)
        subject = SUBJECT_LABELS.get(entry.subject_type)
        views.append(
            EntryView(
                entry=entry,
                action_label=action_label(entry.action),
                actor=_("Systeem (planning)")
                if entry.actor_id is None
                else actor_names.get(entry.actor_id, f"#{entry.actor_id}"),
                subject_label=_(subject) if subject is not None else entry.subject_type,
                subject_title=titles.get(key),
                subject_link=subject_link(*key),
                changes=changes(entry, lang),
            )
        )
    return views
