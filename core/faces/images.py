"""Decoding uploaded images with limits and plain errors (no crash on junk, no decompression bomb)."""

from __future__ import annotations

import io
import struct
import warnings

import cv2
import numpy as np
from PIL import Image


class ImageError(ValueError):
    pass


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header, read before decoding the pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None


def _other_size(data: bytes, name: str) -> tuple[int, int] | None:
    """Width and height of any other format OpenCV would decode (WebP, TIFF, BMP, ...), from its header only.

    OpenCV allocates the whole picture before it looks at the pixels, so a few kB of WebP or TIFF that
    declare 16000×16000 pixels would cost gigabytes if decoded first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: the image is too large") from None
    except Exception:  # noqa: BLE001 - not an image Pillow knows: OpenCV is not asked either
        return None


def decode_image(data: bytes, name: str, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    """A BGR uint8 image, or ImageError saying why not."""
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise ImageError(f"{name}: {len(data) / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.0f} MB limit")
    size = _declared_size(data)
    if size is None:
        size = _other_size(data, name)
        if size is None and data[:2] != b"\xff\xd8" and data[:4] != b"\x89PNG":
            raise ImageError(f"{name}: not an image (use a JPEG or PNG photo)")
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"{name}: {size[0]}×{size[1]} pixels is too large (limit {max_pixels / 1e6:.0f} megapixels)")
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        # libjpeg decodes a cut-off JPEG into a half-grey picture without complaint; refuse it here.
        raise ImageError(f"{name}: the JPEG is truncated (the upload or copy was cut off)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        kind = "a truncated or corrupt image" if data[:2] == b"\xff\xd8" or data[:4] == b"\x89PNG" else "not an image"
        raise ImageError(f"{name}: {kind} (use a JPEG or PNG photo)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: the image is too large")
    return image
