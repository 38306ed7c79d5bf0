"""Typed dependency aliases for controllers (Litestar 2.23+ wants named dependencies marked)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

DbSession = NamedDependency[AsyncSession]
"""The request-scoped session from the advanced-alchemy plugin; committed when the response is 2xx
(``web/transactions.py``: a failed commit turns the answer into a 503)."""
