"""How much of a video frame the face detector looks at, and how finely: the cost follows the smallest face worth
finding, not the frame's pixels.

Every frame gets a coarse pass over the whole frame, shrunk to about COARSE_PIXELS; it finds the faces large
enough for that scale. Where the smallest face asked for (`min_face`) needs a finer scale than that, the frame
is also cut into overlapping tiles looked at at the fine scale, one tile a frame in turn, so that a crowd of
small faces is found within a cycle of tiles and followed by the tracker in between. A `Coverage` says which
faces a pass could have found: a followed face that no pass covered is not counted as lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The shorter side, in YuNet's input, at the knee of its recall (bench/face_size.py, docs/detector.md): from 24 px
# it finds 0.82 of faces, from 32 px 0.90 (0.93 at most); below 24 px its recall falls fast. The scale is chosen
# so that a face of `min_face` px lands there.
RELIABLE_SIDE = 24
# The --min-face of video: the least face the classifier can label (smaller ones are "too small to tell").
VIDEO_MIN_FACE = 32
FRAME_PIXELS = 640 * 480  # YuNet's input per frame at most, beyond the passes for faces larger than YuNet's range
COARSE_PIXELS = FRAME_PIXELS // 2  # of which the whole-frame pass, when the rest goes to a tile
TILE_SIDE = round(math.sqrt(FRAME_PIXELS // 2))  # px in YuNet's input
LEVEL_STEP = 2.0  # the largest change of scale from one level of tiles to the next
EDGE = 2  # px: a face this close to a tile's inner edge may be cut by it; a neighbouring tile holds it whole

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in the frame's pixels
EVERYWHERE = (-math.inf, -math.inf, math.inf, math.inf)


def detection_scale(min_face: float | None, width: int, height: int) -> float:
    """The frame's scale at which a face of `min_face` px is RELIABLE_SIDE px in YuNet's input (None or 0: the
    frame's own size, every face YuNet can find). Never above 1, and never so small that fewer pixels than
    FRAME_PIXELS are left: a 640x480 webcam is looked at in full, since little would be saved there and every
    face found counts."""
    if not min_face:
        return 1.0
    return min(1.0, max(RELIABLE_SIDE / min_face, math.sqrt(FRAME_PIXELS / (width * height))))


@dataclass(frozen=True)
class Coverage:
    """The faces one pass could have found: wholly inside `region`, with a shorter side from `smallest` up to
    (not including) `largest` px. A region reaches past the frame's edges where the pass does (a face leaving
    the frame is still seen, and missed). `every_time`: whether the pass comes again at the next detection (a
    tile comes again a cycle later)."""

    region: tuple[float, float, float, float] = EVERYWHERE
    smallest: float = 0.0
    largest: float = math.inf
    every_time: bool = True

    def sees(self, box) -> bool:
        x1, y1, x2, y2 = box
        side = min(x2 - x1, y2 - y1)
        rx1, ry1, rx2, ry2 = self.region
        return self.smallest <= side < self.largest and rx1 <= x1 and ry1 <= y1 and x2 <= rx2 and y2 <= ry2


@dataclass(frozen=True)
class Tile:
    """Part of the frame looked at `scale`, keeping the faces under `largest` px (larger ones are a coarser
    pass's); `coverage` holds the faces it is sure to find."""

    region: Region
    scale: float
    largest: float
    coverage: Coverage

    def cuts(self, box, width: int, height: int) -> bool:
        """Whether a box found in the tile touches one of its edges that is not the frame's: the face may go on
        beyond it, and a neighbouring tile, which overlaps by `largest`, holds it whole."""
        x1, y1, x2, y2 = box
        tx1, ty1, tx2, ty2 = self.region
        return ((tx1 > 0 and x1 <= tx1 + EDGE) or (ty1 > 0 and y1 <= ty1 + EDGE)
                or (tx2 < width and x2 >= tx2 - EDGE) or (ty2 < height and y2 >= ty2 - EDGE))


@dataclass(frozen=True)
class ScanPlan:
    """The passes over frames of one size: the whole frame at `coarse` scale every frame, and one of `tiles`
    (none when the whole frame is cheap enough at the scale `min_face` needs) in turn."""

    width: int
    height: int
    coarse: float
    tiles: tuple[Tile, ...] = ()

    @property
    def coverage(self) -> Coverage:
        """What the whole-frame pass is sure to find: every face, unless tiles look for the smaller ones."""
        return Coverage(EVERYWHERE, RELIABLE_SIDE / self.coarse if self.tiles else 0.0)


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    """Evenly spread tile starts along one side, neighbours overlapping by at least `overlap`."""
    if tile >= length:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def plan_scan(width: int, height: int, min_face: float | None) -> ScanPlan:
    """The passes for frames of this size. Where the whole frame at the scale `min_face` needs costs more than
    FRAME_PIXELS, the whole-frame pass shrinks to COARSE_PIXELS and levels of tiles, each up to LEVEL_STEP times
    finer than the one before, look for the faces it may miss. A level keeps faces up to twice the smallest
    that the level before is sure to find, and its tiles overlap by that much: every face lies whole in a tile
    of the level that must find it."""
    fine = detection_scale(min_face, width, height)
    if width * height * fine**2 <= FRAME_PIXELS * 1.001:
        return ScanPlan(width, height, fine)
    tiles: list[Tile] = []
    coarse = previous = math.sqrt(COARSE_PIXELS / (width * height))
    while previous < fine:
        scale = min(fine, previous * LEVEL_STEP)
        largest = 2 * RELIABLE_SIDE / previous
        side = TILE_SIDE / scale
        tw, th = min(width, round(side)), min(height, round(side))
        smallest = 0.0 if scale == fine else RELIABLE_SIDE / scale  # the finest level also retires tiny faces
        for y in _starts(height, th, largest):
            for x in _starts(width, tw, largest):
                region = (x, y, x + tw, y + th)
                reach = (x or -math.inf, y or -math.inf, math.inf if x + tw == width else x + tw,
                         math.inf if y + th == height else y + th)
                tiles.append(Tile(region, scale, largest, Coverage(reach, smallest, largest, every_time=False)))
        previous = scale
    return ScanPlan(width, height, coarse, tuple(tiles))
