"""Results tests redeem many voting codes from one test client (one address): the per-address
limit on code attempts is raised so it does not get in the way (tests/voting tests it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from burgerbegroting.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var", code_attempts_per_window=1000)
