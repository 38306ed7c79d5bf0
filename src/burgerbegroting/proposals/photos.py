"""Photos on proposals: adding (checked, cleaned and resized by ``images.py``), removing, listing,
and finding one for a viewer.

Business rules:

* only a credited author adds or removes photos, and only while the proposal is editable (the same
  rule as editing its text: ``service.may_edit_in``, never once voting opened);
* at most ``MAX_PHOTOS_PER_PROPOSAL`` photos, counted with the proposal row locked
  (``load_for_update``; SQLite writes are serialised by ``BEGIN IMMEDIATE``), so two uploads at
  once cannot both be the fifth;
* alt text is required: a photo nobody can describe to a screen-reader user is not published;
* a photo is seen by whoever may see its proposal: everyone for a public one, only its authors
  for a draft or a withdrawn one (anyone else gets the same 404 as for the proposal).

Files and rows: both files are written (to a temporary name, then renamed, so no reader ever sees
half a file) *before* the row is flushed. If anything after that fails, the caller removes the
files with ``discard_files``; a removed photo's row is deleted first and its files after the
commit. The worst a crash can leave is an unreferenced file, never a row without its file.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.errors import Conflict, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.proposals.images import MEDIA_TYPE, ProcessedPhoto, process_photo
from burgerbegroting.proposals.models import (
    MAX_ALT_TEXT,
    MAX_PHOTOS_PER_PROPOSAL,
    ProposalAuthor,
    ProposalPhoto,
)
from burgerbegroting.proposals.service import (
    PUBLIC_STATUSES,
    Actor,
    editable,
    load,
    may_edit_in,
)
from burgerbegroting.proposals.text import has_control_characters

ALT_MISSING = N_("Beschrijf kort wat er op de foto te zien is (alternatieve tekst).")
ALT_TOO_LONG = N_("De beschrijving van de foto mag hoogstens 300 tekens hebben.")
ALT_BAD = N_("De beschrijving bevat tekens die niet zijn toegestaan.")
TOO_MANY = N_("Een voorstel kan hoogstens 5 foto's hebben. Verwijder eerst een foto.")
NOT_EDITABLE = N_("De foto's van dit voorstel kunnen in deze fase niet meer worden gewijzigd.")
NO_PHOTO = N_("Deze foto bestaat niet.")


@dataclass(frozen=True, slots=True)
class PhotoFile:
    """A stored file to send: where it is, and whether anyone may cache it."""

    path: Path
    media_type: str
    etag: str
    public: bool


def proposal_dir(media_dir: Path, proposal_id: int) -> Path:
    return media_dir / "proposals" / str(proposal_id)


def file_paths(media_dir: Path, photo: ProposalPhoto) -> tuple[Path, Path]:
    """(display size, thumbnail) of a photo."""
    return files_of(media_dir, photo.proposal_id, photo.file_key)


def files_of(media_dir: Path, proposal_id: int, file_key: str) -> tuple[Path, Path]:
    """(display size, thumbnail) of the photo stored under ``file_key``."""
    folder = proposal_dir(media_dir, proposal_id)
    return folder / f"{file_key}.webp", folder / f"{file_key}-klein.webp"


def check_alt_text(raw: str) -> str:
    """The alt text, trimmed; a ``ValidationFailed`` on ``alt_text`` when it is not usable."""
    text = " ".join(raw.split())
    message = None
    if not text:
        message = ALT_MISSING
    elif len(text) > MAX_ALT_TEXT:
        message = ALT_TOO_LONG
    elif has_control_characters(text):
        message = ALT_BAD
    if message is not None:
        raise ValidationFailed(_(message), fields={"alt_text": _(message)})
    return text


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_files(paths: Sequence[Path], contents: Sequence[bytes]) -> None:
    written: list[Path] = []
    try:
        for path, data in zip(paths, contents, strict=True):
            _write_atomic(path, data)
            written.append(path)
    except BaseException:
        _discard(written)
        raise


def _discard(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def discard_files(paths: Iterable[Path]) -> None:
    """Remove files written for a photo whose row was not stored (or that was removed)."""
    await asyncio.to_thread(_discard, list(paths))


async def add_photo(
    session: AsyncSession,
    *,
    media_dir: Path,
    proposal_id: int,
    user: Actor,
    data: bytes,
    alt_text: str,
) -> tuple[ProposalPhoto, list[Path]]:
    """Add a photo (rules in the module docstring). Returns the flushed row and the files
    written; the caller commits, and calls ``discard_files`` if the commit fails.

    Every problem with the input is reported at once: a missing alt text and a refused file
    in one ``ValidationFailed`` (fields ``alt_text`` and ``photo``)."""
    proposal, round_ = await editable(session, proposal_id, user)
    if not may_edit_in(round_, proposal):
        raise Conflict(_(NOT_EDITABLE))
    count = await session.scalar(
        select(func.count(ProposalPhoto.id)).where(ProposalPhoto.proposal_id == proposal.id)
    )
    if (count or 0) >= MAX_PHOTOS_PER_PROPOSAL:
        raise ValidationFailed(_(TOO_MANY), fields={"photo": _(TOO_MANY)})
    errors: dict[str, str] = {}
    text = ""
    try:
        text = check_alt_text(alt_text)
    except ValidationFailed as error:
        errors.update(error.fields)
    processed: ProcessedPhoto | None = None
    try:
        processed = await asyncio.to_thread(process_photo, data)
    except ValidationFailed as error:
        errors.update(error.fields)
    if errors or processed is None:
        raise ValidationFailed(_("Controleer de gemarkeerde velden."), fields=errors)
    photo = ProposalPhoto(
        proposal_id=proposal.id,
        file_key=secrets.token_hex(16),
        alt_text=text,
        width=processed.width,
        height=processed.height,
        thumb_width=processed.thumb_width,
        thumb_height=processed.thumb_height,
        byte_size=len(processed.full),
        uploaded_by_id=user.id,
    )
    paths = list(file_paths(media_dir, photo))
    await asyncio.to_thread(_write_files, paths, (processed.full, processed.thumb))
    try:
        session.add(photo)
        await session.flush()
    except BaseException:
        await discard_files(paths)
        raise
    return photo, paths


async def remove_photo(
    session: AsyncSession, *, media_dir: Path, proposal_id: int, photo_id: int, user: Actor
) -> list[Path]:
    """Delete a photo's row; returns its files, for the caller to remove after the commit."""
    proposal, round_ = await editable(session, proposal_id, user)
    if not may_edit_in(round_, proposal):
        raise Conflict(_(NOT_EDITABLE))
    photo = await session.scalar(
        select(ProposalPhoto).where(
            ProposalPhoto.id == photo_id, ProposalPhoto.proposal_id == proposal.id
        )
    )
    if photo is None:
        raise NotFound(_(NO_PHOTO))
    paths = list(file_paths(media_dir, photo))
    await session.delete(photo)
    await session.flush()
    return paths


async def photos_of(session: AsyncSession, proposal_id: int) -> list[ProposalPhoto]:
    """A proposal's photos in upload order (the caller has checked who may see the proposal)."""
    rows = await session.scalars(
        select(ProposalPhoto)
        .where(ProposalPhoto.proposal_id == proposal_id)
        .order_by(ProposalPhoto.id)
    )
    return list(rows)


async def first_photos(
    session: AsyncSession, proposal_ids: Sequence[int]
) -> dict[int, ProposalPhoto]:
    """The first photo of each of ``proposal_ids`` that has one (for gallery cards)."""
    if not proposal_ids:
        return {}
    first = (
        select(func.min(ProposalPhoto.id))
        .where(ProposalPhoto.proposal_id.in_(list(proposal_ids)))
        .group_by(ProposalPhoto.proposal_id)
    )
    rows = await session.scalars(select(ProposalPhoto).where(ProposalPhoto.id.in_(first)))
    return {photo.proposal_id: photo for photo in rows}


async def photo_for_viewer(
    session: AsyncSession,
    *,
    media_dir: Path,
    proposal_id: int,
    photo_id: int,
    user: Actor | None,
    thumbnail: bool,
) -> PhotoFile:
    """The file of one photo if ``user`` may see its proposal; ``NotFound`` otherwise (the same
    answer as for a photo that does not exist, so a draft's photos reveal nothing)."""
    photo = await session.scalar(
        select(ProposalPhoto).where(
            ProposalPhoto.id == photo_id, ProposalPhoto.proposal_id == proposal_id
        )
    )
    if photo is None:
        raise NotFound(_(NO_PHOTO))
    proposal = await load(session, proposal_id)
    public = proposal.status in PUBLIC_STATUSES
    if not public:
        is_author = user is not None and (
            await session.scalar(
                select(ProposalAuthor.id).where(
                    ProposalAuthor.proposal_id == proposal.id, ProposalAuthor.user_id == user.id
                )
            )
            is not None
        )
        if not is_author:
            raise NotFound(_(NO_PHOTO))
    full, thumb = file_paths(media_dir, photo)
    path = thumb if thumbnail else full
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(_(NO_PHOTO))
    suffix = "-klein" if thumbnail else ""
    return PhotoFile(
        path=path, media_type=MEDIA_TYPE, etag=f'"{photo.file_key}{suffix}"', public=public
    )
