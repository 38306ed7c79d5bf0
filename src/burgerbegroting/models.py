"""Imports every feature's models so ``Base.metadata`` is complete (Alembic, tests)."""

from burgerbegroting.db import Base

__all__ = ["Base"]
