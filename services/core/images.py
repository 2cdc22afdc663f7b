"""Decoding uploaded images safely, before any heavy work.

Order matters: the byte size is checked first, then the format is sniffed from the
magic bytes, then the header is parsed (Pillow reads only the header on `open`) and
the declared dimensions are checked, and only then are the pixels decoded. A
decompression bomb (tiny file, huge declared canvas) is refused at the header step
and never allocates its canvas.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from services.core.errors import invalid
from services.core.reasons import Reason

# Pillow's own bomb guard raises above 2x this; ours (below) is stricter and runs first.
Image.MAX_IMAGE_PIXELS = 64_000_000

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
]
_KNOWN_OTHER: list[tuple[bytes, str]] = [
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
]
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class ImageLimits:
    """Operator-configurable limits (see Settings)."""

    max_bytes: int = 10 * 1024 * 1024
    max_side: int = 8192
    max_pixels: int = 40_000_000
    min_side: int = 32


@dataclass(frozen=True)
class DecodedImage:
    """Pixels as an OpenCV-style BGR uint8 array, EXIF orientation applied."""

    bgr: np.ndarray
    media_type: str
    encoded_size: int

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])


def sniff_media_type(data: bytes) -> str | None:
    """The media type from the magic bytes, or None if not JPEG/PNG/WebP."""
    for magic, offset, media_type in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and data[:4] != b"RIFF":
                continue
            return media_type
    return None


def decode_image(data: bytes, limits: ImageLimits = ImageLimits(), field: str = "image") -> DecodedImage:
    """Decode `data` into BGR pixels or raise a DomainError with an image reason code.

    `field` is the request field path used in error messages and field violations.
    """
    size = len(data)
    if size == 0:
        raise invalid(Reason.IMAGE_EMPTY, f"{field} is empty; send the JPEG, PNG or WebP bytes", field)
    if size > limits.max_bytes:
        raise invalid(
            Reason.IMAGE_TOO_LARGE_BYTES,
            f"{field} is {size:,} bytes; the limit is {limits.max_bytes:,} bytes. "
            "Send a JPEG of the photo instead of a raw or uncompressed file",
            field,
        )
    media_type = sniff_media_type(data)
    if media_type is None:
        for magic, name in _KNOWN_OTHER:
            if data.startswith(magic):
                raise invalid(
                    Reason.IMAGE_FORMAT_UNSUPPORTED,
                    f"{field} is a {name} file; send JPEG, PNG or WebP",
                    field,
                )
        raise invalid(Reason.IMAGE_CORRUPT, f"{field} is not a JPEG, PNG or WebP image", field)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[media_type]])
            width, height = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid(
            Reason.IMAGE_TOO_LARGE_PIXELS,
            f"{field} declares a canvas far larger than its file (a decompression bomb); refused",
            field,
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _decode_failure(field, exc) from None

    _check_dimensions(width, height, limits, field)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
            upright = ImageOps.exif_transpose(img) or img
            rgb = upright.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid(Reason.IMAGE_TOO_LARGE_PIXELS, f"{field} is a decompression bomb; refused", field) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _decode_failure(field, exc) from None
    except MemoryError:
        raise invalid(Reason.IMAGE_TOO_LARGE_PIXELS, f"{field} is too large to decode", field) from None

    arr = np.asarray(rgb, dtype=np.uint8)[:, :, ::-1]
    return DecodedImage(bgr=np.ascontiguousarray(arr), media_type=media_type, encoded_size=size)


def _check_dimensions(width: int, height: int, limits: ImageLimits, field: str) -> None:
    if width > limits.max_side or height > limits.max_side:
        raise invalid(
            Reason.IMAGE_TOO_LARGE_PIXELS,
            f"{field} is {width:,}x{height:,} px; the limit is {limits.max_side:,} px on a side. "
            "Resize the photo before uploading",
            field,
        )
    if width * height > limits.max_pixels:
        raise invalid(
            Reason.IMAGE_TOO_LARGE_PIXELS,
            f"{field} has {width * height:,} pixels; the limit is {limits.max_pixels:,}",
            field,
        )
    if width < limits.min_side or height < limits.min_side:
        raise invalid(
            Reason.IMAGE_TOO_SMALL,
            f"{field} is {width}x{height} px; at least {limits.min_side} px on a side is needed. "
            "Move closer or use the camera's full resolution",
            field,
        )


def _decode_failure(field: str, exc: BaseException) -> Exception:
    text = str(exc).lower()
    if "truncated" in text or "premature end" in text or "not enough data" in text or isinstance(exc, EOFError):
        return invalid(
            Reason.IMAGE_TRUNCATED,
            f"{field} ends early (truncated upload); send the whole file again",
            field,
        )
    return invalid(
        Reason.IMAGE_CORRUPT, f"{field} could not be decoded ({type(exc).__name__}); send a valid image", field
    )


def encode_jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    """Encode BGR pixels as JPEG (used for stored evidence and crops)."""
    img = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
