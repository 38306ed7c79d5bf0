"""``burgerbegroting codes issue``: issue a batch of voting codes into a CSV (and PDF letters).

The plain codes go only to the files named on the command line, created with mode 0600 and never
over an existing file (overwriting would lose the codes it held). The files are written *before*
the transaction commits and renamed into place after it: a failed commit leaves no file of codes
that do not work, and a failed write stores no batch. Progress goes to stderr, the summary to
stdout.

Also the demo's voting codes (``demo_codes``): ``burgerbegroting demo`` prints a few, so a newcomer
can vote at once. They are derived from the instance secret (development only: the demo refuses
production), so a second run prints the same codes without storing anything.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.tokens import derive_key
from burgerbegroting.db import create_engine
from burgerbegroting.errors import DomainError
from burgerbegroting.i18n import format_number
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import letters, roll
from burgerbegroting.voting.models import AGE_BANDS, VotingCode

DEMO_CODES = 5


def add_codes_parser(sub: Any) -> None:
    """The ``codes`` command and its ``issue`` subcommand (``sub``: the main subparsers)."""
    codes = sub.add_parser("codes", help="voting codes (stemcodes)")
    csub = codes.add_subparsers(dest="codes_command", required=True)
    issue = csub.add_parser(
        "issue",
        help="issue a batch of codes into a mail-merge CSV (and optionally PDF letters)",
    )
    issue.add_argument("--round", type=int, required=True, dest="round_id", help="round id")
    issue.add_argument(
        "--district", type=int, default=None, help="district id (leave out for city-wide codes)"
    )
    issue.add_argument("--count", type=int, required=True, help="how many codes")
    issue.add_argument("--age-band", choices=AGE_BANDS, default=None, help="age band of the batch")
    issue.add_argument("--out", type=Path, required=True, help="the CSV to write (must not exist)")
    issue.add_argument(
        "--pdf",
        type=Path,
        default=None,
        help=f"also write letters as PDF (at most {letters.MAX_PDF_LETTERS} codes)",
    )
    issue.set_defaults(handler=issue_command)


def _stderr_progress(label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def _exclusive(path: Path) -> Any:
    """A new file only its owner can read; ``FileExistsError`` if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def issue_command(args: argparse.Namespace, settings: Settings) -> int:
    """Issue codes and write the files; exit status 0, 1 (refused) or 2 (bad files)."""
    targets = [p for p in (args.out, args.pdf) if p is not None]
    if args.pdf is not None and args.pdf.resolve() == args.out.resolve():
        # Both would be written to one temporary file: the second open fails after the codes
        # were made, with a message about a hidden ``.tmp`` file.
        print("Kies voor --pdf een ander bestand dan voor --out.", file=sys.stderr)
        return 2
    for path in targets:
        if path.exists():
            print(f"{path} bestaat al; kies een nieuw bestand.", file=sys.stderr)
            return 2
        if not path.parent.is_dir():
            print(f"De map {path.parent} bestaat niet.", file=sys.stderr)
            return 2
    if args.pdf is not None:
        try:
            letters.check_format(letters.LetterFormat.PDF, args.count)
        except DomainError as error:
            print(error.message, file=sys.stderr)
            return 1
    temps = {path: path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in targets}
    try:
        summary = asyncio.run(_issue(args, settings, temps))
    except DomainError as error:
        print(error.message, file=sys.stderr)
        for field, message in sorted(error.fields.items()):
            print(f"  {field}: {message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"Schrijven mislukt, er is niets uitgegeven: {error}", file=sys.stderr)
        return 2
    finally:
        for temp in temps.values():
            with suppress(FileNotFoundError):
                temp.unlink()
    print(summary)
    return 0


async def _issue(args: argparse.Namespace, settings: Settings, temps: dict[Path, Path]) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            batch = await roll.issue_codes(
                session,
                settings,
                args.round_id,
                district_id=args.district,
                count=args.count,
                age_band=args.age_band,
                actor_id=None,
                progress=_stderr_progress("Stemcodes"),
            )
            round_ = await rounds.get_round(session, args.round_id)
            batch_letters = letters.LetterBatch(
                municipality=settings.municipality,
                base_url=settings.base_url,
                round_id=round_.id,
                round_title=round_.title,
                batch_id=batch.batch_id,
                district_name=batch.district_name,
                age_band=batch.age_band,
                codes=batch.codes,
                closes_at=round_.closed_starts_at,
            )
            with _exclusive(temps[args.out]) as raw:
                raw.write(letters.csv_bytes(batch_letters))
            if args.pdf is not None:
                with _exclusive(temps[args.pdf]) as raw:
                    letters.write_pdf(batch_letters, raw, progress=_stderr_progress("Brieven"))
            await session.commit()
    finally:
        await engine.dispose()
    for final, temp in temps.items():
        temp.rename(final)
    where = f"wijk {batch.district_name}" if batch.district_name else "de hele gemeente"
    files = " en ".join(str(path) for path in temps)
    return (
        f"Reeks {batch.batch_id}: {format_number(len(batch.codes), 'nl')} stemcodes voor "
        f"'{round_.title}' ({where}) geschreven naar {files}."
    )


# --- the demo's codes --------------------------------------------------------------------------------


def demo_code(settings: Settings, round_id: int, index: int) -> str:
    """The ``index``-th demo code of a round: reproducible from the instance secret."""
    key = derive_key(settings, "demo-codes").encode()
    digest = hmac.new(key, f"{round_id}:{index}".encode(), hashlib.sha256).digest()
    data = "".join(codes_mod.ALPHABET[byte % len(codes_mod.ALPHABET)] for byte in digest[:15])
    return codes_mod.format_code(data + codes_mod._check_char(data))


async def ensure_demo_codes(session: AsyncSession, settings: Settings, round_id: int) -> list[str]:
    """The demo round's codes, issued (one batch, city-wide) on the first run only."""
    codes = [demo_code(settings, round_id, i) for i in range(DEMO_CODES)]
    first = codes_mod.hash_code(codes_mod.code_key(settings), codes[0].replace("-", ""))
    issued = (
        await session.execute(select(VotingCode.id).where(VotingCode.code_hash == first))
    ).scalar_one_or_none()
    if issued is None:
        pending = iter(codes)
        await roll.issue_codes(
            session,
            settings,
            round_id,
            district_id=None,
            count=DEMO_CODES,
            actor_id=None,
            generate=lambda: next(pending),
        )
    return codes


def demo_codes(settings: Settings, round_title: str) -> str:
    """The lines ``burgerbegroting demo`` prints: a few codes with their booth links."""

    async def run() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                round_ = (
                    await session.execute(
                        select(Round).where(Round.title == round_title).order_by(Round.id).limit(1)
                    )
                ).scalar_one_or_none()
                if round_ is None or round_.phase != Phase.VOTING.value:
                    return []
                codes = await ensure_demo_codes(session, settings, round_.id)
                await session.commit()
                return codes
        finally:
            await engine.dispose()

    codes = asyncio.run(run())
    if not codes:
        return "Geen demo-stemcodes: de demoronde is niet in de fase Stemmen."
    lines = ["", "Demo-stemcodes (alleen voor ontwikkeling!): open een link en stem meteen."]
    lines.extend(f"  {code}  {letters.booth_url(settings.base_url, code)}" for code in codes)
    return "\n".join(lines)
