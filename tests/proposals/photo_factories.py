"""Images made on the spot for photo tests: real JPEG/PNG/WebP/GIF bytes, with or without EXIF."""

from __future__ import annotations

import io

from PIL import ExifTags, Image

GPS_IFD = ExifTags.IFD.GPSInfo


def photo_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (400, 300),
    *,
    colour: tuple[int, int, int] = (30, 120, 200),
    gps: bool = False,
    orientation: int | None = None,
    mode: str = "RGB",
) -> bytes:
    """An image in ``fmt``; ``gps`` adds a camera make and a GPS position (Amsterdam) to EXIF."""
    image = Image.new(mode, size, colour if mode in {"RGB", "RGBA"} else 1)
    if mode == "RGB":
        # A second colour in the left half, so an orientation change is visible in the pixels.
        image.paste((250, 200, 0), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    exif = Image.Exif()
    if gps:
        exif[ExifTags.Base.Make] = "TestCamera"
        exif[ExifTags.Base.Model] = "Serial 12345"
        exif[GPS_IFD] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (52.0, 22.0, 1.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (4.0, 53.0, 2.0),
        }
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if len(exif):
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif().get_ifd(GPS_IFD))


def metadata_of(data: bytes) -> tuple[str | None, dict[int, object], set[str]]:
    """(format, EXIF tags, names of metadata blocks in ``info``) of an image file."""
    with Image.open(io.BytesIO(data)) as image:
        exif = dict(image.getexif())
        blocks = {key for key in image.info if key in {"exif", "xmp", "icc_profile", "comment"}}
        return image.format, exif, blocks


def bomb_png(size: tuple[int, int] = (10_000, 6_000)) -> bytes:
    """A 1-bit PNG of 60 megapixels: a few kilobytes that would decode to hundreds of MB in RGB."""
    out = io.BytesIO()
    Image.new("1", size, 0).save(out, "PNG", optimize=True)
    return out.getvalue()
