"""The benchmark's own app: the product's app plus a bare-insert endpoint (the ceiling).

Never part of the product: only ``benchmarks/voting.py`` starts it (``uvicorn
benchmarks.voting_app:create --factory``).
"""

from __future__ import annotations

import msgspec
from litestar import Litestar, post
from sqlalchemy import text

from burgerbegroting.app import create_app, prepare_for_serving
from burgerbegroting.settings import Settings
from burgerbegroting.web.deps import DbSession


class Row(msgspec.Struct):
    value: str


@post("/api/v1/bench/insert", status_code=201)
async def bare_insert(db_session: DbSession, data: Row) -> dict[str, str]:
    """One INSERT in the request's transaction, committed like every other write."""
    await db_session.execute(
        text("INSERT INTO bench_inserts (value) VALUES (:v)"), {"v": data.value}
    )
    return {"ok": "1"}


def create() -> Litestar:
    app = create_app(Settings.from_env())
    app.register(bare_insert)
    prepare_for_serving(app)  # as `burgerbegroting serve` does
    return app
