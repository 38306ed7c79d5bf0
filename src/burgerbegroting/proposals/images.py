"""Turning an uploaded photo into the two files we store: a display size and a card thumbnail.

Pure functions over bytes (Pillow, no database, no web). What a resident uploads is never stored or
served as is:

* the type is read from the bytes (Pillow's JPEG, PNG and WebP decoders only), never from the file
  name or the browser's content type;
* the pixel count is checked from the header *before* the image is decoded, so a small file that
  unpacks to gigapixels (a decompression bomb) is refused without the memory it would take;
  Pillow's own ``DecompressionBombWarning``/``Error`` are refusals too; a large JPEG is decoded
  at a reduced scale that is still at least the display size (``Image.draft``);
* the orientation the camera wrote in EXIF is applied to the pixels, then the pixels are copied
  into a fresh image, so EXIF (GPS position, camera serial), XMP, comments and the like cannot ride
  along into the saved file;
* a colour profile is converted to sRGB (what browsers assume) rather than kept;
* both files are re-encoded as WebP (every current browser shows it; one format keeps serving and
  caching simple).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention

MAX_PHOTO_BYTES = 10 * 1024 * 1024
"""The largest file accepted (10 MiB): a phone's full-size JPEG is 3-8 MB."""
MAX_PHOTO_PIXELS = 50_000_000
"""50 megapixels: above any phone camera, far below what would exhaust a worker's memory (a
50 MP RGBA image decodes to 200 MB; Pillow's own warning starts at 89 MP)."""
FULL_SIZE = 1600
"""The longest side of the display size, in pixels."""
THUMB_SIZE = (640, 480)
"""The card thumbnail: cropped to 4:3 around the centre, so cards line up."""
WEBP_QUALITY = 82
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
MEDIA_TYPE = "image/webp"

WRONG_TYPE = N_("Dit bestand is geen foto in JPEG-, PNG- of WebP-formaat.")
TOO_LARGE = N_("De foto is groter dan 10 MB. Kies een kleinere foto.")
TOO_MANY_PIXELS = N_(
    "De foto heeft te veel beeldpunten (meer dan 50 megapixel). Kies een kleinere foto."
)
CORRUPT = N_("De foto kon niet worden gelezen: het bestand is beschadigd of onvolledig.")
EMPTY = N_("Kies een foto om te uploaden.")


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """The two WebP files to store and their sizes in pixels."""

    full: bytes
    width: int
    height: int
    thumb: bytes
    thumb_width: int
    thumb_height: int
    source_format: str


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(_(message), fields={"photo": _(message)})


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels converted from an embedded colour profile to sRGB; unchanged without one. A profile
    that cannot be read is ignored (the photo is still shown, perhaps with slightly off colours)."""
    if not icc or image.mode not in {"RGB", "RGBA"}:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _fresh_copy(image: Image.Image) -> Image.Image:
    """The same pixels in a new image that has no ``info`` (no EXIF, XMP, comments, profile)."""
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    _fresh_copy(image).save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    """The decoded first frame, or a refusal saying why not."""
    if not data:
        raise _refuse(EMPTY)
    if len(data) > MAX_PHOTO_BYTES:
        raise _refuse(TOO_LARGE)
    with warnings.catch_warnings():
        # Damaged metadata (EXIF we drop anyway) only warns: not a reason to refuse the photo.
        warnings.simplefilter("ignore")
        # Pillow warns (and with warnings as errors: raises) between 89 and 179 MP, raises above.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError:
            raise _refuse(WRONG_TYPE) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse(TOO_MANY_PIXELS) from None
        except (OSError, SyntaxError, ValueError):
            raise _refuse(CORRUPT) from None
        if image.format not in ACCEPTED_FORMATS:
            raise _refuse(WRONG_TYPE)
        width, height = image.size
        if width < 1 or height < 1 or width * height > MAX_PHOTO_PIXELS:
            raise _refuse(TOO_MANY_PIXELS)
        try:
            image.seek(0)  # an animated PNG or WebP: its first frame
            if image.format == "JPEG":
                # Let the JPEG decoder scale by 1/2, 1/4 or 1/8 while decoding, never below the
                # display size: a 50 MP photo then takes a quarter of the memory and time.
                k = min(1.0, FULL_SIZE / max(width, height))
                image.draft("RGB", (math.ceil(width * k), math.ceil(height * k)))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse(TOO_MANY_PIXELS) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise _refuse(CORRUPT) from None
    return image


def process_photo(data: bytes) -> ProcessedPhoto:
    """Check an upload and make its display size and thumbnail (see the module docstring).

    Raises ``ValidationFailed`` on the field ``photo`` with a Dutch message for an empty, too
    large, unknown, over-sized (in pixels) or damaged file. CPU-bound: call it in a thread.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged EXIF warns while it is read; it is dropped
        return _process(_open(data))


def _process(image: Image.Image) -> ProcessedPhoto:
    source_format = str(image.format)
    icc = image.info.get("icc_profile")
    try:
        oriented = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError):
        oriented = image  # unreadable EXIF: the pixels as stored
    has_alpha = oriented.mode in {"RGBA", "LA", "PA"} or (
        oriented.mode == "P" and "transparency" in oriented.info
    )
    try:
        rgb = oriented.convert("RGBA" if has_alpha else "RGB")
    except (OSError, ValueError):
        raise _refuse(CORRUPT) from None
    rgb = _to_srgb(rgb, icc if isinstance(icc, bytes) else None)
    full = rgb.copy()
    full.thumbnail((FULL_SIZE, FULL_SIZE), Image.Resampling.LANCZOS)
    thumb = ImageOps.fit(rgb, THUMB_SIZE, Image.Resampling.LANCZOS)
    return ProcessedPhoto(
        full=_webp(full),
        width=full.width,
        height=full.height,
        thumb=_webp(thumb),
        thumb_width=thumb.width,
        thumb_height=thumb.height,
        source_format=source_format,
    )
