"""At what size in YuNet's input does it stop finding faces? And does `min_face` keep the faces worth finding?

    python -m bench.face_size [--voc ../shared/datasets/ilc2021-train ...] [--upscale 2.4]

Part 1, recall by input size: every annotated photo is shrunk by several factors and given to one YuNet pass at
that size; each face whose annotated box is at least 40 px in the original photo (so that it is clearly a face)
is counted at the shorter side its box has in YuNet's input. This is what `faces.RELIABLE_SIDE` comes from.

Part 2, `min_face` on photos upscaled as an HD camera would see them: each photo enlarged `--upscale` times,
then the faces of `min_face` px or more found with `MaskDetector`'s face finder at full resolution
(min_face=None) and with `min_face`; recall (IoU >= 0.4 against the annotated box widened to the SSD's framing,
as `evaluate --voc` counts) and time per photo, from the same run.

Needs the annotated photos of ../shared/datasets (or your own Pascal VOC folders).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from facemask.faces import YuNetFaceFinder
from facemask.scanning import RELIABLE_SIDE
from facemask.tools.evaluate.matching import match, widened
from facemask.tools.voc import find_voc_image, read_voc

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VOC = [ROOT.parent / "shared" / "datasets" / name for name in ("ilc2021-train", "face-mask-voc-hires")]
SHRINK = (1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.125, 0.09)
INPUT_BINS = (4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 64, 128)
CLEAR_FACE = 40  # px in the original photo
IOU = 0.4
FRAMING = 0.1  # the annotated box widened by this much a side, close to the framing the finder returns


def photos(folders: list[Path]):
    """(image, annotated boxes) of every readable photo."""
    for folder in folders:
        for xml in sorted((folder / "annotations").glob("*.xml")):
            note = read_voc(xml)
            path = find_voc_image(folder / "images", note, xml.stem)
            image = cv2.imread(str(path)) if path else None
            boxes = [box for _, box in note.objects if box is not None]
            if image is not None and boxes:
                yield image, np.array(boxes, float)


def recall_by_input_size(folders: list[Path], confidence: float) -> None:
    finder = YuNetFaceFinder(confidence=confidence)
    found = np.zeros(len(INPUT_BINS) - 1)
    total = np.zeros(len(INPUT_BINS) - 1)
    for image, boxes in photos(folders):
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        clear = sides >= CLEAR_FACE
        if not clear.any():
            continue
        h, w = image.shape[:2]
        for shrink in SHRINK:
            small = image if shrink == 1 else cv2.resize(image, (round(w * shrink), round(h * shrink)),
                                                        interpolation=cv2.INTER_AREA)
            rows = [r for r in finder._detect(small) if np.isfinite(r).all()]  # one pass, at this size
            dets = [((r[0], r[1], r[0] + r[2], r[1] + r[3]), float(r[-1])) for r in rows]
            pairs, _, _ = match(dets, [b * shrink for b in boxes], IOU)
            hit = np.zeros(len(boxes), bool)
            hit[[g for _, g, _ in pairs]] = True
            bins = np.digitize(sides * shrink, INPUT_BINS) - 1
            for b, h_ in zip(bins[clear], hit[clear], strict=True):
                if 0 <= b < len(total):
                    total[b] += 1
                    found[b] += h_
    print(f"YuNet's recall by the face's shorter side in its input (faces >= {CLEAR_FACE} px in the photo, "
          f"shrunk by {', '.join(f'{s:g}' for s in SHRINK)}; score >= {confidence}, IoU >= {IOU})\n")
    print("| side in YuNet's input (px) | faces | recall |")
    print("|---|---|---|")
    for i, n in enumerate(total):
        if n:
            print(f"| {INPUT_BINS[i]}-{INPUT_BINS[i + 1] - 1} | {int(n)} | {found[i] / n:.3f} |")


def min_face_on_upscaled(folders: list[Path], upscale: float, min_face: int, confidence: float,
                         reliable: list[int]) -> None:
    """`reliable`: values of scanning.RELIABLE_SIDE to compare (the shipped one by default)."""
    finders = {"full resolution": YuNetFaceFinder(confidence=confidence)}
    for side in reliable:
        finder = YuNetFaceFinder(confidence=confidence, min_face=min_face * RELIABLE_SIDE / side)
        finders[f"min_face={min_face}" + (f", RELIABLE_SIDE {side}" if side != RELIABLE_SIDE else "")] = finder
    seconds = dict.fromkeys(finders, 0.0)
    found = dict.fromkeys(finders, 0)
    faces = photos_seen = 0
    for image, boxes in photos(folders):
        big = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        boxes = boxes * upscale
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = sides >= min_face
        gts = [widened(b, FRAMING) for b in boxes]
        photos_seen += 1
        faces += int(keep.sum())
        for name, finder in finders.items():
            start = time.perf_counter()
            dets = finder.find(big)
            seconds[name] += time.perf_counter() - start
            pairs, _, _ = match(dets, gts, IOU)
            found[name] += sum(1 for _, g, _ in pairs if keep[g])
    print(f"\n{photos_seen} photos enlarged {upscale:g} times; {faces} annotated faces of {min_face} px or more "
          f"(IoU >= {IOU})\n")
    print("| face finder | recall | ms per photo |")
    print("|---|---|---|")
    for name in finders:
        print(f"| {name} | {found[name] / max(faces, 1):.3f} | {1000 * seconds[name] / max(photos_seen, 1):.0f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voc", nargs="+", type=Path, default=DEFAULT_VOC,
                   help="Pascal VOC folders (images/, annotations/)")
    p.add_argument("--upscale", type=float, default=2.4, help="enlargement of the photos in part 2")
    p.add_argument("--min-face", type=int, default=32, help="min_face of part 2, in the enlarged photo's pixels")
    p.add_argument("--confidence", type=float, default=YuNetFaceFinder.default_confidence, help="YuNet's score")
    p.add_argument("--reliable-side", type=int, nargs="+", default=[RELIABLE_SIDE],
                   help="part 2 with these values of RELIABLE_SIDE in place of the shipped one, to choose it")
    p.add_argument("--part", choices=("1", "2", "both"), default="both")
    args = p.parse_args()
    missing = [str(f) for f in args.voc if not (f / "annotations").is_dir()]
    if missing:
        raise SystemExit(f"no annotated photos in {', '.join(missing)} (this benchmark needs ../shared/datasets)")
    if args.part in ("1", "both"):
        recall_by_input_size(args.voc, args.confidence)
    if args.part in ("2", "both"):
        min_face_on_upscaled(args.voc, args.upscale, args.min_face, args.confidence, args.reliable_side)


if __name__ == "__main__":
    main()
