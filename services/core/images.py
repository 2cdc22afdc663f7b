"""Decoding uploaded images safely, before any heavy work.

Order matters: the byte size is checked first, then the format is sniffed from the
magic bytes, then our own header reader (`read_header`, below) reads every claim the
header makes -- width and height (every JPEG SOF, the PNG IHDR, the WebP VP8/VP8L/VP8X
canvas), frame count (APNG acTL, WebP animation, more than one JPEG frame), bit depth,
colour model and coding process -- and each is checked against the limits; then Pillow
parses the header too and must agree; only then are the pixels decoded. A
decompression bomb (tiny file, huge declared canvas) is refused at the header step by
its declared size and never allocates its canvas. Decoding time and memory are bounded
because the pixel count is (about 30 ms and 3 bytes per pixel per megapixel here).
"""

from __future__ import annotations

import contextvars
import io
import struct
import warnings
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

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
    # 25 Mpx: a 20 Mpx camera photo passes; a 48 Mpx one is asked to be resized.
    max_pixels: int = 25_000_000
    min_side: int = 32
    # Long side / short side: 6 lets through panoramic-ish crops and phone screenshots
    # (2.2), refuses 32x8192 strips.
    max_aspect: float = 6.0
    # Declared raw bytes per encoded byte above which a large canvas is a bomb: photos
    # compress 5-30x, flat scans about 100x; a bomb compresses 1,000x.
    max_compression_ratio: float = 400.0


# A floor under `min_side` set for the current call (challenge photos need more pixels
# than a thumbnail); the interceptor sets it per RPC, so every decode path of the call
# (unary, streaming, worker threads) applies it.
_MIN_SIDE_FLOOR: contextvars.ContextVar[int] = contextvars.ContextVar("sv_image_min_side", default=0)


def set_min_side_floor(pixels: int) -> None:
    """Images decoded in the current context must be at least `pixels` on each side."""
    _MIN_SIDE_FLOOR.set(pixels)


@dataclass(frozen=True)
class HeaderClaims:
    """What an image's header says about it, read without decoding any pixel."""

    width: int
    height: int
    frames: int = 1
    bits: int = 8  # per channel
    channels: int = 3
    colour: str = "rgb"  # gray, rgb, rgba, gray_alpha, palette, cmyk
    coding: str = ""  # JPEG coding process ("baseline", "progressive", "lossless", ...)
    scan_offset: int = 0  # JPEG: where the first scan (entropy-coded data) starts


@dataclass(frozen=True)
class DecodedImage:
    """Pixels as an OpenCV-style BGR uint8 array, EXIF orientation applied.

    `scale` is the size of `bgr` relative to the uploaded picture: 1, or 1/2, 1/4, 1/8
    when a large JPEG was decoded at reduced size (`decode_image(reduce_to=...)`);
    `at_full_size()` then decodes it again at its own size."""

    bgr: np.ndarray
    media_type: str
    encoded_size: int
    scale: float = 1.0
    source: tuple[bytes, ImageLimits, str] | None = field(default=None, repr=False, compare=False)

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])

    def at_full_size(self) -> DecodedImage:
        """This image at the uploaded picture's own size (itself when it already is)."""
        if self.scale == 1.0 or self.source is None:
            return self
        data, limits, name = self.source
        return decode_image(data, limits, name)


def sniff_media_type(data: bytes) -> str | None:
    """The media type from the magic bytes, or None if not JPEG/PNG/WebP."""
    for magic, offset, media_type in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and data[:4] != b"RIFF":
                continue
            return media_type
    return None


class _HeaderError(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_JPEG_SOF = {
    0xC0: "baseline",
    0xC1: "extended",
    0xC2: "progressive",
    0xC3: "lossless",
    0xC5: "hierarchical",
    0xC6: "hierarchical",
    0xC7: "hierarchical",
    0xC9: "arithmetic",
    0xCA: "arithmetic",
    0xCB: "arithmetic",
    0xCD: "arithmetic",
    0xCE: "arithmetic",
    0xCF: "arithmetic",
}
_JPEG_DECODED = {"baseline", "extended", "progressive"}


def _jpeg_header(data: bytes) -> HeaderClaims:
    frames: list[HeaderClaims] = []
    i, n, scan = 2, len(data), 0
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise _HeaderError(Reason.IMAGE_CORRUPT, "a JPEG marker is missing (the header is damaged)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack_from(">H", data, i + 2)
        if length < 2:
            raise _HeaderError(Reason.IMAGE_CORRUPT, "a JPEG segment declares an impossible length")
        if marker in _JPEG_SOF:
            if i + 10 > n:
                break
            bits, height, width, comps = struct.unpack_from(">BHHB", data, i + 4)
            if length != 8 + 3 * comps:
                raise _HeaderError(Reason.IMAGE_CORRUPT, "the JPEG frame header is damaged")
            colour = {1: "gray", 3: "rgb", 4: "cmyk"}.get(comps, f"{comps}-channel")
            frames.append(HeaderClaims(width, height, 1, bits, comps, colour, _JPEG_SOF[marker]))
        if marker == 0xDA:  # start of scan: entropy-coded data follows, the header is over
            scan = i
            break
        i += 2 + length
    if not frames:
        raise _HeaderError(Reason.IMAGE_TRUNCATED, "the JPEG ends before its frame header (truncated upload)")
    first = frames[0]
    if len(frames) > 1:
        raise _HeaderError(Reason.IMAGE_ANIMATED, f"the JPEG declares {len(frames)} frames; send a single photo")
    if first.coding not in _JPEG_DECODED:
        raise _HeaderError(
            Reason.IMAGE_PIXEL_FORMAT_UNSUPPORTED,
            f"the JPEG uses {first.coding} coding; send an ordinary (baseline or progressive) JPEG",
        )
    if first.bits != 8:
        raise _HeaderError(
            Reason.IMAGE_PIXEL_FORMAT_UNSUPPORTED, f"the JPEG has {first.bits}-bit samples; send an 8-bit JPEG"
        )
    if first.channels not in (1, 3):
        raise _HeaderError(
            Reason.IMAGE_PIXEL_FORMAT_UNSUPPORTED,
            f"the JPEG's colour model is {first.colour} ({first.channels} channels); send an RGB or greyscale photo",
        )
    return replace(first, scan_offset=scan)


# PNG colour type -> (name, channels, allowed bit depths)
_PNG_COLOUR = {
    0: ("gray", 1, (1, 2, 4, 8, 16)),
    2: ("rgb", 3, (8, 16)),
    3: ("palette", 1, (1, 2, 4, 8)),
    4: ("gray_alpha", 2, (8, 16)),
    6: ("rgba", 4, (8, 16)),
}


def _png_header(data: bytes) -> HeaderClaims:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _HeaderError(Reason.IMAGE_CORRUPT, "the PNG does not start with its IHDR header")
    width, height, bits, ctype, compression, filt, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if ctype not in _PNG_COLOUR:
        raise _HeaderError(
            Reason.IMAGE_PIXEL_FORMAT_UNSUPPORTED, f"the PNG declares colour type {ctype}, which does not exist"
        )
    colour, channels, depths = _PNG_COLOUR[ctype]
    if bits not in depths:
        raise _HeaderError(
            Reason.IMAGE_PIXEL_FORMAT_UNSUPPORTED,
            f"the PNG declares {bits}-bit {colour} samples, which PNG does not allow",
        )
    if compression != 0 or filt != 0 or interlace not in (0, 1):
        raise _HeaderError(Reason.IMAGE_CORRUPT, "the PNG header names an unknown compression, filter or interlace")
    frames, i = 1, 33
    for _ in range(1000):  # chunks before the first IDAT; a hostile file gets no unbounded walk
        if i + 8 > len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, i)
        if kind == b"IDAT":
            break
        if kind == b"acTL" and i + 12 <= len(data):
            (frames,) = struct.unpack_from(">I", data, i + 8)
        i += 12 + length
    if frames != 1:
        raise _HeaderError(Reason.IMAGE_ANIMATED, f"the PNG is animated ({frames} frames); send a single photo")
    return HeaderClaims(width, height, frames, bits, channels, colour)


def _webp_header(data: bytes) -> HeaderClaims:
    kind = data[12:16]
    body = 20
    if kind == b"VP8X" and len(data) >= 30:
        flags = data[body]
        width = 1 + int.from_bytes(data[body + 4 : body + 7], "little")
        height = 1 + int.from_bytes(data[body + 7 : body + 10], "little")
        if flags & 0x02:
            raise _HeaderError(Reason.IMAGE_ANIMATED, "the WebP is animated; send a single photo")
        return HeaderClaims(width, height, 1, 8, 4 if flags & 0x10 else 3, "rgba" if flags & 0x10 else "rgb")
    if kind == b"VP8 " and len(data) >= 30:
        if data[body + 3 : body + 6] != b"\x9d\x01\x2a":
            raise _HeaderError(Reason.IMAGE_CORRUPT, "the WebP's VP8 frame has no start code")
        width, height = struct.unpack_from("<HH", data, body + 6)
        return HeaderClaims(width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L" and len(data) >= 25:
        if data[body] != 0x2F:
            raise _HeaderError(Reason.IMAGE_CORRUPT, "the WebP's lossless frame has no signature")
        (bits,) = struct.unpack_from("<I", data, body + 1)
        return HeaderClaims((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1, 8, 4, "rgba")
    raise _HeaderError(Reason.IMAGE_CORRUPT, "the WebP has no VP8, VP8L or VP8X frame header")


def read_header(data: bytes, media_type: str) -> HeaderClaims:
    """Every claim of the header of a JPEG, PNG or WebP, read without decoding.

    Raises DomainError-free `_HeaderError`s; `decode_image` turns them into refusals."""
    try:
        if media_type == "image/jpeg":
            return _jpeg_header(data)
        if media_type == "image/png":
            return _png_header(data)
        return _webp_header(data)
    except struct.error:
        raise _HeaderError(Reason.IMAGE_TRUNCATED, "the header ends early (truncated upload)") from None


def check_claims(claims: HeaderClaims, encoded_size: int, limits: ImageLimits, field: str) -> None:
    """Refuse what the header says before a pixel is decoded."""
    width, height = claims.width, claims.height
    if width == 0 or height == 0:
        raise invalid(
            Reason.IMAGE_DIMENSIONS_INVALID,
            f"{field} declares {width}x{height} px; an image needs a width and a height. Send the photo again",
            field,
        )
    _check_dimensions(width, height, limits, field)
    long_side, short_side = max(width, height), min(width, height)
    if long_side > limits.max_aspect * short_side:
        raise invalid(
            Reason.IMAGE_ASPECT_RATIO_UNSUPPORTED,
            f"{field} is {width:,}x{height:,} px, a strip {long_side / short_side:.1f} times longer than wide; "
            f"at most {limits.max_aspect:g} is accepted. Send the whole photo",
            field,
        )
    raw = width * height * claims.channels * max(claims.bits, 8) // 8
    if width * height > 4_000_000 and raw > limits.max_compression_ratio * encoded_size:
        raise invalid(
            Reason.IMAGE_TOO_LARGE_PIXELS,
            f"{field} declares {width:,}x{height:,} px in only {encoded_size:,} bytes (a decompression bomb); refused",
            field,
        )


# JPEG DCT scaling (libjpeg decodes at 1/2, 1/4 or 1/8 of the size directly, skipping
# most of the inverse transform and the colour conversion of the pixels it drops).
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def decode_image(
    data: bytes, limits: ImageLimits = ImageLimits(), field: str = "image", reduce_to: int = 0
) -> DecodedImage:
    """Decode `data` into BGR pixels or raise a DomainError with an image reason code.

    `field` is the request field path used in error messages and field violations.
    `reduce_to`: a JPEG whose longer side is at least twice this is decoded at the
    largest DCT reduction (1/2, 1/4, 1/8) that keeps the longer side at least this long
    (the result's `scale` says which); every check still applies to the uploaded size.
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

    floor = _MIN_SIDE_FLOOR.get()
    if floor > limits.min_side:
        limits = ImageLimits(
            limits.max_bytes, limits.max_side, limits.max_pixels, floor, limits.max_aspect, limits.max_compression_ratio
        )
    try:
        claims = read_header(data, media_type)
    except _HeaderError as exc:
        raise invalid(exc.reason, f"{field}: {exc}", field) from None
    check_claims(claims, size, limits, field)

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
    except Exception as exc:  # noqa: BLE001 - a decoder plugin's own bug on hostile bytes is still bad input
        raise _decode_failure(field, exc) from None

    if (width, height) != (claims.width, claims.height):
        raise invalid(
            Reason.IMAGE_DIMENSIONS_INVALID,
            f"{field}'s header declares {claims.width}x{claims.height} px but its image data {width}x{height}; refused",
            field,
        )
    _check_dimensions(width, height, limits, field)
    if getattr(img, "n_frames", 1) != 1:
        raise invalid(Reason.IMAGE_ANIMATED, f"{field} has more than one frame; send a single photo", field)

    _check_complete(data, media_type, claims.scan_offset, field)
    # The pixels: libjpeg-turbo / libpng / libwebp through OpenCV straight into one BGR
    # array (EXIF orientation applied). Pillow's load + transpose + convert + array copy
    # cost twice as long (11 ms against 5 ms on a 1 Mpx photo) for the same pixels.
    factor, flag = 1, cv2.IMREAD_COLOR
    if reduce_to > 0 and media_type == "image/jpeg":
        long_side = max(width, height)
        factor, flag = next(((d, f) for d, f in _REDUCED if long_side >= d * reduce_to), (1, cv2.IMREAD_COLOR))
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:
        raise _decode_failure(field, exc) from None
    except MemoryError:
        raise invalid(Reason.IMAGE_TOO_LARGE_PIXELS, f"{field} is too large to decode", field) from None
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise invalid(Reason.IMAGE_CORRUPT, f"{field} could not be decoded; send a valid image", field)
    # (A reduced decode is ceil(side / factor) on each side.)
    if sorted(bgr.shape[:2]) != sorted((-(-width // factor), -(-height // factor))):
        raise invalid(
            Reason.IMAGE_DIMENSIONS_INVALID,
            f"{field}'s header declares {width}x{height} px but its image data {bgr.shape[1]}x{bgr.shape[0]}; refused",
            field,
        )
    if factor == 1:
        return DecodedImage(bgr=bgr, media_type=media_type, encoded_size=size)
    return DecodedImage(
        bgr=bgr,
        media_type=media_type,
        encoded_size=size,
        scale=max(bgr.shape[:2]) / max(width, height),
        source=(data, limits, field),
    )


def _check_complete(data: bytes, media_type: str, scan_offset: int, field: str) -> None:
    """Refuse an upload cut short. OpenCV's decoders fill a truncated image with grey and
    go on, so the end of the file is checked here: a JPEG's end-of-image marker after its
    first scan (entropy-coded data never holds FF D9; an EXIF thumbnail's EOI comes before
    the scan), a PNG's IEND chunk, a WebP's RIFF length."""
    if media_type == "image/jpeg":
        complete = scan_offset > 0 and data.rfind(b"\xff\xd9") > scan_offset
    elif media_type == "image/png":
        complete = data.rfind(b"IEND") > 33
    else:
        (riff_size,) = struct.unpack_from("<I", data, 4)
        complete = len(data) >= riff_size + 8
    if not complete:
        raise invalid(
            Reason.IMAGE_TRUNCATED,
            f"{field} ends early (truncated upload); send the whole file again",
            field,
        )


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
