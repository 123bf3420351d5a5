"""Mask templates: MaskTheFace's masks.cfg with its RGBA mask images and six anchors each, and print textures."""

from __future__ import annotations

import configparser
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facemask.errors import warn
from facemask.images import resize_longest

ANCHOR_NAMES = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
EXCLUDED_FAMILIES = ("gas",)  # gas masks / respirators are not what the product calls a face mask
TEXTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Template:
    """A mask image with transparency and its six anchors: a, b, c along the top edge, d, e, f along the bottom."""

    name: str
    family: str  # the name without _left/_right: the same mask seen from another side
    view: str  # "front", "left" (mask centre towards image-left: face turned to image-left) or "right"
    image: np.ndarray  # HxWx4 BGRA uint8
    anchors: np.ndarray  # 6x2 float32, template pixels, in the order a..f


def _view(name: str) -> tuple[str, str]:
    for view in ("left", "right"):
        if name.endswith(f"_{view}"):
            return name[: -len(view) - 1], view
    return name, "front"


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(image.shape[:2]))
    return (resize_longest(image, max_side) if scale < 1.0 else image), scale


def parse_masks_cfg(text: str) -> dict[str, dict[str, object]]:
    """Parse MaskTheFace's masks.cfg: {section: {"template": path, "anchors": 6x2 array}}.

    Sections without a template (`[empty]`, `[inpaint]`) or without all six anchors are left out; `;` lines are
    comments (the cfg keeps an old N95_left that way).
    """
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    cfg.read_string(text)
    out: dict[str, dict[str, object]] = {}
    for name in cfg.sections():
        section = cfg[name]
        if "template" not in section or not all(key in section for key in ANCHOR_NAMES):
            continue
        anchors = np.array([[float(v) for v in section[key].split(",")] for key in ANCHOR_NAMES], np.float32)
        out[name] = {"template": section["template"].strip(), "anchors": anchors}
    return out


def load_templates(folder: str | Path, exclude: Sequence[str] = EXCLUDED_FAMILIES,
                   max_side: int = 400) -> list[Template]:
    """Read `folder/masks.cfg` and the RGBA images in `folder/templates/`.

    The cfg's paths say `masks/templates/x.png` (MaskTheFace's layout): only the file name is used. Images are
    shrunk to `max_side` (anchors scaled with them) since crops are at most 256 px: smaller templates warp faster
    and alias less.
    """
    folder = Path(folder)
    entries = parse_masks_cfg((folder / "masks.cfg").read_text(encoding="utf-8"))
    templates = []
    for name, entry in entries.items():
        family, view = _view(name)
        if any(family.lower().startswith(prefix.lower()) for prefix in exclude):
            continue
        path = folder / "templates" / Path(str(entry["template"])).name
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] != 4:
            warn(f"{path}: missing or not an RGBA image; template {name} skipped")
            continue
        image, scale = _shrink(image, max_side)
        anchors = np.asarray(entry["anchors"], np.float32) * scale
        templates.append(Template(name, family, view, image, anchors))
    return templates


def load_textures(folder: str | Path, max_side: int = 512) -> list[np.ndarray]:
    """Every image under `folder` (e.g. mask-templates/textures/*/*) as BGR uint8; transparent parts become white."""
    textures = []
    folder = Path(folder)
    if not folder.is_dir():
        return textures
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in TEXTURE_SUFFIXES:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            alpha = image[:, :, 3:].astype(np.float32) / 255
            image = (image[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
        textures.append(_shrink(image, max_side)[0])
    return textures
