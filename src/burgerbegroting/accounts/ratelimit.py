"""Rate limits that every worker shares and a client cannot dodge by dropping cookies.

Keys name what is limited (``login:ip:203.0.113.7``, ``login:email:a@b.nl``, ``code:ip:…``); keys
per client address are built by ``ip_key`` (an IPv6 client counts as its /64 network); they
are stored as SHA-256 digests so the table holds no readable addresses. Counting is a *sliding
window* approximated from two fixed windows (Cloudflare's method): with ``p`` hits in the previous
window, ``c`` in the current one and a fraction ``f`` of the current window elapsed, the estimate is
``p·(1−f) + c``. It is computed in integers (multiplied by the window length), so it is exact, and
it does not allow the double burst a plain fixed window allows at the boundary.

``hit`` counts every attempt, refused ones included: a client that keeps hammering stays refused.
``check`` and ``record`` split it in two for limits on *failures* (login): ``check`` refuses when
the failures already counted reach the limit, ``record`` adds one after a failure. Successes then
cost nothing, so a resident who logs in often is never refused.

The counters live in the database (``rate_limit_hits``), incremented with one atomic
``INSERT … ON CONFLICT … DO UPDATE … RETURNING`` that SQLite (≥ 3.35) and PostgreSQL both run.
One database serves every worker, so the counters are shared without another service;
``RateLimitStore`` is the protocol another store (Redis, say) would implement.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import RateLimitHit
from burgerbegroting.db import utcnow
from burgerbegroting.errors import RateLimited
from burgerbegroting.i18n import _


@dataclass(frozen=True, slots=True)
class Counts:
    """Hits in the previous and the current fixed window, the current one including this hit."""

    previous: int
    current: int


class RateLimitStore(Protocol):
    """Where counters live. ``increment`` must be atomic across processes."""

    async def increment(self, key: str, window_start: int, window: int) -> Counts:
        """Add one hit to ``key`` in the window starting at ``window_start``; return both counts."""
        ...

    async def read(self, key: str, window_start: int, window: int) -> Counts:
        """The counts of ``key`` for the window starting at ``window_start`` and the one before."""
        ...

    async def decrement(self, key: str, window_start: int) -> None:
        """Take one hit off ``key`` in the window starting at ``window_start`` (never below 0)."""
        ...


IPV6_PREFIX = 64


def client_network(client_ip: str) -> str:
    """What counts as one client for a per-address limit.

    An IPv4 address is itself. An IPv6 address counts as its /64 network: that is what one home
    connection or one phone is given, so keying on the full address would give a single client
    2⁶⁴ separate limits. An IPv4-mapped IPv6 address (``::ffff:203.0.113.7``, as a dual-stack
    socket reports IPv4 clients) is the IPv4 address it carries. Anything that is not an address
    (``"unknown"`` from a test transport) is kept as it is.
    """
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def ip_key(scope: str, client_ip: str) -> str:
    """The key of the per-address limit ``scope`` (``login:fail``, ``code``, …) for ``client_ip``:
    ``login:fail:ip:203.0.113.7``, ``code:ip:2001:db8:1:2::/64``. Every per-address limit builds
    its key here, so none can key on a different notion of "the client"."""
    return f"{scope}:ip:{client_network(client_ip)}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class DatabaseRateLimitStore:
    """Counters in ``rate_limit_hits`` through the given session.

    ``increment`` **commits** the session: an attempt must stay counted when the request it belongs
    to fails and rolls back (a wrong password is exactly that case). Call it before any other
    write in the request.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def increment(self, key: str, window_start: int, window: int) -> Counts:
        digest = _digest(key)
        now = utcnow()
        # Rows older than two windows no longer count; deleting them here keeps the table small
        # without a scheduler.
        await self.session.execute(delete(RateLimitHit).where(RateLimitHit.expires_at < now))
        values = {
            "key": digest,
            "window_start": window_start,
            "count": 1,
            "expires_at": datetime.fromtimestamp(window_start, UTC) + timedelta(seconds=2 * window),
        }
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(RateLimitHit)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["key", "window_start"],
                set_={"count": RateLimitHit.count + 1},
            )
            .returning(RateLimitHit.count)
        )
        current = (await self.session.execute(statement)).scalar_one()
        previous = await self._count(digest, window_start - window)
        await self.session.commit()
        return Counts(previous=previous, current=current)

    async def decrement(self, key: str, window_start: int) -> None:
        # Part of the caller's transaction (no commit): a refund counts only if the request that
        # earned it succeeds.
        await self.session.execute(
            update(RateLimitHit)
            .where(
                RateLimitHit.key == _digest(key),
                RateLimitHit.window_start == window_start,
                RateLimitHit.count > 0,
            )
            .values(count=RateLimitHit.count - 1)
            .execution_options(synchronize_session=False)
        )

    async def read(self, key: str, window_start: int, window: int) -> Counts:
        digest = _digest(key)
        return Counts(
            previous=await self._count(digest, window_start - window),
            current=await self._count(digest, window_start),
        )

    async def _count(self, digest: str, window_start: int) -> int:
        found = (
            await self.session.execute(
                select(RateLimitHit.count).where(
                    RateLimitHit.key == digest, RateLimitHit.window_start == window_start
                )
            )
        ).scalar_one_or_none()
        return found or 0


def retry_after_seconds(counts: Counts, limit: int, window: int, elapsed: int) -> int:
    """Seconds until one more attempt would be allowed again (at least 1).

    The next attempt adds one to the current count, so it passes when
    ``p·(W − e') + (c + 1)·W ≤ limit·W``. Integer arithmetic throughout.
    """
    p, c = counts.previous, counts.current
    if c + 1 <= limit and p > 0:
        # Later in this same window, once the previous window's weight has decayed enough.
        e_needed = window - ((limit - c - 1) * window) // p
        return max(1, e_needed - elapsed)
    # In the next window the current count becomes "previous" and one new hit is added.
    e_next = window - ((limit - 1) * window) // c if c > 0 else 0
    return max(1, window - elapsed + e_next)


async def hit(
    target: AsyncSession | RateLimitStore,
    key: str,
    limit: int,
    window: int,
    *,
    message: str | None = None,
    now: datetime | None = None,
) -> None:
    """Count one attempt for ``key``; raise ``RateLimited`` when more than ``limit`` attempts
    fell within the last ``window`` seconds.

    ``target`` is a session (the database store; it commits, see ``DatabaseRateLimitStore``) or
    any ``RateLimitStore``. The message defaults to a general Dutch "too many attempts".
    """
    store = _store(target)
    moment = int((now or utcnow()).timestamp())
    window_start = moment - moment % window
    elapsed = moment - window_start
    counts = await store.increment(key, window_start, window)
    # estimate = p·(W−e)/W + c, compared with limit, all multiplied by W.
    if counts.previous * (window - elapsed) + counts.current * window > limit * window:
        raise RateLimited(
            message
            or _("U heeft het te vaak geprobeerd. Wacht even en probeer het daarna opnieuw."),
            retry_after=retry_after_seconds(counts, limit, window, elapsed),
        )


async def refund(
    target: AsyncSession | RateLimitStore,
    key: str,
    window: int,
    *,
    now: datetime,
) -> None:
    """Take back the hit ``hit`` counted for ``key`` at ``now`` (pass the same moment): for limits
    on attempts where an attempt that turns out well should cost nothing (a valid voting code).

    Unlike ``check`` + ``record``, the attempt is counted atomically *before* the work, so a burst
    of parallel attempts cannot all pass the check; only the ones that succeed are refunded. If the
    window turned over in between, there is nothing to refund."""
    moment = int(now.timestamp())
    await _store(target).decrement(key, moment - moment % window)


def _store(target: AsyncSession | RateLimitStore) -> RateLimitStore:
    return DatabaseRateLimitStore(target) if isinstance(target, AsyncSession) else target


async def check(
    target: AsyncSession | RateLimitStore,
    key: str,
    limit: int,
    window: int,
    *,
    message: str | None = None,
    now: datetime | None = None,
) -> None:
    """Raise ``RateLimited`` when one more hit on ``key`` would exceed ``limit``; count nothing.

    With ``record`` after each failure this limits failures only (see the module docstring).
    """
    moment = int((now or utcnow()).timestamp())
    window_start = moment - moment % window
    elapsed = moment - window_start
    counts = await _store(target).read(key, window_start, window)
    after = Counts(previous=counts.previous, current=counts.current + 1)
    if after.previous * (window - elapsed) + after.current * window > limit * window:
        raise RateLimited(
            message
            or _("U heeft het te vaak geprobeerd. Wacht even en probeer het daarna opnieuw."),
            retry_after=retry_after_seconds(after, limit, window, elapsed),
        )


async def record(
    target: AsyncSession | RateLimitStore, key: str, window: int, *, now: datetime | None = None
) -> int:
    """Count one hit on ``key`` (committed, see ``DatabaseRateLimitStore``); return the sliding
    estimate of hits in the last ``window`` seconds, rounded down."""
    moment = int((now or utcnow()).timestamp())
    window_start = moment - moment % window
    elapsed = moment - window_start
    counts = await _store(target).increment(key, window_start, window)
    return (counts.previous * (window - elapsed) + counts.current * window) // window


async def estimate(
    target: AsyncSession | RateLimitStore, key: str, window: int, *, now: datetime | None = None
) -> int:
    """The sliding estimate of hits on ``key`` in the last ``window`` seconds, rounded down."""
    moment = int((now or utcnow()).timestamp())
    window_start = moment - moment % window
    elapsed = moment - window_start
    counts = await _store(target).read(key, window_start, window)
    return (counts.previous * (window - elapsed) + counts.current * window) // window
