"""Photos on proposals through the pages: upload, refusals, serving, visibility, removal, export."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.proposals.images import MAX_PHOTO_BYTES
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import RESIDENT_PASSWORD, csrf_token
from tests.proposals.factories import (
    People,
    RoundIds,
    create_proposal,
    make_people,
    make_round,
    move_round,
    scalar,
)
from tests.proposals.photo_factories import bomb_png, has_gps, metadata_of, photo_bytes

Client = TestClient[Litestar]
ALT = "Het buurthuis aan de Dorpsstraat met een volle zaal"


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


@pytest.fixture
def ids(settings: Settings) -> RoundIds:
    return make_round(settings)


def upload(
    client: Client,
    proposal_id: int,
    headers: dict[str, str],
    data: bytes,
    *,
    alt: str = ALT,
    name: str = "foto.jpg",
    content_type: str = "image/jpeg",
) -> Response:
    return client.post(
        f"/voorstellen/{proposal_id}/fotos",
        data={"alt_text": alt, "_csrf_token": csrf_token(client)},
        files={"photo": (name, data, content_type)},
        headers=headers,
        follow_redirects=False,
    )


def stored_files(settings: Settings) -> list[Path]:
    root = settings.media_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def photo_count(settings: Settings) -> int:
    return int(scalar(settings, "SELECT count(*) FROM proposal_photos"))


def test_author_uploads_a_photo_that_is_cleaned_resized_and_shown(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    page = client.get(f"/voorstellen/{proposal['id']}/fotos", headers=h)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    source = photo_bytes("JPEG", (2400, 1800), gps=True)
    assert has_gps(source)
    response = upload(client, proposal["id"], h, source)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/voorstellen/{proposal['id']}/fotos?melding=toegevoegd"
    assert photo_count(settings) == 1
    files = stored_files(settings)
    assert len(files) == 2
    assert all(f.suffix == ".webp" for f in files)
    for path in files:
        fmt, exif, blocks = metadata_of(path.read_bytes())
        assert fmt == "WEBP"
        assert exif == {}
        assert blocks == set()
        assert not has_gps(path.read_bytes())
    photo_id = int(scalar(settings, "SELECT id FROM proposal_photos"))
    shown = client.get(f"/voorstellen/{proposal['id']}")
    assert f'src="/voorstellen/{proposal["id"]}/fotos/{photo_id}/klein"' in shown.text
    assert f'alt="{ALT}"' in shown.text
    card = client.get(f"/rondes/{ids.round_id}/voorstellen")
    assert re.search(
        rf'<img class="bb-card__photo" src="/voorstellen/{proposal["id"]}/fotos/{photo_id}/klein"'
        rf' alt="{ALT}"',
        card.text,
    )
    served = client.get(f"/voorstellen/{proposal['id']}/fotos/{photo_id}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=3600"
    fmt, exif, _blocks = metadata_of(served.content)
    assert fmt == "WEBP"
    assert exif == {}
    assert int(scalar(settings, "SELECT width FROM proposal_photos")) == 1600
    again = client.get(
        f"/voorstellen/{proposal['id']}/fotos/{photo_id}",
        headers={"If-None-Match": served.headers["etag"]},
    )
    assert again.status_code == 304
    thumb = client.get(f"/voorstellen/{proposal['id']}/fotos/{photo_id}/klein")
    assert thumb.status_code == 200
    assert len(thumb.content) < len(served.content)


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (photo_bytes("GIF"), "foto.jpg", "geen foto in JPEG-, PNG- of WebP-formaat"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "foto.png", "JPEG-, PNG- of WebP"),
        (photo_bytes("JPEG", (1200, 900))[:4000], "foto.jpg", "beschadigd of onvolledig"),
        (bomb_png(), "foto.png", "te veel beeldpunten"),
        (b"\xff\xd8\xff" + b"\x00" * MAX_PHOTO_BYTES, "foto.jpg", "groter dan 10 MB"),
        (b"", "", "Kies een foto om te uploaden."),
    ],
    ids=["gif-named-jpg", "svg", "truncated", "bomb", "too-big", "no-file"],
)
def test_refused_files_get_a_dutch_message_and_nothing_is_stored(
    client: Client,
    settings: Settings,
    people: People,
    ids: RoundIds,
    data: bytes,
    name: str,
    message: str,
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    response = upload(client, proposal["id"], h, data, name=name)
    assert response.status_code == 422
    assert message in response.text
    assert 'href="#photo"' in response.text  # the error summary links to the file input
    assert ALT in response.text  # the alt text is kept for the next try
    assert photo_count(settings) == 0
    assert stored_files(settings) == []


def test_a_body_over_the_photo_limit_is_refused_before_it_is_read(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    response = upload(client, proposal["id"], h, b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024))
    assert response.status_code == 413
    assert "De foto is groter dan 10 MB." in response.text
    assert photo_count(settings) == 0
    # Other forms keep their small limit: the same body on the proposal form is refused too.
    other = client.post(
        f"/voorstellen/{proposal['id']}/bewerken",
        data={"_csrf_token": csrf_token(client)},
        files={"photo": ("f.jpg", b"\x00" * (1024 * 1024), "image/jpeg")},
        headers=h,
    )
    assert other.status_code == 413


def test_alt_text_is_required(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    missing = upload(client, proposal["id"], h, photo_bytes(), alt="   ")
    assert missing.status_code == 422
    assert "Beschrijf kort wat er op de foto te zien is" in missing.text
    assert 'href="#alt_text"' in missing.text
    both = upload(client, proposal["id"], h, photo_bytes("GIF"), alt="")
    assert both.status_code == 422
    assert "Beschrijf kort wat er op de foto te zien is" in both.text
    assert "JPEG-, PNG- of WebP" in both.text  # every problem at once
    too_long = upload(client, proposal["id"], h, photo_bytes(), alt="x" * 301)
    assert too_long.status_code == 422
    assert "hoogstens 300 tekens" in too_long.text
    assert photo_count(settings) == 0
    assert stored_files(settings) == []


def test_a_drafts_photo_is_seen_only_by_its_authors(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    draft = create_proposal(client, settings, ids, h, submit=False)
    assert upload(client, draft["id"], h, photo_bytes("PNG")).status_code == 303
    photo_id = int(scalar(settings, "SELECT id FROM proposal_photos"))
    url = f"/voorstellen/{draft['id']}/fotos/{photo_id}"
    own = client.get(url, headers=h)
    assert own.status_code == 200
    assert own.headers["cache-control"] == "private, max-age=3600"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/klein").status_code == 404
    assert client.get(url, headers=people.headers(settings, "other")).status_code == 404
    assert client.get(url, headers=people.headers(settings, "moderator")).status_code == 404
    # A photo id under another proposal's address is not found either.
    public = create_proposal(client, settings, ids, h)
    assert client.get(f"/voorstellen/{public['id']}/fotos/{photo_id}").status_code == 404


def test_author_removes_a_photo_others_cannot(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    upload(client, proposal["id"], h, photo_bytes())
    photo_id = int(scalar(settings, "SELECT id FROM proposal_photos"))
    remove_url = f"/voorstellen/{proposal['id']}/fotos/{photo_id}/verwijderen"
    other = people.headers(settings, "other")
    refused = client.post(remove_url, data={"_csrf_token": csrf_token(client)}, headers=other)
    assert refused.status_code == 403
    assert client.get(f"/voorstellen/{proposal['id']}/fotos", headers=other).status_code == 403
    assert photo_count(settings) == 1
    removed = client.post(
        remove_url, data={"_csrf_token": csrf_token(client)}, headers=h, follow_redirects=False
    )
    assert removed.status_code == 303
    assert photo_count(settings) == 0
    assert stored_files(settings) == []
    assert client.get(f"/voorstellen/{proposal['id']}/fotos/{photo_id}").status_code == 404


def test_at_most_five_photos(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    for _ in range(5):
        assert upload(client, proposal["id"], h, photo_bytes()).status_code == 303
    page = client.get(f"/voorstellen/{proposal['id']}/fotos", headers=h)
    assert "het hoogste aantal foto's (5)" in page.text
    sixth = upload(client, proposal["id"], h, photo_bytes())
    assert sixth.status_code == 422
    assert "hoogstens 5 foto's" in html.unescape(sixth.text)
    assert photo_count(settings) == 5
    assert len(stored_files(settings)) == 10


def test_photos_cannot_change_once_voting_opened(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    upload(client, proposal["id"], h, photo_bytes())
    photo_id = int(scalar(settings, "SELECT id FROM proposal_photos"))
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    refused = upload(client, proposal["id"], h, photo_bytes())
    assert refused.status_code == 409
    removal = client.post(
        f"/voorstellen/{proposal['id']}/fotos/{photo_id}/verwijderen",
        data={"_csrf_token": csrf_token(client)},
        headers=h,
    )
    assert removal.status_code == 409
    assert photo_count(settings) == 1
    assert len(stored_files(settings)) == 2
    # Still shown to everyone.
    assert client.get(f"/voorstellen/{proposal['id']}/fotos/{photo_id}").status_code == 200


def test_my_data_download_references_my_photos(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    upload(client, proposal["id"], h, photo_bytes())
    photo_id = int(scalar(settings, "SELECT id FROM proposal_photos"))
    exported = client.get("/mijn-account/gegevens.json", headers=h)
    assert exported.status_code == 200, exported.text
    (entry,) = exported.json()["proposals"]
    (photo,) = entry["photos"]
    assert photo["alt_text"] == ALT
    assert photo["url"] == f"{settings.base_url}/voorstellen/{proposal['id']}/fotos/{photo_id}"


def test_a_failed_commit_leaves_neither_file_nor_row(
    client: Client,
    settings: Settings,
    people: People,
    ids: RoundIds,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, h)
    token = csrf_token(client)

    async def failing_commit(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, Exception("schijf vol"))

    with monkeypatch.context() as patch:
        patch.setattr(AsyncSession, "commit", failing_commit)
        response = client.post(
            f"/voorstellen/{proposal['id']}/fotos",
            data={"alt_text": ALT, "_csrf_token": token},
            files={"photo": ("foto.jpg", photo_bytes(), "image/jpeg")},
            headers=h,
            follow_redirects=False,
        )
    assert response.status_code >= 500  # the database failed, not the resident's input
    assert photo_count(settings) == 0
    assert stored_files(settings) == []


def test_deleting_an_account_removes_the_photo_files_of_its_deleted_drafts(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    draft = create_proposal(client, settings, ids, h, submit=False)
    public = create_proposal(client, settings, ids, h)
    upload(client, draft["id"], h, photo_bytes())
    upload(client, public["id"], h, photo_bytes("PNG"))
    assert len(stored_files(settings)) == 4
    response = client.post(
        "/mijn-account/verwijderen",
        data={"password": RESIDENT_PASSWORD, "_csrf_token": csrf_token(client)},
        headers=h,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    # The draft and its photo are gone; the public proposal keeps its photo and files.
    assert photo_count(settings) == 1
    remaining = stored_files(settings)
    assert len(remaining) == 2
    assert all(p.parent.name == str(public["id"]) for p in remaining)
