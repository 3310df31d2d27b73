"""Drawing on the video: boxes with OpenCV, labels with Pillow (OpenCV's fonts cannot draw Thai).

Pillow shapes Thai through libraqm; a label is rendered once and reused while its text is unchanged.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.reports import FONT_FILE

GREEN, YELLOW, RED, BLUE, GREY = (60, 170, 60), (0, 190, 230), (50, 50, 220), (200, 120, 30), (120, 120, 120)  # BGR


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(str(FONT_FILE), size, layout_engine=ImageFont.Layout.RAQM)
    font.set_variation_by_axes([100, 600])  # width 100 %, semi-bold: readable over video
    return font


@lru_cache(maxsize=256)
def label_image(text: str, bgr: tuple[int, int, int], size: int = 18) -> np.ndarray:
    """A BGR strip with the text in white on the colour."""
    font = _font(size)
    left, _, right, _ = font.getbbox(text)
    pad = 4
    image = Image.new("RGB", (int(right - left) + 2 * pad, size + size // 2 + 2 * pad), bgr[::-1])
    ImageDraw.Draw(image).text((pad - left, pad), text, font=font, fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def paste(frame: np.ndarray, strip: np.ndarray, x: int, y: int) -> None:
    """Copy the strip onto the frame at (x, y), clipped to the frame."""
    h, w = frame.shape[:2]
    x, y = max(0, min(x, w - 1)), max(0, min(y, h - 1))
    sh, sw = min(strip.shape[0], h - y), min(strip.shape[1], w - x)
    frame[y:y + sh, x:x + sw] = strip[:sh, :sw]


def draw_face(frame: np.ndarray, box: tuple[int, int, int, int], lines: list[str],
              colour: tuple[int, int, int]) -> None:
    x, y, w, h = box
    cv2.rectangle(frame, (x, y), (x + w, y + h), colour, 2)
    strips = [label_image(line, colour) for line in lines if line]
    total = sum(s.shape[0] for s in strips)
    top = y - total if y - total >= 0 else y + h  # above the box, or below it at the top edge
    for strip in strips:
        paste(frame, strip, x, top)
        top += strip.shape[0]


def draw_banner(frame: np.ndarray, text: str, colour: tuple[int, int, int]) -> None:
    paste(frame, label_image(text, colour, 16), 0, 0)
