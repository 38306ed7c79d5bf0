"""argon2id hashing: parameters, rehash detection, concurrency bound, policy messages."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerbegroting.accounts.passwords import (
    MAX_LENGTH,
    PasswordService,
    password_problem,
    password_service,
)
from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings


async def test_hash_is_argon2id_with_configured_parameters() -> None:
    service = PasswordService(memory_kib=19 * 1024, time_cost=2, parallelism=1)
    hashed = await service.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await service.verify(hashed, "correct horse")
    assert not await service.verify(hashed, "correct hors")
    assert not await service.verify("geen-hash", "correct horse")


async def test_needs_rehash_when_parameters_change() -> None:
    old = PasswordService(memory_kib=19 * 1024, time_cost=2)
    new = PasswordService(memory_kib=19 * 1024, time_cost=3)
    hashed = await old.hash("wachtwoord")
    assert not old.needs_rehash(hashed)
    assert new.needs_rehash(hashed)
    assert await new.verify(hashed, "wachtwoord")  # old hashes still verify


@pytest.mark.parametrize("kwargs", [{"memory_kib": 1024}, {"time_cost": 1}, {"parallelism": 0}])
def test_parameters_below_owasp_floor_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="OWASP"):
        PasswordService(**kwargs)


def test_service_follows_settings_and_is_shared() -> None:
    configured = Settings(argon2_time_cost=3, max_concurrent_hashes=2)
    service = password_service(configured)
    assert service.hasher.time_cost == 3
    assert service.max_concurrent == 2
    assert password_service(configured) is service


async def test_concurrent_hashes_are_bounded() -> None:
    service = PasswordService(max_concurrent=2)
    active = 0
    peak = 0
    lock = threading.Lock()
    real = service.hasher

    class TrackingHasher:
        def hash(self, password: str) -> str:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            try:
                time.sleep(0.02)
                return real.hash(password)
            finally:
                with lock:
                    active -= 1

    service.hasher = TrackingHasher()  # type: ignore[assignment]
    async with anyio.create_task_group() as group:
        for n in range(8):
            group.start_soon(service.hash, f"wachtwoord-{n}")
    assert peak == 2  # the bound held, and the work really ran in parallel


async def test_hashing_does_not_block_the_event_loop() -> None:
    service = PasswordService()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(20):
            await anyio.sleep(0.001)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        for _ in range(3):
            await service.hash("wachtwoord")
    assert ticks == 20


@pytest.mark.parametrize(
    ("password", "roles", "expected"),
    [
        ("", {Role.RESIDENT}, "Vul een wachtwoord in."),
        ("1234567", {Role.RESIDENT}, "Het wachtwoord is te kort: gebruik minstens 8 tekens."),
        ("12345678", {Role.RESIDENT}, None),
        (
            "12345678901",
            {Role.COUNCIL},
            "Het wachtwoord is te kort: medewerkers gebruiken minstens 12 tekens.",
        ),
        ("123456789012", {Role.COUNCIL}, None),
        (
            "x" * (MAX_LENGTH + 1),
            {Role.ADMIN},
            "Het wachtwoord is te lang: gebruik hoogstens 1024 tekens.",
        ),
        ("x" * MAX_LENGTH, {Role.ADMIN}, None),
    ],
)
def test_policy_messages(password: str, roles: set[Role], expected: str | None) -> None:
    assert password_problem(password, frozenset(roles)) == expected


@settings(max_examples=200)
@given(st.text(max_size=40), st.sets(st.sampled_from(list(Role)), min_size=1))
def test_policy_accepts_exactly_the_allowed_lengths(password: str, roles: set[Role]) -> None:
    staff = bool(roles - {Role.RESIDENT})
    minimum = 12 if staff else 8
    ok = len(password) >= minimum and password.strip() != ""
    assert (password_problem(password, frozenset(roles)) is None) is ok
