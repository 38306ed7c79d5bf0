"""Imports every feature's models so ``Base.metadata`` is complete (Alembic, tests)."""

import burgerbegroting.accounts.models  # noqa: F401
import burgerbegroting.audit.models  # noqa: F401
import burgerbegroting.proposals.models  # noqa: F401
import burgerbegroting.rounds.models  # noqa: F401
from burgerbegroting.db import Base

__all__ = ["Base"]
