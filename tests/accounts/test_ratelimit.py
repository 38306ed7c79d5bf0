"""Rate limits: sliding-window estimate, shared database counters, Retry-After."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import ratelimit
from burgerbegroting.accounts.models import RateLimitHit
from burgerbegroting.db import create_engine
from burgerbegroting.errors import RateLimited

WINDOW = 60
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)  # a window boundary (divisible by 60)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


async def test_limit_allows_exactly_limit_hits_per_window(session: AsyncSession) -> None:
    for n in range(3):
        await ratelimit.hit(session, "login:ip:1", 3, WINDOW, now=at(n))
    with pytest.raises(RateLimited) as caught:
        await ratelimit.hit(session, "login:ip:1", 3, WINDOW, now=at(5))
    assert caught.value.retry_after >= 1
    # Other keys are not affected.
    await ratelimit.hit(session, "login:ip:2", 3, WINDOW, now=at(5))


async def test_previous_window_still_weighs_in(session: AsyncSession) -> None:
    for n in range(3):
        await ratelimit.hit(session, "k", 3, WINDOW, now=at(50 + n))
    # 10 s into the next window the previous 3 hits still count 5/6: refused.
    with pytest.raises(RateLimited) as caught:
        await ratelimit.hit(session, "k", 3, WINDOW, now=at(70))
    # A plain fixed window would have allowed 3 fresh hits right at the boundary.
    wait = caught.value.retry_after
    assert 1 <= wait <= WINDOW
    # After the advertised wait, one attempt passes again (this one and the refused one count).
    await ratelimit.hit(session, "k", 5, WINDOW, now=at(70 + wait))


async def test_a_refunded_hit_no_longer_counts_and_a_refund_never_goes_below_zero(
    session: AsyncSession,
) -> None:
    for n in range(3):
        await ratelimit.hit(session, "code", 3, WINDOW, now=at(n))
        await ratelimit.refund(session, "code", WINDOW, now=at(n))
    await session.commit()
    assert await ratelimit.estimate(session, "code", WINDOW, now=at(5)) == 0
    # Nothing to refund: stays at zero (so spare refunds buy no extra attempts later).
    await ratelimit.refund(session, "code", WINDOW, now=at(6))
    for n in range(3):
        await ratelimit.hit(session, "code", 3, WINDOW, now=at(10 + n))
    with pytest.raises(RateLimited):
        await ratelimit.hit(session, "code", 3, WINDOW, now=at(20))
    # A refund in a later window leaves this window's count alone.
    await ratelimit.refund(session, "code", WINDOW, now=at(WINDOW + 1))
    with pytest.raises(RateLimited):
        await ratelimit.hit(session, "code", 3, WINDOW, now=at(21))


async def test_counts_are_committed_and_seen_by_another_connection(
    session: AsyncSession, database_url: str
) -> None:
    await ratelimit.hit(session, "gedeeld", 10, WINDOW, now=at(1))
    await ratelimit.hit(session, "gedeeld", 10, WINDOW, now=at(2))
    await session.rollback()  # a failing request after the hit must not undo the count
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as other:
            total = await other.scalar(select(func.sum(RateLimitHit.count)))
            keys = (await other.scalars(select(RateLimitHit.key))).all()
    finally:
        await engine.dispose()
    assert total == 2
    assert keys == [ratelimit._digest("gedeeld")]  # stored hashed, not readable
    assert "gedeeld" not in keys


async def test_old_windows_are_deleted_lazily(session: AsyncSession) -> None:
    await ratelimit.hit(session, "oud", 10, WINDOW, now=datetime.now(UTC) - timedelta(hours=1))
    await ratelimit.hit(session, "nieuw", 10, WINDOW)
    rows = (await session.scalars(select(RateLimitHit.key))).all()
    assert rows == [ratelimit._digest("nieuw")]


class MemoryStore:
    """A RateLimitStore for the pure arithmetic: hit() accepts any store."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    async def increment(self, key: str, window_start: int, window: int) -> ratelimit.Counts:
        self.counts[(key, window_start)] = self.counts.get((key, window_start), 0) + 1
        return ratelimit.Counts(
            previous=self.counts.get((key, window_start - window), 0),
            current=self.counts[(key, window_start)],
        )


@given(
    previous=st.integers(0, 50),
    current=st.integers(1, 50),
    limit=st.integers(1, 20),
    window=st.integers(1, 3600),
    data=st.data(),
)
def test_retry_after_is_exactly_when_the_next_attempt_passes(
    previous: int, current: int, limit: int, window: int, data: st.DataObject
) -> None:
    elapsed = data.draw(st.integers(0, window - 1))
    # Only refused attempts get a Retry-After.
    assume(previous * (window - elapsed) + current * window > limit * window)

    def allowed_at(t: int) -> bool:
        """Would one more attempt at t seconds from now pass?"""
        moment = elapsed + t
        if moment < window:
            return previous * (window - moment) + (current + 1) * window <= limit * window
        if moment < 2 * window:
            return current * (2 * window - moment) + window <= limit * window
        return limit >= 1

    counts = ratelimit.Counts(previous=previous, current=current)
    wait = ratelimit.retry_after_seconds(counts, limit, window, elapsed)
    assert wait >= 1
    assert allowed_at(wait)
    if wait > 1:
        assert not allowed_at(wait - 1)


async def test_hit_works_with_any_store() -> None:
    store = MemoryStore()
    await ratelimit.hit(store, "x", 1, WINDOW, now=at(0))
    with pytest.raises(RateLimited, match="te vaak"):
        await ratelimit.hit(store, "x", 1, WINDOW, now=at(1))


# --- what counts as one client ----------------------------------------------------------------


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_ipv6_addresses_in_one_64_share_a_key_and_other_64s_do_not(
    network: int, host_a: int, host_b: int
) -> None:
    # One home connection or phone gets a /64: every address in it is one client.
    assume(network >> 32 != 0xFFFF)  # not ::ffff:0:0/96, the IPv4-mapped range
    a = str(ipaddress.IPv6Address(network << 64 | host_a))
    b = str(ipaddress.IPv6Address(network << 64 | host_b))
    neighbour = str(ipaddress.IPv6Address(((network + 1) % 2**64) << 64 | host_a))
    assert ratelimit.ip_key("code", a) == ratelimit.ip_key("code", b)
    assert ratelimit.ip_key("code", a) != ratelimit.ip_key("code", neighbour)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_ipv4_addresses_are_keyed_whole_and_ipv4_mapped_ipv6_as_ipv4(a: int, b: int) -> None:
    assume(a != b)
    v4 = str(ipaddress.IPv4Address(a))
    mapped = str(ipaddress.IPv6Address(0xFFFF << 32 | a))  # ::ffff:a.b.c.d
    assert ratelimit.ip_key("login:fail", v4) == f"login:fail:ip:{v4}"
    assert ratelimit.ip_key("login:fail", mapped) == ratelimit.ip_key("login:fail", v4)
    assert ratelimit.ip_key("login:fail", v4) != ratelimit.ip_key(
        "login:fail", str(ipaddress.IPv4Address(b))
    )


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_client_network_examples(address: str, client: str) -> None:
    assert ratelimit.client_network(address) == client


async def test_two_addresses_in_one_ipv6_64_share_one_limit(session: AsyncSession) -> None:
    for n, address in enumerate(("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff")):
        await ratelimit.hit(session, ratelimit.ip_key("code", address), 2, WINDOW, now=at(n))
    with pytest.raises(RateLimited):
        await ratelimit.hit(
            session, ratelimit.ip_key("code", "2001:db8:1:2::3"), 2, WINDOW, now=at(3)
        )
    # The next /64 is another client.
    await ratelimit.hit(session, ratelimit.ip_key("code", "2001:db8:1:3::1"), 2, WINDOW, now=at(3))
