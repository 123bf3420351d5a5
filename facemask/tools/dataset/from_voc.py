"""Faces from Pascal VOC photos (images/ and annotations/), each with its annotated box."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facemask.faces import clip_box, crop_box
from facemask.labels import canonical_label
from facemask.tools.voc import VocAnnotation, VocError, find_voc_image, read_voc

from .crops import SYNTHETIC_SOURCES, Crop, Report, load_with_hash, relative, safe_stem
from .framing import expand_to_detector_box, reframer


def voc_face_name(source: str, stem: str, index: int) -> str:
    """The name of a VOC face's crop, e.g. face-mask-voc_maksssksksss0_2: what label_fixes.csv refers to."""
    return f"{source}_{safe_stem(stem)}_{index}"


def voc_faces(image: np.ndarray, image_hash: str, annotation: VocAnnotation, *, source: str,
              source_image: str, stem: str, min_size: int, report: Report) -> Iterator[Crop]:
    """Crops of the labelled faces of one image big enough to classify, each framed like an SSD box."""
    h, w = image.shape[:2]
    for index, (name, box) in enumerate(annotation.objects):
        label = canonical_label(name)
        if label is None:
            report.unknown_labels[name or "<empty>"] += 1
            continue
        if box is None:
            report.warn(f"{source_image} object {index}", "no valid <bndbox>")
            continue
        gt = clip_box(box, w, h)
        if min(gt[2] - gt[0], gt[3] - gt[1]) < min_size:
            report.too_small[source] += 1
            continue
        if not report.first_time(f"{image_hash}:{gt}", label, source):
            continue
        detector_box = expand_to_detector_box(gt, w, h)
        name = voc_face_name(source, stem, index)
        yield Crop(crop_box(image, detector_box), label, source, source_image, image_hash, detector_box,
                   name, source in SYNTHETIC_SOURCES, reframe=reframer(image, gt, name))


def import_voc(images_dir: str | Path, annotations_dir: str | Path, *, source: str | None = None,
               root: str | Path | None = None, min_size: int = 32,
               report: Report | None = None) -> Iterator[Crop]:
    """Face crops from a Pascal VOC set (`<source>/images`, `<source>/annotations`), framed like the SSD's.

    `source` defaults to the folder above `images_dir`, `root` (what `source_image` is relative to) to the
    folder above that. Unknown labels are counted, faces with a shorter side below `min_size` px (in the
    original image) skipped, and faces already seen (same image bytes, same box) dropped.
    """
    images_dir, annotations_dir = Path(images_dir), Path(annotations_dir)
    source = source or images_dir.resolve().parent.name
    root = Path(root) if root is not None else images_dir.resolve().parent.parent
    report = report if report is not None else Report()
    for xml_path in sorted(annotations_dir.glob("*.xml")):
        try:
            annotation = read_voc(xml_path)
        except VocError as e:
            report.bad_xml.append(str(xml_path))
            report.warn(xml_path, str(e))
            continue
        image_path = find_voc_image(images_dir, annotation, xml_path.stem)
        if image_path is None:
            report.warn(xml_path, f"no image {annotation.filename or xml_path.stem} in {images_dir}")
            continue
        loaded = load_with_hash(image_path, report)
        if loaded is None:
            continue
        image, image_hash = loaded
        if annotation.size and annotation.size != (image.shape[1], image.shape[0]):
            report.warn(image_path, f"image is {image.shape[1]}x{image.shape[0]}, annotation says "
                                    f"{annotation.size[0]}x{annotation.size[1]}")
            continue
        yield from voc_faces(image, image_hash, annotation, source=source,
                             source_image=relative(image_path, root), stem=image_path.stem,
                             min_size=min_size, report=report)
