"""Thumbnails of per-step images (Pillow), made while copying from the bytes already read: where they
go in the site, the bytes each may take of --max-site-size, and the refusal of images that are broken
or too large to decode.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Callable

THUMB_SIDE = 256  # pixels, the longer side (MLflow's own previews are 256 too)
# What a thumbnail may take of the site budget, reserved when the copies are planned (the bytes are only
# known once it is made): a small image reserves its own size, a large one THUMB_MAX_BYTES, and a
# thumbnail that cannot be encoded within its reservation is not written.
THUMB_MAX_BYTES = 24 * 1024
THUMB_MIN_BYTES = 4 * 1024
QUALITIES = (80, 60, 40)
# Decoding costs memory by pixels, not bytes: a 100-byte PNG can claim 10^10 pixels. Anything larger is
# refused before decoding (Pillow's own guard warns at 89 M pixels and refuses only at twice that).
MAX_SOURCE_PIXELS = 40_000_000
THUMBS_DIR = "thumbs"
# The decoders a thumbnail may use: the image types a page shows (preview.IMAGE_EXTENSIONS). Pillow would
# otherwise pick one by the file's first bytes, whatever its name: EPS (which runs Ghostscript), PSD, FITS...
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "ICO", "AVIF")


class ThumbnailError(Exception):
    """An image that cannot be made into a thumbnail; the message says why."""


def reservation(size: int | None) -> int:
    """The bytes a thumbnail of an image of `size` bytes may take."""
    return min(THUMB_MAX_BYTES, max(THUMB_MIN_BYTES, size or 0))


def thumb_href(run_dir: str, copy_name: str) -> str:
    """Where the thumbnail of the file copied as `copy_name` (copy.safe_file_name: its hash makes it
    unique) goes, relative to the site root."""
    return f"{run_dir}/{THUMBS_DIR}/{copy_name}.webp"


def make_thumbnail(data: bytes, *, limit: int) -> bytes:
    """A WebP of at most THUMB_SIDE pixels a side and `limit` bytes; raises ThumbnailError."""
    try:
        from PIL import Image, ImageOps
    except ImportError:  # Pillow is a dependency; a broken install still builds, without thumbnails
        raise ThumbnailError("Pillow is not installed") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.init()  # registers every decoder once, so that the names below are known
            with Image.open(io.BytesIO(data), formats=[name for name in FORMATS if name in Image.OPEN]) as image:
                width, height = image.size
                if width < 1 or height < 1 or width * height > MAX_SOURCE_PIXELS:
                    raise ThumbnailError(f"{width}x{height} is too many pixels (over {MAX_SOURCE_PIXELS:,})")
                image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # JPEG: decode at a reduced scale
                image.thumbnail((THUMB_SIDE, THUMB_SIDE))
                small = ImageOps.exif_transpose(image)
                small = small.convert("RGBA" if _has_alpha(small) else "RGB")
    except ThumbnailError:
        raise
    except Image.UnidentifiedImageError:  # (its message names an object's address: not the same twice)
        raise ThumbnailError(f"not an image of a type pages show ({', '.join(FORMATS)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ThumbnailError(f"too many pixels ({str(exc)[:200]})") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, MemoryError, ZeroDivisionError) as exc:
        # Pillow's plugins raise any of these for truncated, corrupt or unknown data.
        raise ThumbnailError(f"not a readable image ({type(exc).__name__}: {str(exc)[:200]})") from None
    for quality in QUALITIES:
        out = io.BytesIO()
        small.save(out, format="WEBP", quality=quality, method=4)
        if out.tell() <= limit:
            return out.getvalue()
    raise ThumbnailError(f"its thumbnail is larger than the {limit:,} bytes it may take")


def _has_alpha(image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def write_thumbnail(data: bytes, target: Path, *, limit: int, warn: Callable[[str], None]) -> bool:
    """Writes the thumbnail of `data` at `target`; an image that cannot have one is warned about (the
    pages then show its caption in place of the picture, and link the full file)."""
    try:
        thumb = make_thumbnail(data, limit=limit)
    except ThumbnailError as exc:
        warn(f"no thumbnail: {exc}")
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(thumb)
    return True
