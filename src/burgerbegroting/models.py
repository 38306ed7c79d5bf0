"""Imports every feature's models so ``Base.metadata`` is complete (Alembic, tests)."""

import burgerbegroting.accounts.models
import burgerbegroting.audit.models
import burgerbegroting.proposals.models
import burgerbegroting.results.models
import burgerbegroting.rounds.models
import burgerbegroting.voting.models  # noqa: F401
from burgerbegroting.db import Base

__all__ = ["Base"]
