"""The booth page's form, without the web: field names, reading a posted form into the API's ballot
shape, the voter's current choices, the budget meter and the rules in plain Dutch.

Pure functions over ``booths.Booth``, so the page (``voting.pages``) stays a thin controller and
these rules are tested on their own. Every ballot type has one field per project, each sent once
(``web.forms.read_form`` refuses repeated names):

- knapsack, approval: checkbox ``p-<id>`` (value ``1``)
- choose-1: one radio group ``keuze`` (value: the project id)
- cumulative: number input ``punten-<id>``
- ranked: select ``rang-<id>`` (empty, or 1 … number of projects)

A blank ballot is its own button (``actie=blanco``), not a field that could clash with choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from burgerbegroting.i18n import _, format_money
from burgerbegroting.voting.booths import Booth, BoothProject

MAX_POINTS_DIGITS = 6
ACTIONS = frozenset({"bijwerken", "controleren", "blanco"})
FILTER_FIELDS = frozenset({"thema", "wijk"})
LIST_ID = "projecten"  # the fieldset with the choices: target of list-wide error links


class BoothInputError(Exception):
    """Input the form controls could not have produced (letters in a points box, a rank twice):
    ``fields`` maps input ids to Dutch messages. The ballot rules themselves are checked later."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = dict(fields)


def field_name(booth: Booth, project_id: int) -> str:
    """The form field of one project (choose-1 shares the ``keuze`` group)."""
    prefix = {"cumulative": "punten-", "ranked": "rang-", "choose-1": "keuze-"}.get(
        booth.ballot_type, "p-"
    )
    return f"{prefix}{project_id}"


def accepts(booth: Booth) -> frozenset[str]:
    """Every field name the booth form may send."""
    names = {"actie", *FILTER_FIELDS}
    if booth.ballot_type == "choose-1":
        names.add("keuze")
    else:
        names |= {field_name(booth, p.id) for p in booth.projects}
    return frozenset(names)


def _int_or_none(text: str, *, digits: int = 10) -> int | None:
    value = text.strip()
    if not value or not value.isascii() or not value.isdigit() or len(value) > digits:
        return None
    return int(value)


def raw_from_form(booth: Booth, form: Mapping[str, str]) -> dict[str, Any]:
    """The API's ballot shape (``{"projects": …}``, ``{"points": …}``, ``{"ranking": …}``) for
    the posted choices; ``BoothInputError`` for input no control of the form produces."""
    kind = booth.ballot_type
    ids = [p.id for p in booth.projects]
    errors: dict[str, str] = {}
    if kind == "choose-1":
        text = form.get("keuze", "").strip()
        if not text:
            return {"projects": []}
        chosen = _int_or_none(text)
        if chosen is None or chosen not in ids:
            raise BoothInputError({LIST_ID: _("Kies een project uit de lijst.")})
        return {"projects": [chosen]}
    if kind == "cumulative":
        points: dict[str, int] = {}
        for pid in ids:
            name = field_name(booth, pid)
            text = form.get(name, "").strip()
            if not text:
                continue
            value = _int_or_none(text, digits=MAX_POINTS_DIGITS)
            if value is None:
                errors[name] = _("Vul een heel aantal punten in: 0 of meer.")
            elif value > 0:
                points[str(pid)] = value
        if errors:
            raise BoothInputError(errors)
        return {"points": points}
    if kind == "ranked":
        ranks: dict[int, int] = {}
        for pid in ids:
            name = field_name(booth, pid)
            text = form.get(name, "").strip()
            if not text:
                continue
            rank = _int_or_none(text)
            if rank is None or not 1 <= rank <= len(ids):
                errors[name] = _("Kies een plaats uit de lijst.")
            elif rank in ranks.values():
                errors[name] = _(
                    "Plaats %(rank)s heeft u al aan een ander project gegeven.", rank=rank
                )
            else:
                ranks[pid] = rank
        if errors:
            raise BoothInputError(errors)
        return {"ranking": sorted(ranks, key=ranks.__getitem__)}
    chosen_ids: list[int] = []
    for pid in ids:
        name = field_name(booth, pid)
        text = form.get(name, "")
        if text in {"1", "on"}:
            chosen_ids.append(pid)
        elif text:
            errors[name] = _("Kies een project uit de lijst.")
    if errors:
        raise BoothInputError(errors)
    return {"projects": chosen_ids}


@dataclass(frozen=True, slots=True)
class Choices:
    """What the voter has chosen so far: checked projects, points, places, or a blank ballot."""

    projects: frozenset[int]
    points: Mapping[int, int]
    ranks: Mapping[int, int]
    blank: bool

    def value_for(self, booth: Booth, project_id: int) -> str:
        """The form value the project's control shows ('' when not chosen)."""
        if booth.ballot_type == "cumulative":
            return str(self.points.get(project_id, "")) if project_id in self.points else ""
        if booth.ballot_type == "ranked":
            return str(self.ranks[project_id]) if project_id in self.ranks else ""
        return "1" if project_id in self.projects else ""


def choices_of(content: Mapping[str, Any] | None) -> Choices:
    """The choices in a draft, a canonical ballot or a posted raw ballot (tolerant: a draft is
    whatever the voter last sent, so unknown shapes read as nothing chosen)."""
    content = content or {}
    projects: set[int] = set()
    points: dict[int, int] = {}
    ranks: dict[int, int] = {}
    raw_projects = content.get("projects")
    if isinstance(raw_projects, list):
        projects = {p for p in raw_projects if isinstance(p, int) and not isinstance(p, bool)}
    raw_points = content.get("points")
    if isinstance(raw_points, Mapping):
        for key, value in raw_points.items():
            if str(key).isdigit() and isinstance(value, int) and not isinstance(value, bool):
                points[int(str(key))] = value
        projects = {pid for pid, value in points.items() if value > 0}
    raw_ranking = content.get("ranking")
    if isinstance(raw_ranking, list):
        for place, pid in enumerate(raw_ranking, start=1):
            if isinstance(pid, int) and not isinstance(pid, bool) and pid not in ranks:
                ranks[pid] = place
        projects = set(ranks)
    return Choices(frozenset(projects), points, ranks, content.get("blank") is True)


@dataclass(frozen=True, slots=True)
class Meter:
    """The budget meter's figures and its sentence (also what the live region announces)."""

    chosen: int
    total_cents: int
    budget_cents: int
    points_used: int
    points_max: int
    over: bool
    text: str


def meter(booth: Booth, choices: Choices) -> Meter:
    """What the voter's choices add up to, in one Dutch sentence per ballot type."""
    costs = {p.id: p.cost_cents for p in booth.projects}
    chosen = [pid for pid in sorted(choices.projects) if pid in costs]
    total = sum(costs[pid] for pid in chosen)
    used = sum(v for pid, v in choices.points.items() if pid in costs)
    limit = booth.cumulative_points or 0
    kind = booth.ballot_type
    over = False
    if choices.blank:
        text = _("U heeft gekozen voor een blanco stem.")
    elif kind == "knapsack":
        over = total > booth.budget_cents
        if over:
            text = _(
                "Gekozen: %(total)s van %(budget)s. Dat is %(over)s te veel.",
                total=format_money(total),
                budget=format_money(booth.budget_cents),
                over=format_money(total - booth.budget_cents),
            )
        else:
            text = _(
                "Gekozen: %(total)s van %(budget)s. Nog te verdelen: %(left)s.",
                total=format_money(total),
                budget=format_money(booth.budget_cents),
                left=format_money(booth.budget_cents - total),
            )
    elif kind == "approval" and booth.approval_max_k is not None:
        over = len(chosen) > booth.approval_max_k
        text = _(
            "%(chosen)s van %(max)s projecten gekozen.",
            chosen=len(chosen),
            max=booth.approval_max_k,
        )
    elif kind == "cumulative":
        over = used > limit
        if over:
            text = _(
                "%(used)s van %(max)s punten verdeeld: %(over)s punten te veel.",
                used=used,
                max=limit,
                over=used - limit,
            )
        else:
            text = _(
                "%(used)s van %(max)s punten verdeeld. Nog te verdelen: %(left)s punten.",
                used=used,
                max=limit,
                left=limit - used,
            )
    elif kind == "ranked":
        text = _("%(chosen)s projecten hebben een plaats gekregen.", chosen=len(choices.ranks))
    elif kind == "choose-1":
        names = [p.title for p in booth.projects if p.id in choices.projects]
        text = (
            _("Gekozen: %(title)s.", title=names[0])
            if len(names) == 1
            else _("Nog geen project gekozen.")
        )
    else:
        text = _("%(chosen)s projecten gekozen.", chosen=len(chosen))
    return Meter(len(chosen), total, booth.budget_cents, used, limit, over, text)


def rules_text(booth: Booth, theme_names: Mapping[int, str]) -> list[str]:
    """The round's ballot rules as short Dutch sentences, in the order a voter needs them."""
    kind = booth.ballot_type
    lines: list[str] = []
    if kind == "knapsack":
        lines.append(
            _(
                "Kies de projecten die u wilt. Samen mogen ze niet meer kosten dan het budget "
                "van %(budget)s.",
                budget=format_money(booth.budget_cents),
            )
        )
        if booth.min_budget_share_permille:
            lines.append(
                _(
                    "Gebruik minstens %(share)s procent van het budget.",
                    share=f"{booth.min_budget_share_permille / 10:g}".replace(".", ","),
                )
            )
    elif kind == "approval":
        if booth.approval_max_k is not None:
            lines.append(
                _("Kies de projecten die u steunt, hoogstens %(max)s.", max=booth.approval_max_k)
            )
        else:
            lines.append(_("Kies alle projecten die u steunt."))
    elif kind == "choose-1":
        lines.append(_("Kies het ene project dat u het belangrijkst vindt."))
    elif kind == "cumulative":
        lines.append(
            _(
                "Verdeel %(points)s punten over de projecten. U mag alle punten aan één project "
                "geven of ze spreiden.",
                points=booth.cumulative_points or 0,
            )
        )
    elif kind == "ranked":
        lines.append(
            _(
                "Geef de projecten een plaats: 1 is uw eerste keus. U hoeft niet elk project een "
                "plaats te geven."
            )
        )
    if booth.min_projects > 1:
        lines.append(_("Kies minstens %(min)s projecten.", min=booth.min_projects))
    if booth.max_projects is not None and kind != "choose-1":
        lines.append(_("Kies hoogstens %(max)s projecten.", max=booth.max_projects))
    for theme_id, cap in sorted(booth.theme_caps.items()):
        if kind == "knapsack" and theme_id in theme_names:
            lines.append(
                _(
                    "Voor het thema %(theme)s kiest u samen hoogstens %(cap)s.",
                    theme=theme_names[theme_id],
                    cap=format_money(cap),
                )
            )
    if booth.blank_allowed:
        lines.append(_("U mag ook blanco stemmen: dan telt u mee voor de opkomst."))
    lines.append(
        _(
            "U kunt opnieuw stemmen zolang het stemmen open is. Alleen uw laatste stem telt, "
            "ook als dat een stem op papier is."
        )
    )
    return lines


def visible(project: BoothProject, theme: str, district: str) -> bool:
    """Whether the filters (theme id, district id or ``stad``; '' for all) show ``project``."""
    if theme and str(project.theme_id or "") != theme:
        return False
    if district == "stad":
        return project.district_id is None
    return not district or str(project.district_id or "") == district


def error_id(booth: Booth, pointer: str) -> str:
    """The id of the input a ballot rule's JSON pointer is about (``/points/12`` → ``punten-12``);
    rules about the whole ballot point at the list of projects."""
    parts = pointer.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "points" and parts[1].isdigit():
        pid = int(parts[1])
        if any(p.id == pid for p in booth.projects):
            return field_name(booth, pid)
    return LIST_ID


def meter_templates(booth: Booth) -> dict[str, str]:
    """The meter's sentences with ``{placeholders}`` for ``booth.js``, which keeps the meter live
    in the page's language without a catalogue of its own (same messages as :func:`meter`)."""
    kind = booth.ballot_type
    if kind == "knapsack":
        return {
            "ok": _(
                "Gekozen: %(total)s van %(budget)s. Nog te verdelen: %(left)s.",
                total="{total}",
                budget="{budget}",
                left="{left}",
            ),
            "over": _(
                "Gekozen: %(total)s van %(budget)s. Dat is %(over)s te veel.",
                total="{total}",
                budget="{budget}",
                over="{over}",
            ),
        }
    if kind == "approval" and booth.approval_max_k is not None:
        return {
            "ok": _("%(chosen)s van %(max)s projecten gekozen.", chosen="{chosen}", max="{max}")
        }
    if kind == "cumulative":
        return {
            "ok": _(
                "%(used)s van %(max)s punten verdeeld. Nog te verdelen: %(left)s punten.",
                used="{used}",
                max="{max}",
                left="{left}",
            ),
            "over": _(
                "%(used)s van %(max)s punten verdeeld: %(over)s punten te veel.",
                used="{used}",
                max="{max}",
                over="{over}",
            ),
        }
    if kind == "ranked":
        return {"ok": _("%(chosen)s projecten hebben een plaats gekregen.", chosen="{chosen}")}
    if kind == "choose-1":
        return {
            "ok": _("Gekozen: %(title)s.", title="{title}"),
            "none": _("Nog geen project gekozen."),
        }
    return {"ok": _("%(chosen)s projecten gekozen.", chosen="{chosen}")}
