"""Password policy and argon2id hashing off the event loop, with a bound on concurrent hashes.

A hash at OWASP's floor (m=19 MiB, t=2, p=1) takes ~36 ms and 19 MiB; a burst of logins hashed
without a bound is a memory attack and would starve the event loop. So hashing runs in worker
threads through an anyio ``CapacityLimiter`` of ``settings.max_concurrent_hashes``: the rest wait.
"""

from __future__ import annotations

import asyncio
import functools
import weakref

import anyio
import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from burgerbegroting.accounts.roles import Role, is_staff
from burgerbegroting.i18n import _
from burgerbegroting.settings import Settings

STAFF_MIN_LENGTH = 12
RESIDENT_MIN_LENGTH = 8
MAX_LENGTH = 1024
"""Longer passwords are refused before hashing: argon2 reads the whole input."""

# OWASP's floor; Settings may raise these, never lower them.
MIN_MEMORY_KIB = 19 * 1024
MIN_TIME_COST = 2
MIN_PARALLELISM = 1


def password_problem(password: str, roles: frozenset[Role] | set[Role]) -> str | None:
    """The Dutch reason ``password`` is not acceptable for an account with ``roles``, or None."""
    minimum = STAFF_MIN_LENGTH if is_staff(roles) else RESIDENT_MIN_LENGTH
    if password == "":
        return _("Vul een wachtwoord in.")
    if len(password) > MAX_LENGTH:
        return _("Het wachtwoord is te lang: gebruik hoogstens %(max)s tekens.", max=MAX_LENGTH)
    if len(password) < minimum:
        if is_staff(roles):
            return _(
                "Het wachtwoord is te kort: medewerkers gebruiken minstens %(min)s tekens.",
                min=minimum,
            )
        return _("Het wachtwoord is te kort: gebruik minstens %(min)s tekens.", min=minimum)
    if password.strip() == "":
        return _("Het wachtwoord mag niet alleen uit spaties bestaan.")
    return None


class PasswordService:
    """argon2id hashing and verification with bounded concurrency, for one set of parameters."""

    def __init__(
        self,
        *,
        memory_kib: int = MIN_MEMORY_KIB,
        time_cost: int = MIN_TIME_COST,
        parallelism: int = MIN_PARALLELISM,
        max_concurrent: int = 4,
    ) -> None:
        if memory_kib < MIN_MEMORY_KIB or time_cost < MIN_TIME_COST or parallelism < 1:
            raise ValueError("argon2 parameters below OWASP's floor (m=19 MiB, t=2, p=1)")
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self.max_concurrent = max_concurrent
        # One limiter per event loop: anyio primitives belong to the loop that first uses them,
        # and tests (and the CLI) run several loops in one process.
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, anyio.CapacityLimiter
        ] = weakref.WeakKeyDictionary()
        self._dummy_hash: str | None = None

    def _limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = anyio.CapacityLimiter(self.max_concurrent)
            self._limiters[loop] = limiter
        return limiter

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (computed in a worker thread)."""
        return await anyio.to_thread.run_sync(self.hasher.hash, password, limiter=self._limiter())

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; malformed hashes simply do not match."""

        def check() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check, limiter=self._limiter())

    async def spend_dummy_hash(self, password: str) -> None:
        """Spend the time of one verification, for logins of unknown accounts.

        Without it an attacker learns which e-mail addresses have accounts from response times.
        """
        if self._dummy_hash is None:
            # The first time, hashing is the work (one hash costs what one verification costs);
            # the result is never compared with any account.
            self._dummy_hash = await self.hash(password)
            return
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when ``password_hash`` was made with other parameters than the current ones."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


@functools.cache
def _cached(
    memory_kib: int, time_cost: int, parallelism: int, max_concurrent: int
) -> PasswordService:
    return PasswordService(
        memory_kib=memory_kib,
        time_cost=time_cost,
        parallelism=parallelism,
        max_concurrent=max_concurrent,
    )


def password_service(settings: Settings | None = None) -> PasswordService:
    """The process-wide ``PasswordService`` for ``settings`` (defaults: OWASP's floor).

    Shared per parameter set so the concurrency bound holds for the whole process.
    """
    s = settings or Settings()
    return _cached(
        s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism, s.max_concurrent_hashes
    )
