"""Photo pages: the authors' page to add and remove photos, and the photos themselves.

Upload is a plain multipart form (works without JavaScript). The body limit for this one route is
raised in ``web/limits.py`` (``MAX_PHOTO_FORM_BYTES``), checked from ``Content-Length`` and while
streaming, before anything is parsed; every other form keeps the small limit.

Photos are served by the app, so the proposal's visibility decides (a draft's photo is a 404 for
anyone but its authors). A file never changes under its URL (a new upload gets a new random key),
so a public proposal's photo may be cached for an hour by anyone; an author's draft photo only by
their own browser.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from burgerbegroting.accounts.auth import current_user
from burgerbegroting.errors import Conflict, DomainError, Forbidden
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.proposals import gallery, photos
from burgerbegroting.proposals.forms import (
    AnyRequest,
    bad_form_error,
    form_errors,
    request_user,
    resident_only,
    status_for,
)
from burgerbegroting.proposals.images import MAX_PHOTO_BYTES
from burgerbegroting.proposals.models import MAX_ALT_TEXT, MAX_PHOTOS_PER_PROPOSAL
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.forms import CSRF_FIELD, FormInputError
from burgerbegroting.web.limits import MAX_PHOTO_FORM_BYTES
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import settings_of

PUBLIC_CACHE = "public, max-age=3600"
PRIVATE_CACHE = "private, max-age=3600"
NOTICES: dict[str, str] = {
    "toegevoegd": N_("De foto is toegevoegd."),
    "verwijderd": N_("De foto is verwijderd."),
}


async def _read_upload(request: AnyRequest) -> tuple[bytes, str]:
    """(file bytes, alt text) from the multipart form; ``FormInputError`` for anything else."""
    form = await request.form()
    for key in form:
        if key not in {CSRF_FIELD, "photo", "alt_text"} or len(form.getall(key)) != 1:
            raise FormInputError(key)
    alt_text = form.get("alt_text", "")
    if not isinstance(alt_text, str) or len(alt_text) > 10 * MAX_ALT_TEXT:
        raise FormInputError("alt_text")
    upload = form.get("photo")
    if upload is None or isinstance(upload, str):
        # No file chosen: browsers send an empty file part, some an empty text field.
        return b"", alt_text
    if not isinstance(upload, UploadFile):
        raise FormInputError("photo")
    data = await upload.read(MAX_PHOTO_BYTES + 1)
    await upload.close()
    return data, alt_text


class PhotoPagesController(Controller):
    include_in_schema = False
    path = "/voorstellen/{proposal_id:int}/fotos"

    async def _page(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: int,
        *,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        user = request_user(request)
        view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
        if not view.is_author:
            raise Forbidden(_("Alleen de indieners van dit voorstel kunnen de foto's wijzigen."))
        if not view.can_edit:
            raise Conflict(_(photos.NOT_EDITABLE))
        rows = await photos.photos_of(db_session, proposal_id)
        return render(
            request,
            "proposals/photos.html",
            {
                "p": view.proposal,
                "photos": rows,
                "errors": errors or {},
                "values": values or {},
                "notice": notice,
                "max_photos": MAX_PHOTOS_PER_PROPOSAL,
                "max_alt": MAX_ALT_TEXT,
                "can_add": len(rows) < MAX_PHOTOS_PER_PROPOSAL,
            },
            status_code=status_code,
        )

    @get("/", guards=[resident_only])
    async def manage(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        melding: FromQuery[str | None] = None,
    ) -> Template:
        notice = _(NOTICES[melding]) if melding in NOTICES else None
        return await self._page(request, db_session, proposal_id, notice=notice)

    @post("/", guards=[resident_only], request_max_body_size=MAX_PHOTO_FORM_BYTES)
    async def upload(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            data, alt_text = await _read_upload(request)
        except FormInputError:
            return await self._page(
                request,
                db_session,
                proposal_id,
                errors=form_errors(bad_form_error()),
                status_code=400,
            )
        media_dir = settings_of(request).media_path
        written: list[Path] = []
        try:
            _photo, written = await photos.add_photo(
                db_session,
                media_dir=media_dir,
                proposal_id=proposal_id,
                user=request_user(request),
                data=data,
                alt_text=alt_text,
            )
            await db_session.commit()
        except DomainError as error:
            await db_session.rollback()
            await photos.discard_files(written)
            if not error.fields:
                raise
            return await self._page(
                request,
                db_session,
                proposal_id,
                errors=form_errors(error),
                values={"alt_text": alt_text},
                status_code=status_for(error),
            )
        except BaseException:
            await db_session.rollback()
            await photos.discard_files(written)
            raise
        return Redirect(f"/voorstellen/{proposal_id}/fotos?melding=toegevoegd", status_code=303)

    @post("/{photo_id:int}/verwijderen", guards=[resident_only])
    async def remove(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        photo_id: FromPath[int],
    ) -> Redirect:
        paths = await photos.remove_photo(
            db_session,
            media_dir=settings_of(request).media_path,
            proposal_id=proposal_id,
            photo_id=photo_id,
            user=request_user(request),
        )
        await db_session.commit()
        await photos.discard_files(paths)
        return Redirect(f"/voorstellen/{proposal_id}/fotos?melding=verwijderd", status_code=303)

    async def _send(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: int,
        photo_id: int,
        *,
        thumbnail: bool,
    ) -> Response[Any]:
        found = await photos.photo_for_viewer(
            db_session,
            media_dir=settings_of(request).media_path,
            proposal_id=proposal_id,
            photo_id=photo_id,
            user=current_user(request),
            thumbnail=thumbnail,
        )
        headers = {
            "Cache-Control": PUBLIC_CACHE if found.public else PRIVATE_CACHE,
            "ETag": found.etag,
            "X-Content-Type-Options": "nosniff",
        }
        if not found.public:
            headers["Vary"] = "Cookie, Authorization"
        if request.headers.get("if-none-match") == found.etag:
            return Response(content=b"", status_code=304, headers=headers)
        content = await asyncio.to_thread(found.path.read_bytes)
        return Response(content=content, media_type=found.media_type, headers=headers)

    @get("/{photo_id:int}")
    async def full(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        photo_id: FromPath[int],
    ) -> Response[Any]:
        return await self._send(request, db_session, proposal_id, photo_id, thumbnail=False)

    @get("/{photo_id:int}/klein")
    async def thumbnail(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        photo_id: FromPath[int],
    ) -> Response[Any]:
        return await self._send(request, db_session, proposal_id, photo_id, thumbnail=True)
