"""Demo data: one account per role and the round "Burgerbegroting Sociaal Domein 2027" in voting.

``load_demo(settings)`` is idempotent: accounts are found by e-mail, the round by its title and
proposals by their title within the round, so a second run adds nothing. Once the round is frozen
(voting opened) its settings and projects are left exactly as they are: changing them would break
the fingerprint, which is the point of freezing. Development only: production refuses, because the
demo passwords are printed and published in the README.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service as accounts
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine, utcnow
from burgerbegroting.proposals.models import (
    AuthorRole,
    Proposal,
    ProposalAuthor,
    ProposalStatus,
    ProposalSupport,
)
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting.cli import demo_codes

ROUND_TITLE = "Burgerbegroting Sociaal Domein 2027"
DISTRICTS = ("Centrum", "Noord", "Oost", "Zuid", "West")
THEMES: tuple[tuple[str, int | None], ...] = (
    ("Eenzaamheid", None),
    ("Dementie", None),
    ("Jongerenparticipatie", None),
    ("Mantelzorg", 12_000_000),  # at most € 120.000 for this theme
    ("Armoede", None),
    ("Schuldhulp", None),
)


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    email: str
    password: str
    name: str


ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        Role.RESIDENT, "inwoner@demo.burgerbegroting.nl", "demo-inwoner-2027", "Sanne de Vries"
    ),
    DemoAccount(
        Role.MODERATOR, "toetser@demo.burgerbegroting.nl", "demo-toetser-2027", "Ahmed El Amrani"
    ),
    DemoAccount(
        Role.ADMIN, "beheerder@demo.burgerbegroting.nl", "demo-beheerder-2027", "Marieke Jansen"
    ),
    DemoAccount(
        Role.COUNCIL, "raadslid@demo.burgerbegroting.nl", "demo-raadslid-2027", "Peter Bakker"
    ),
    DemoAccount(
        Role.AUDITOR, "controleur@demo.burgerbegroting.nl", "demo-controleur-2027", "Els Visser"
    ),
)
# Further residents who wrote proposals (they share the resident demo password).
AUTHORS: tuple[tuple[str, str], ...] = (
    ("fatima@demo.burgerbegroting.nl", "Fatima Yilmaz"),
    ("henk@demo.burgerbegroting.nl", "Henk Mulder"),
    ("lotte@demo.burgerbegroting.nl", "Lotte Smit"),
)
# Residents who only supported proposals during submission: enough that every proposal that was
# reviewed has reached the round's support threshold (DEMO_THRESHOLD), as the review rule requires.
SUPPORTERS: tuple[tuple[str, str], ...] = tuple(
    (f"buurtbewoner{n:02d}@demo.burgerbegroting.nl", f"Buurtbewoner {n}") for n in range(1, 13)
)
DEMO_THRESHOLD = 5


@dataclass(frozen=True)
class DemoProposal:
    title: str
    theme: str
    district: str | None  # None: city-wide
    cost_euro: int
    status: ProposalStatus
    summary: str
    effect: str
    target_group: str
    reasoning: str = ""
    organisation: str | None = None


A = ProposalStatus.ACCEPTED
PROPOSALS: tuple[DemoProposal, ...] = (
    DemoProposal(
        "Buurtkamer De Ontmoeting",
        "Eenzaamheid",
        "Noord",
        48_500,
        A,
        "Een open huiskamer in het buurthuis, drie ochtenden per week, met koffie en een luisterend oor.",
        "Minder ouderen die zich eenzaam voelen; meer contact tussen buren.",
        "Ouderen en alleenstaanden in Noord",
        "Uitvoerbaar in het bestaande buurthuis; kosten voor begeleiding en inrichting voor twee jaar.",
    ),
    DemoProposal(
        "Maatjesproject Samen op Pad",
        "Eenzaamheid",
        None,
        62_000,
        A,
        "Vrijwillige maatjes die een jaar lang wekelijks op pad gaan met iemand die weinig mensen kent.",
        "Duurzame contacten voor geïsoleerde inwoners.",
        "Inwoners met een klein netwerk",
        "Uitvoerbaar met de vrijwilligerscentrale; inclusief werving en training van 60 maatjes.",
        "Stichting Samen Sterk",
    ),
    DemoProposal(
        "Ontmoetingscafé voor mensen met dementie",
        "Dementie",
        "Oost",
        18_750,
        A,
        "Maandelijks café voor mensen met dementie en hun naasten, met uitleg van een casemanager.",
        "Meer kennis en minder isolement bij de diagnose dementie.",
        "Mensen met dementie en hun mantelzorgers",
        "Uitvoerbaar; aansluiting bij het landelijke Alzheimer Café-concept.",
    ),
    DemoProposal(
        "Dementievriendelijk Centrum",
        "Dementie",
        "Centrum",
        34_000,
        A,
        "Training voor winkeliers, buschauffeurs en baliemedewerkers om mensen met dementie te herkennen en te helpen.",
        "Mensen met dementie kunnen langer zelfstandig boodschappen doen.",
        "Winkeliers en dienstverleners in het centrum",
        "Uitvoerbaar; de gemeente schat hogere kosten dan de indiener door extra trainingsrondes.",
    ),
    DemoProposal(
        "Jongerenraad Zuid",
        "Jongerenparticipatie",
        "Zuid",
        22_000,
        A,
        "Een jongerenraad die twee keer per jaar een eigen buurtbudget verdeelt en de wethouder adviseert.",
        "Jongeren hebben aantoonbaar invloed op hun wijk.",
        "Jongeren van 12 tot 23 jaar in Zuid",
        "Uitvoerbaar; begeleiding door het jongerenwerk.",
    ),
    DemoProposal(
        "Skatebaan ontworpen door jongeren",
        "Jongerenparticipatie",
        "West",
        95_000,
        A,
        "Jongeren ontwerpen samen met een landschapsarchitect een skatebaan bij het sportpark.",
        "Een plek van en voor jongeren; minder overlast op pleinen.",
        "Jongeren in West",
        "Uitvoerbaar op de gemeentelijke grond bij het sportpark; inclusief onderhoud voor vijf jaar.",
    ),
    DemoProposal(
        "Respijtweekenden voor mantelzorgers",
        "Mantelzorg",
        None,
        76_000,
        A,
        "Weekenden waarin vrijwilligers de zorg overnemen zodat mantelzorgers even op adem komen.",
        "Minder overbelaste mantelzorgers.",
        "Mantelzorgers die langdurig intensief zorgen",
        "Uitvoerbaar met de steunpunt-mantelzorgorganisatie; 80 weekenden per jaar.",
    ),
    DemoProposal(
        "Mantelzorgcafé Noord",
        "Mantelzorg",
        "Noord",
        14_500,
        A,
        "Een maandelijkse bijeenkomst met lotgenoten en informatie over respijtzorg en regelingen.",
        "Mantelzorgers weten de weg naar ondersteuning.",
        "Mantelzorgers in Noord",
        "Uitvoerbaar.",
    ),
    DemoProposal(
        "Kledingbank en schoolspullen voor kinderen",
        "Armoede",
        "Oost",
        39_000,
        A,
        "Gratis sportkleding, schooltassen en laptops in bruikleen voor kinderen uit gezinnen met weinig geld.",
        "Kinderen doen mee op school en bij de sportclub, ongeacht het inkomen van hun ouders.",
        "Kinderen in gezinnen rond het sociaal minimum",
        "Uitvoerbaar; aanvullend op het bestaande kindpakket.",
        "Stichting Kansrijk Oost",
    ),
    DemoProposal(
        "Repair Café en kledingruil West",
        "Armoede",
        "West",
        9_800,
        A,
        "Elke zaterdag repareren vrijwilligers kapotte spullen en is er een kledingruil.",
        "Lagere kosten voor huishoudens en minder afval.",
        "Huishoudens met een krappe beurs in West",
        "Uitvoerbaar in het wijkcentrum.",
    ),
    DemoProposal(
        "Schuldhulpmaatjes: vroeg erbij",
        "Schuldhulp",
        None,
        58_000,
        A,
        "Getrainde vrijwilligers helpen bij de eerste betalingsachterstanden, voordat schulden oplopen.",
        "Minder problematische schulden en minder huisuitzettingen.",
        "Inwoners met beginnende geldzorgen",
        "Uitvoerbaar; samenwerking met de gemeentelijke schuldhulpverlening.",
    ),
    DemoProposal(
        "Formulierenspreekuur in de bibliotheek",
        "Schuldhulp",
        "Centrum",
        21_500,
        A,
        "Wekelijks spreekuur waar vrijwilligers helpen met toeslagen, belastingaangifte en brieven.",
        "Inwoners krijgen de toeslagen waar ze recht op hebben.",
        "Inwoners die moeite hebben met formulieren en digitale overheid",
        "Uitvoerbaar in de centrale bibliotheek.",
    ),
    DemoProposal(
        "Warme maaltijd op woensdag",
        "Eenzaamheid",
        "Zuid",
        31_000,
        A,
        "Een wekelijkse gezamenlijke maaltijd voor € 3, gekookt door buurtbewoners.",
        "Gezonde maaltijden en nieuwe contacten.",
        "Alleenstaande ouderen en gezinnen in Zuid",
        "Uitvoerbaar; kosten voor keukeninrichting en twee jaar boodschappen.",
    ),
    DemoProposal(
        "Gratis parkeren bij het zorgcentrum",
        "Mantelzorg",
        "Centrum",
        120_000,
        ProposalStatus.REJECTED,
        "Bezoekers van het zorgcentrum parkeren gratis.",
        "Mantelzorgers besparen parkeerkosten.",
        "Bezoekers van het zorgcentrum",
        "Afgewezen: parkeertarieven vallen buiten het sociaal domein en dit budget.",
    ),
    DemoProposal(
        "Nieuw zwembad in Oost",
        "Jongerenparticipatie",
        "Oost",
        2_400_000,
        ProposalStatus.REJECTED,
        "Een overdekt zwembad met een jongerenavond.",
        "Jongeren bewegen meer.",
        "Jongeren in Oost",
        "Afgewezen: de kosten zijn vele malen hoger dan het hele budget van deze ronde.",
    ),
    DemoProposal(
        "Huiswerkbegeleiding door studenten",
        "Jongerenparticipatie",
        "Zuid",
        27_000,
        # Decided before voting opened: a round whose proposals are still in review cannot open.
        A,
        "Studenten geven twee middagen per week huiswerkbegeleiding in het buurthuis.",
        "Betere schoolresultaten en rolmodellen dichtbij.",
        "Scholieren van 10 tot 16 jaar in Zuid",
        "Uitvoerbaar met de hogeschool; kosten voor begeleiding en een vrijwilligersvergoeding.",
    ),
)


def load_demo(settings: Settings) -> int:
    """Load the demo data into ``settings.database_url`` (already migrated); exit status."""
    if settings.is_production:
        print(
            "Demogegevens worden niet geladen in productie (BB_ENV=production): de "
            "demowachtwoorden zijn openbaar.",
            file=sys.stderr,
        )
        return 2
    summary = asyncio.run(_load(settings))
    print(summary)
    print(demo_codes(settings, ROUND_TITLE))
    return 0


async def _load(settings: Settings) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            users = await _ensure_accounts(session)
            await session.commit()
            round_id = await _ensure_round(session, users)
            await session.commit()
            round_ = await rounds.get_round(session, round_id)
            return _summary(settings, round_)
    finally:
        await engine.dispose()


async def _ensure_user(
    session: AsyncSession, email: str, password: str, name: str, role: Role
) -> int:
    existing = await session.execute(select(User.id).where(User.email == email))
    user_id = existing.scalar_one_or_none()
    if user_id is not None:
        return user_id
    user = await accounts.create_user(
        session, email=email, password=password, display_name=name, roles={role}, confirmed=True
    )
    return user.id


async def _ensure_accounts(session: AsyncSession) -> dict[str, int]:
    users: dict[str, int] = {}
    for account in ACCOUNTS:
        users[account.role.value] = await _ensure_user(
            session, account.email, account.password, account.name, account.role
        )
    resident_password = ACCOUNTS[0].password
    for email, name in (*AUTHORS, *SUPPORTERS):
        users[email] = await _ensure_user(session, email, resident_password, name, Role.RESIDENT)
    return users


async def _ensure_round(session: AsyncSession, users: dict[str, int]) -> int:
    found = await session.execute(
        select(Round.id).where(Round.title == ROUND_TITLE).order_by(Round.id).limit(1)
    )
    round_id = found.scalar_one_or_none()
    admin = users[Role.ADMIN.value]
    if round_id is None:
        now = utcnow().replace(second=0, microsecond=0)
        round_ = await rounds.create_round(
            session,
            {
                "title": ROUND_TITLE,
                "description": (
                    "Inwoners van 12 jaar en ouder verdelen € 450.000 uit de begroting voor het "
                    "sociaal domein over plannen tegen eenzaamheid en armoede, voor mensen met "
                    "dementie, mantelzorgers, jongeren en mensen met geldzorgen."
                ),
                "total_budget_cents": 45_000_000,
                "budget_scope": "city",
                "districts": [{"name": name} for name in DISTRICTS],
                "themes": [{"name": name, "max_spend_cents": cap} for name, cap in THEMES],
                "submission_starts_at": now - timedelta(days=70),
                "review_starts_at": now - timedelta(days=35),
                "voting_starts_at": now - timedelta(days=1),
                "closed_starts_at": now + timedelta(days=21),
                "published_starts_at": now + timedelta(days=28),
                "ballot_type": "knapsack",
                "min_projects": 1,
                "counting_rule": "greedy",
                "tie_break": "lowest-cost",
                "min_age": 12,
                "vote_by_code": True,
                "vote_by_account": True,
                "supports_enabled": True,
                "support_threshold": DEMO_THRESHOLD,
            },
            actor_id=admin,
        )
        round_id = round_.id
    round_ = await rounds.get_round(session, round_id)
    if not round_.is_frozen:
        await _ensure_proposals(session, round_, users)
        reasons = {
            Phase.SUBMISSION: "Demo: indienen geopend",
            Phase.REVIEW: "Demo: indientermijn voorbij, toetsing gestart",
            Phase.VOTING: "Demo: toetsing afgerond, stemmen geopend",
        }
        while round_.phase in {Phase.DRAFT, Phase.SUBMISSION, Phase.REVIEW}:
            target = rounds.next_phase(Phase(round_.phase))
            assert target is not None  # draft/submission/review always have a next phase
            # Each move happens at its scheduled start, so the schedule, the phase times and the
            # moment of freezing (frozen_at) tell the same story.
            at = getattr(round_, rounds.SCHEDULE_FIELD_FOR[target]) or utcnow()
            round_ = await rounds.move_phase(
                session, round_id, target, actor_id=admin, reason=reasons[target], now=at
            )
    return round_id


async def _ensure_proposals(session: AsyncSession, round_: Round, users: dict[str, int]) -> None:
    themes = {t.name: t.id for t in round_.themes}
    districts = {d.name: d.id for d in round_.districts}
    existing = set(
        (await session.execute(select(Proposal.title).where(Proposal.round_id == round_.id)))
        .scalars()
        .all()
    )
    authors = [users[Role.RESIDENT.value], *(users[email] for email, _ in AUTHORS)]
    residents = [*authors, *(users[email] for email, _ in SUPPORTERS)]
    moderator = users[Role.MODERATOR.value]
    now = utcnow()
    for index, item in enumerate(PROPOSALS):
        if item.title in existing:
            continue
        cost = item.cost_euro * 100
        reviewed = item.status in {ProposalStatus.ACCEPTED, ProposalStatus.REJECTED}
        proposal = Proposal(
            round_id=round_.id,
            theme_id=themes[item.theme],
            district_id=districts[item.district] if item.district else None,
            author_id=authors[index % len(authors)],
            status=item.status.value,
            title=item.title,
            summary=item.summary,
            description=item.summary,
            societal_effect=item.effect,
            target_group=item.target_group,
            organisation_name=item.organisation,
            # The resident's own estimate is a little lower than the municipality's, as usual.
            estimated_cost_cents=cost
            - (cost // 10 if item.status == ProposalStatus.ACCEPTED else 0),
            municipal_cost_cents=cost if item.status == ProposalStatus.ACCEPTED else None,
            feasibility_notes=item.reasoning or None,
            public_reasoning=item.reasoning or None,
            reviewed_by_id=moderator if reviewed else None,
            # Decided a few days before voting opened (a day ago, see the schedule).
            reviewed_at=now - timedelta(days=3) if reviewed else None,
            submitted_at=now - timedelta(days=40),
        )
        session.add(proposal)
        await session.flush()
        session.add(
            ProposalAuthor(
                proposal_id=proposal.id, user_id=proposal.author_id, role=AuthorRole.AUTHOR.value
            )
        )
        # Between the threshold and a dozen supports, never from the author.
        others = [r for r in residents if r != proposal.author_id]
        wanted = DEMO_THRESHOLD + (index * 5) % 8
        start = index % len(others)
        for offset in range(wanted):
            supporter = others[(start + offset) % len(others)]
            session.add(ProposalSupport(proposal_id=proposal.id, user_id=supporter))
    await session.flush()


def _summary(settings: Settings, round_: Round) -> str:
    lines = [
        f"Demogegevens geladen: ronde '{round_.title}' (nr. {round_.id}), fase: {round_.phase}.",
        f"Vingerafdruk (SHA-256) van de bevroren ronde: {round_.fingerprint}",
        "",
        "Demo-accounts (alleen voor ontwikkeling!):",
    ]
    for account in ACCOUNTS:
        lines.append(f"  {account.role.value:<10} {account.email:<40} {account.password}")
    base = settings.base_url.rstrip("/")
    lines.append(f"Inloggen op {base}/inloggen")
    # The issue: the demo can be closed and shows results. Say where, so nobody has to look.
    if round_.phase == Phase.VOTING.value:
        lines.append(
            "Uitslag zien: stem met de codes hieronder, log in als beheerder en sluit de ronde op "
            f"{base}/beheer/rondes/{round_.id}/fase; daarna staat de uitslag op "
            f"{base}/rondes/{round_.id}/uitslag."
        )
    elif round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        lines.append(f"Uitslag: {base}/rondes/{round_.id}/uitslag")
    return "\n".join(lines)
