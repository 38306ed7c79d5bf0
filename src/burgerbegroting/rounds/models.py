"""Rounds, their districts and themes.

A round carries every setting the count depends on. Most invariants are database constraints
(positive budgets, known enum values, sane ranges) so that no code path can store a round the
count could not handle; the rules that span several rows (district budgets adding up to the total,
dates in order) are checked in ``rounds.service`` with field-level Dutch messages.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from burgerbegroting.db import Base, UTCDateTime, utcnow

# A billion euro in cents: far above any municipal social-domain budget, far below int64 limits.
MAX_BUDGET_CENTS = 100_000_000_000
TITLE_MAX_LENGTH = 200
NAME_MAX_LENGTH = 100


class Phase(StrEnum):
    """Where a round stands; it only ever moves forward, one step at a time."""

    DRAFT = "draft"
    SUBMISSION = "submission"
    REVIEW = "review"
    VOTING = "voting"
    CLOSED = "closed"
    PUBLISHED = "published"


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)


class BudgetScope(StrEnum):
    """One city-wide budget, or a budget per district that adds up to the total."""

    CITY = "city"
    DISTRICTS = "districts"


class BallotType(StrEnum):
    KNAPSACK = "knapsack"
    APPROVAL = "approval"
    CUMULATIVE = "cumulative"
    CHOOSE_ONE = "choose-1"
    RANKED = "ranked"


class CountingRule(StrEnum):
    """The names of the rules in ``voting.tally``."""

    GREEDY = "greedy"
    MES = "mes"
    MES_ADD1 = "mes-add1"
    MES_ADD1_EXHAUSTIVE = "mes-add1-exhaustive"
    MES_ADD1_GREEDY = "mes-add1-greedy"
    PHRAGMEN = "phragmen"


class TieBreak(StrEnum):
    LOWEST_COST = "lowest-cost"
    LEXICOGRAPHIC = "lexicographic"
    EXPLICIT = "explicit"


class Leftover(StrEnum):
    """What greedy with theme caps does with money the caps left unspent."""

    KEEP = "keep"
    FUND_BY_SCORE = "fund-by-score"


SEED_MAX_LENGTH = 200
RANKED_SCORES_MAX_LENGTH = 100


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


class Round(Base):
    """One budget cycle (begrotingsronde)."""

    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint(_in("phase", Phase), name="phase_known"),
        CheckConstraint(_in("budget_scope", BudgetScope), name="budget_scope_known"),
        CheckConstraint(_in("ballot_type", BallotType), name="ballot_type_known"),
        CheckConstraint(_in("counting_rule", CountingRule), name="counting_rule_known"),
        CheckConstraint(_in("tie_break", TieBreak), name="tie_break_known"),
        CheckConstraint(_in("leftover", Leftover), name="leftover_known"),
        # Settings only one rule or tie-break reads are empty otherwise, so the frozen definition
        # never carries a setting that does nothing.
        CheckConstraint(
            "counting_rule = 'greedy' OR "
            "(greedy_threshold IS NULL AND NOT greedy_no_skip AND leftover = 'keep')",
            name="greedy_options_greedy_only",
        ),
        CheckConstraint(
            "greedy_threshold IS NULL OR greedy_threshold >= 1", name="greedy_threshold_positive"
        ),
        CheckConstraint(
            "tie_break_seed IS NULL OR (tie_break = 'lowest-cost' AND length(tie_break_seed) > 0)",
            name="seed_lowest_cost_only",
        ),
        CheckConstraint(
            "tie_break_order IS NULL OR tie_break = 'explicit'", name="order_explicit_only"
        ),
        CheckConstraint(
            "ranked_scores IS NULL OR (ballot_type = 'ranked' AND counting_rule = 'greedy')",
            name="ranked_scores_ranked_greedy_only",
        ),
        CheckConstraint(
            f"total_budget_cents > 0 AND total_budget_cents <= {MAX_BUDGET_CENTS}",
            name="total_budget_range",
        ),
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        CheckConstraint("min_projects >= 0", name="min_projects_nonnegative"),
        CheckConstraint(
            "max_projects IS NULL OR max_projects >= min_projects", name="max_projects_ge_min"
        ),
        CheckConstraint(
            "min_budget_share_permille >= 0 AND min_budget_share_permille <= 1000",
            name="min_budget_share_range",
        ),
        CheckConstraint(
            "approval_max_k IS NULL OR approval_max_k >= 1", name="approval_k_positive"
        ),
        CheckConstraint(
            "ballot_type <> 'approval' OR approval_max_k IS NOT NULL", name="approval_has_k"
        ),
        CheckConstraint(
            "cumulative_points IS NULL OR cumulative_points >= 1", name="cumulative_points_positive"
        ),
        CheckConstraint(
            "ballot_type <> 'cumulative' OR cumulative_points IS NOT NULL",
            name="cumulative_has_points",
        ),
        CheckConstraint(
            "min_age IS NULL OR (min_age >= 0 AND min_age <= 120)", name="min_age_range"
        ),
        CheckConstraint("vote_by_code OR vote_by_account", name="some_voting_method"),
        CheckConstraint(
            "support_threshold IS NULL OR support_threshold >= 0", name="support_threshold_range"
        ),
        # Frozen means fingerprinted: the two are set together, once, when voting opens.
        CheckConstraint(
            "(frozen_at IS NULL) = (fingerprint IS NULL)", name="frozen_has_fingerprint"
        ),
        CheckConstraint(
            "phase IN ('draft', 'submission', 'review') OR frozen_at IS NOT NULL",
            name="voting_is_frozen",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    phase: Mapped[str] = mapped_column(String(20), default=Phase.DRAFT.value, index=True)
    phase_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    total_budget_cents: Mapped[int] = mapped_column(BigInteger)
    budget_scope: Mapped[str] = mapped_column(String(20), default=BudgetScope.CITY.value)

    # Phase schedule: the moment each phase starts. NULL: that move is made by hand only.
    submission_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voting_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ballot_type: Mapped[str] = mapped_column(String(20), default=BallotType.KNAPSACK.value)
    approval_max_k: Mapped[int | None] = mapped_column(Integer)
    cumulative_points: Mapped[int | None] = mapped_column(Integer)
    min_projects: Mapped[int] = mapped_column(Integer, default=0)
    max_projects: Mapped[int | None] = mapped_column(Integer)
    # Minimum share of the budget a (knapsack) ballot must use, in per-mille: exact integers.
    min_budget_share_permille: Mapped[int] = mapped_column(Integer, default=0)
    blank_ballot_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    counting_rule: Mapped[str] = mapped_column(String(30), default=CountingRule.GREEDY.value)
    tie_break: Mapped[str] = mapped_column(String(20), default=TieBreak.LOWEST_COST.value)
    # The published seed of the lot (lowest-cost only); NULL: the engine's default, the
    # election's fingerprint.
    tie_break_seed: Mapped[str | None] = mapped_column(String(SEED_MAX_LENGTH))
    # explicit only: JSON list of the ids of all accepted projects, highest priority first.
    tie_break_order: Mapped[str | None] = mapped_column(Text)
    # greedy only: the minimum score a project needs, and "stop at the first that does not fit".
    greedy_threshold: Mapped[int | None] = mapped_column(Integer)
    greedy_no_skip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # greedy with theme caps only: fund further projects by score, ignoring the caps (Amsterdam).
    leftover: Mapped[str] = mapped_column(
        String(20), default=Leftover.KEEP.value, server_default=text("'keep'")
    )
    # ranked ballots with greedy only: NULL is Borda (m, m-1, ...), else "3,2,1" (Krakow).
    ranked_scores: Mapped[str | None] = mapped_column(String(RANKED_SCORES_MAX_LENGTH))
    # The audit export becomes public after publication; not part of the count.
    export_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    min_age: Mapped[int | None] = mapped_column(Integer)
    vote_by_code: Mapped[bool] = mapped_column(Boolean, default=True)
    vote_by_account: Mapped[bool] = mapped_column(Boolean, default=False)

    supports_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    support_threshold: Mapped[int | None] = mapped_column(Integer)

    # Set once when voting opens: the canonical JSON of everything that affects the count and
    # its SHA-256. Never changed afterwards: the service refuses (rounds.validation), and so do
    # the database's triggers (migration 0005), for this row, its districts and themes, and the
    # accepted proposals.
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    frozen_definition: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    districts: Mapped[list[District]] = relationship(
        back_populates="round",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="District.position, District.id",
    )
    themes: Mapped[list[Theme]] = relationship(
        back_populates="round",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Theme.position, Theme.id",
    )

    @property
    def phase_enum(self) -> Phase:
        return Phase(self.phase)

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class District(Base):
    """A district (wijk) of a round: where proposals are located and who may vote, and in
    ``districts`` budget scope its own share of the budget."""

    __tablename__ = "districts"
    __table_args__ = (
        UniqueConstraint("round_id", "name"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint(
            f"budget_cents IS NULL OR (budget_cents > 0 AND budget_cents <= {MAX_BUDGET_CENTS})",
            name="budget_range",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    budget_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Residents of this district may vote (eligibility by district).
    eligible: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    round: Mapped[Round] = relationship(back_populates="districts", lazy="raise")


class Theme(Base):
    """A social-domain theme of a round, with an optional cap on what winning projects in it
    may cost together."""

    __tablename__ = "themes"
    __table_args__ = (
        UniqueConstraint("round_id", "name"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint(
            f"max_spend_cents IS NULL OR (max_spend_cents > 0 AND max_spend_cents <= "
            f"{MAX_BUDGET_CENTS})",
            name="max_spend_range",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    max_spend_cents: Mapped[int | None] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer, default=0)

    round: Mapped[Round] = relationship(back_populates="themes", lazy="raise")
