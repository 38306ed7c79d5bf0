"""Checking, cleaning and resizing uploaded photos (``proposals/images.py``), without the app."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.proposals.images import (
    FULL_SIZE,
    MAX_PHOTO_BYTES,
    THUMB_SIZE,
    process_photo,
)
from tests.proposals.photo_factories import bomb_png, has_gps, metadata_of, photo_bytes


def _refusal(data: bytes) -> str:
    with pytest.raises(ValidationFailed) as info:
        process_photo(data)
    assert set(info.value.fields) == {"photo"}
    return info.value.fields["photo"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_each_accepted_format_becomes_webp_in_two_sizes(fmt: str) -> None:
    result = process_photo(photo_bytes(fmt, (2400, 1800)))
    assert result.source_format == fmt
    assert metadata_of(result.full)[0] == "WEBP"
    assert metadata_of(result.thumb)[0] == "WEBP"
    assert (result.width, result.height) == (FULL_SIZE, 1200)
    assert (result.thumb_width, result.thumb_height) == THUMB_SIZE
    with Image.open(io.BytesIO(result.full)) as full:
        assert full.size == (result.width, result.height)


def test_a_small_photo_is_not_enlarged() -> None:
    result = process_photo(photo_bytes("PNG", (300, 200)))
    assert (result.width, result.height) == (300, 200)


def test_exif_and_gps_are_gone_from_both_files() -> None:
    source = photo_bytes("JPEG", (800, 600), gps=True)
    assert has_gps(source)  # the test photo really carries a position
    assert metadata_of(source)[1]  # and camera tags
    result = process_photo(source)
    for stored in (result.full, result.thumb):
        _fmt, exif, blocks = metadata_of(stored)
        assert exif == {}
        assert not has_gps(stored)
        assert blocks == set()


def test_the_camera_orientation_is_applied_to_the_pixels() -> None:
    # Orientation 6: the camera was turned; viewers rotate 90 degrees clockwise to show it.
    result = process_photo(photo_bytes("JPEG", (800, 400), orientation=6))
    assert result.height > result.width
    with Image.open(io.BytesIO(result.full)) as full:
        # The yellow left half of the stored pixels is on top after the rotation.
        top = full.convert("RGB").getpixel((full.width // 2, 5))
        bottom = full.convert("RGB").getpixel((full.width // 2, full.height - 5))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 200
    assert bottom[2] > 150


def test_transparency_is_kept() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (200, 200), (10, 20, 30, 100)).save(out, "PNG")
    result = process_photo(out.getvalue())
    with Image.open(io.BytesIO(result.full)) as full:
        assert full.mode == "RGBA"
        pixel = full.getpixel((100, 100))
        assert isinstance(pixel, tuple)
        assert 80 <= pixel[3] <= 120


def test_a_file_by_its_bytes_not_its_name_gif_is_refused() -> None:
    assert "JPEG-, PNG- of WebP" in _refusal(photo_bytes("GIF"))


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7 not a photo", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\x89PNG\r\n"],
)
def test_other_files_are_refused(data: bytes) -> None:
    message = _refusal(data)
    assert "JPEG-, PNG- of WebP" in message or "beschadigd" in message


def test_a_truncated_photo_is_refused_as_damaged() -> None:
    whole = photo_bytes("JPEG", (1200, 900))
    assert "beschadigd" in _refusal(whole[: len(whole) // 2])


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    data = bomb_png()
    assert len(data) < 200_000  # small on disk...
    assert "te veel beeldpunten" in _refusal(data)  # ...60 megapixels when decoded


def test_pillows_own_bomb_limit_is_a_refusal_too() -> None:
    # Beyond twice Pillow's MAX_IMAGE_PIXELS Image.open raises by itself.
    assert "te veel beeldpunten" in _refusal(bomb_png((20_000, 10_000)))


def test_too_large_and_empty_files_are_refused() -> None:
    assert "groter dan 10 MB" in _refusal(b"\xff\xd8" + b"\x00" * MAX_PHOTO_BYTES)
    assert "Kies een foto" in _refusal(b"")


def test_a_large_jpeg_decoded_at_reduced_scale_still_fills_the_display_size() -> None:
    # 4000 x 2400 decodes at 1/2 (2000 x 1200), which still covers 1600 on the longest side.
    result = process_photo(photo_bytes("JPEG", (4000, 2400)))
    assert (result.width, result.height) == (FULL_SIZE, 960)


_VALID = {fmt: photo_bytes(fmt, (64, 48), gps=fmt == "JPEG") for fmt in ("JPEG", "PNG", "WEBP")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(_VALID)),
    changes=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)), max_size=8
    ),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_damaged_files_are_refused_never_crash(
    fmt: str, changes: list[tuple[int, int]], cut: int
) -> None:
    """Whatever happens to the bytes of a real photo, the answer is a photo or a refusal with a
    Dutch message on the field: never another exception (which would be a 500)."""
    data = bytearray(_VALID[fmt])
    for position, value in changes:
        data[position % len(data)] = value
    damaged = bytes(data[: max(1, len(data) - cut % len(data))])
    refused: set[str] = set()
    try:
        result = process_photo(damaged)
    except ValidationFailed as refusal:
        refused = set(refusal.fields)
    if refused:
        assert refused == {"photo"}
    else:
        assert metadata_of(result.full)[0] == "WEBP"
        assert not has_gps(result.full)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_refused_never_crash(data: bytes) -> None:
    with pytest.raises(ValidationFailed):
        process_photo(data)
