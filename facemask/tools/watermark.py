"""Stock-photo watermarks pasted on face crops: to check that the model does not read them as a class.

Watermarks occur in the training data only among the photos of incorrectly worn masks (web and stock
portraits), so a model could learn "watermark, so incorrect". `paste_watermark` draws the kinds seen there (a
large half-transparent brand name, a credit line with an image ID, a diagonal repeated pattern) at a random
place, size and angle; `python -m bench.watermark` compares a model's labels on the same faces with and without.
"""

from __future__ import annotations

import cv2
import numpy as np

BRANDS = ("alamy", "gettyimages", "shutterstock", "iStock", "depositphotos", "123RF", "Dreamstime", "Adobe Stock")
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)
KINDS = ("brand", "credit", "pattern")


def _text_layer(shape: tuple[int, int], texts: list[tuple[str, tuple[int, int], float, int]], font: int) -> np.ndarray:
    """A float mask (0..1) with each (text, origin, scale, thickness) drawn on it."""
    layer = np.zeros(shape, np.uint8)
    for text, origin, scale, thick in texts:
        cv2.putText(layer, text, origin, font, scale, 255, thick, cv2.LINE_AA)
    return layer.astype(np.float32) / 255


def _rotated(layer: np.ndarray, degrees: float) -> np.ndarray:
    h, w = layer.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(layer, matrix, (w, h), flags=cv2.INTER_LINEAR)


def _fitted_scale(text: str, font: int, width: float, thick: int) -> float:
    """The font scale at which `text` is `width` pixels wide."""
    (tw, _), _ = cv2.getTextSize(text, font, 1.0, thick)
    return width / max(tw, 1)


def watermark_mask(shape: tuple[int, int], rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """Where and how strongly a watermark covers an image of this (height, width): a float mask, 0..1."""
    h, w = shape
    kind = kind or str(rng.choice(KINDS))
    font = int(rng.choice(FONTS))
    brand = str(rng.choice(BRANDS))
    thick = max(1, round(min(h, w) / rng.uniform(60, 120)))
    if kind == "brand":
        scale = _fitted_scale(brand, font, w * rng.uniform(0.4, 0.9), thick)
        (tw, th), _ = cv2.getTextSize(brand, font, scale, thick)
        x = int(rng.uniform(-0.1, 0.1) * w + (w - tw) / 2)
        y = int(rng.uniform(0.3, 0.8) * h + th / 2)
        layer = _rotated(_text_layer(shape, [(brand, (x, y), scale, thick)], font), rng.uniform(-30, 30))
        return layer * rng.uniform(0.35, 0.6)
    if kind == "credit":
        line = f"{brand} {rng.choice(['stock photo', 'Credit: ', 'Image ID: '])}{rng.integers(10**6, 10**7)}"
        scale = _fitted_scale(line, font, w * rng.uniform(0.5, 0.95), max(1, thick // 2))
        y = int(h * rng.uniform(0.85, 0.97))
        return _text_layer(shape, [(line, (int(w * 0.03), y), scale, max(1, thick // 2))], font) * rng.uniform(0.5, 0.8)
    scale = _fitted_scale(brand, font, w * rng.uniform(0.25, 0.4), thick)
    (tw, th), _ = cv2.getTextSize(brand, font, scale, thick)
    step_x, step_y = int(tw * 1.3) + 1, int(th * 3) + 1
    texts = [(brand, (x, y), scale, thick) for y in range(-h, 2 * h, step_y) for x in range(-w, 2 * w, step_x)]
    big = _text_layer((3 * h, 3 * w), [(t, (x + w, y + h), s, k) for t, (x, y), s, k in texts], font)
    return _rotated(big, rng.uniform(20, 45))[h : 2 * h, w : 2 * w] * rng.uniform(0.2, 0.35)


def paste_watermark(image: np.ndarray, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """A copy of a BGR image with a watermark blended on: white or light grey, as stock sites draw them."""
    alpha = watermark_mask(image.shape[:2], rng, kind)[..., None]
    color = np.full(3, rng.uniform(200, 255), np.float32)
    return np.clip(image * (1 - alpha) + color * alpha, 0, 255).astype(np.uint8)
