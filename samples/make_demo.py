"""Make samples/demo.mp4 and three sample photos (stills of it) from CC0 photos of the face-mask-voc set.

    python samples/make_demo.py --voc ../shared/datasets/face-mask-voc

Each photo is shown for a little over two seconds, fitted into a 640x480 frame and slowly zoomed, so that
the detector and the tracker have motion to follow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
# face-mask-voc (CC0) photos with faces of all three classes between them; the first frame of the first three
# is also written as a sample photo.
PHOTOS = ("maksssksksss307", "maksssksksss495", "maksssksksss272", "maksssksksss717", "maksssksksss99",
          "maksssksksss666", "maksssksksss525")
SIZE, FPS, SECONDS_EACH, ZOOM = (640, 480), 15, 2.2, 0.15


def frames_of(photo: np.ndarray) -> list[np.ndarray]:
    """The photo fitted into the frame on grey, zoomed in by up to ZOOM about its centre."""
    w, h = SIZE
    count = round(FPS * SECONDS_EACH)
    frames = []
    for i in range(count):
        scale = min(w / photo.shape[1], h / photo.shape[0]) * (1 + ZOOM * i / count)
        resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        frame = np.full((h, w, 3), 60, np.uint8)
        rh, rw = resized.shape[:2]
        sy, sx = max(0, (rh - h) // 2), max(0, (rw - w) // 2)
        part = resized[sy : sy + h, sx : sx + w]
        y, x = (h - part.shape[0]) // 2, (w - part.shape[1]) // 2
        frame[y : y + part.shape[0], x : x + part.shape[1]] = part
        frames.append(frame)
    return frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voc", type=Path, default=Path("../shared/datasets/face-mask-voc"),
                   help="the face-mask-voc folder (images/*.jpg)")
    args = p.parse_args()
    photos = [args.voc / "images" / f"{name}.jpg" for name in PHOTOS]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        raise SystemExit(f"error: not found: {', '.join(missing)}")
    tmp = HERE / ".demo.tmp.mp4"
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for i, path in enumerate(photos):
        frames = frames_of(cv2.imread(str(path)))
        for frame in frames:
            writer.write(frame)
        if i < 3:
            cv2.imwrite(str(HERE / f"photo{i + 1}.jpg"), frames[0], [cv2.IMWRITE_JPEG_QUALITY, 90])
    writer.release()
    tmp.replace(HERE / "demo.mp4")
    print(f"wrote {HERE / 'demo.mp4'} and photo1.jpg, photo2.jpg, photo3.jpg")


if __name__ == "__main__":
    main()
