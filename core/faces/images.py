"""Decoding uploaded images with limits and plain errors (no crash on junk, no decompression bomb).

Every way a picture enters the app (enrollment photos and the bulk .zip, Identify, the line-up check, device
camera frames, the CLI) goes through `decode_image`, and OpenCV is asked to decode only after `frame_size`
has read the true width and height from the file's headers and found them within `max_pixels`. OpenCV
allocates the whole picture before it looks at the pixels: a 66 kB JPEG that declares 20000×20000 costs
2.4 GB and seconds if it reaches the decoder.

The headers are read by Pillow, a maintained parser (`Image.open` parses headers lazily and decodes no
pixels), not by a walker of our own: ours once took 0xFF fill bytes for a marker and read a fake 64×64 frame
from inside an APP1 segment.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image

# Pillow's names for the formats accepted (PPM covers PGM / PBM; JPEG covers a phone's multi-picture MPO). Only
# their header parsers run; a file of any other format is refused without being handed to OpenCV.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "PPM")


class ImageError(ValueError):
    pass


def _looks_like_jpeg_or_png(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8" or data[:4] == b"\x89PNG"


def frame_size(data: bytes, name: str, *, max_pixels: int) -> tuple[int, int]:
    """(width, height) from the file's headers, without decoding a pixel; ImageError when the picture cannot be
    read or is larger than `max_pixels`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                width, height = image.size
                frames = len(getattr(image, "layer", ())) // max(getattr(image, "layers", 1) or 1, 1)
    except Image.DecompressionBombError:
        # Pillow's own guard (far above ours): the header declares more pixels than it will even report.
        raise ImageError(f"{name}: the image is too large (limit {max_pixels / 1e6:.0f} megapixels)") from None
    except Exception:  # noqa: BLE001 - Pillow could not read the headers: neither is OpenCV asked to
        if _looks_like_jpeg_or_png(data):
            raise ImageError(f"{name}: a truncated or corrupt image (its header cannot be read)") from None
        raise ImageError(f"{name}: not an image (use a JPEG or PNG photo)") from None
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}×{height} pixels is too large (limit {max_pixels / 1e6:.0f} megapixels)")
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: a corrupt image ({width}×{height} pixels)")
    if frames > 1:
        # Two JPEG frame headers (SOF): decoders disagree on which one counts, so neither is trusted.
        raise ImageError(f"{name}: a corrupt JPEG (more than one frame header, or a malformed one)")
    return width, height


def decode_image(data: bytes, name: str, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    """A BGR uint8 image, or ImageError saying why not."""
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise ImageError(f"{name}: {len(data) / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.0f} MB limit")
    frame_size(data, name, max_pixels=max_pixels)
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        # libjpeg decodes a cut-off JPEG into a half-grey picture without complaint; refuse it here.
        raise ImageError(f"{name}: the JPEG is truncated (the upload or copy was cut off)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        kind = "a truncated or corrupt image" if _looks_like_jpeg_or_png(data) else "not an image"
        raise ImageError(f"{name}: {kind} (use a JPEG or PNG photo)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: the image is too large")
    return image
