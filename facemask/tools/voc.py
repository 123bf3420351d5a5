"""Pascal VOC annotations (one XML file per photo, one <object> per face), as the public face-mask datasets
ship them: read by the dataset tool to cut faces out and by the evaluation to score detections."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from facemask.errors import DatasetError
from facemask.images import IMAGE_SUFFIXES


class VocError(DatasetError):
    """An annotation file that cannot be read or parsed."""


@dataclass
class VocAnnotation:
    filename: str
    size: tuple[int, int] | None  # (width, height) as annotated; None when absent
    objects: list[tuple[str, tuple[float, float, float, float] | None]]  # (label, box or None if malformed)


_JUNK_AFTER_BNDBOX = re.compile(rb"(</bndbox>).*?(?=</object>)", re.DOTALL)
_BARE_AMPERSAND = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)")


def parse_xml(data: bytes) -> ET.Element:
    """Parse VOC XML. Some files carry junk text after </bndbox> (a stray file path): harmless as XML tail
    text, but if it breaks the XML (a bare & or <), drop all that follows </bndbox> within its <object>
    (nothing we read lies there) and escape bare & before giving up."""
    try:
        return ET.fromstring(data)
    except ET.ParseError:
        cleaned = _BARE_AMPERSAND.sub(b"&amp;", _JUNK_AFTER_BNDBOX.sub(rb"\1", data))
        return ET.fromstring(cleaned)


def _number(element: ET.Element, tag: str) -> float | None:
    try:
        return float((element.findtext(tag) or "").strip())
    except ValueError:
        return None


def read_voc(path: Path) -> VocAnnotation:
    """The annotation's image name, size and (label, box) objects; a VocError when the file cannot be read."""
    try:
        root = parse_xml(path.read_bytes())
    except (OSError, ET.ParseError) as e:
        raise VocError(f"unparsable XML: {e}") from e
    width, height = _number(root, "size/width"), _number(root, "size/height")
    size = (int(width), int(height)) if width and height else None
    objects = []
    for obj in root.iter("object"):
        coords = [_number(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        box = tuple(coords) if None not in coords else None
        objects.append(((obj.findtext("name") or "").strip(), box))
    return VocAnnotation((root.findtext("filename") or "").strip(), size, objects)


def find_voc_image(images_dir: Path, annotation: VocAnnotation, stem: str) -> Path | None:
    """The image an annotation describes: its <filename>, else one named like the XML file."""
    names = [Path(annotation.filename).name] if annotation.filename else []
    names += [stem + suffix for suffix in IMAGE_SUFFIXES]
    return next((images_dir / n for n in names if (images_dir / n).is_file()), None)
