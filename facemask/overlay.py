"""What is drawn on a frame: labelled boxes, the frame rate, the tally of people in view, the alert banner."""

from __future__ import annotations

import cv2
import numpy as np

from .detector import Face
from .labels import CLASSES, COLORS, DISPLAY_NAMES, UNSURE_COLOR, compliance

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK, ALERT_RED = (255, 255, 255), (0, 0, 0), (0, 0, 200)


def face_text(face: Face) -> str:
    """The box label, such as "#3 Mask: 97.0%": the track ID first, to find the person in the event log."""
    text = "?" if face.unsure else f"{DISPLAY_NAMES[face.label]}: {face.confidence:.1%}"
    return text if face.track_id is None else f"#{face.track_id} {text}"


def draw_faces(frame: np.ndarray, faces: list[Face]) -> None:
    for face in faces:
        x1, y1, x2, y2 = face.box
        color = UNSURE_COLOR if face.unsure else COLORS[face.label]
        text = face_text(face)
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, 2)
        (tw, th), base = cv2.getTextSize(text, FONT, 0.5, 1)
        ty = y1 - 6 if y1 - th - base - 6 >= 0 else y2 + th + 6
        tx = max(0, min(x1, frame.shape[1] - tw - 4))  # near the right edge, the label shifts left to stay whole
        cv2.rectangle(frame, (tx, ty - th - 4), (tx + tw + 4, ty + base - 2), color, cv2.FILLED)
        cv2.putText(frame, text, (tx + 2, ty - 2), FONT, 0.5, WHITE, 1, cv2.LINE_AA)


def draw_fps(frame: np.ndarray, fps: float) -> None:
    """White on a black outline: readable on any background."""
    text = f"FPS: {fps:.1f}"
    cv2.putText(frame, text, (10, 22), FONT, 0.6, BLACK, 3, cv2.LINE_AA)
    cv2.putText(frame, text, (10, 22), FONT, 0.6, WHITE, 1, cv2.LINE_AA)


def tally_lines(faces: list[Face]) -> list[str]:
    """People in view per class and the compliance rate (masks worn right / everyone whose mask can be told);
    faces too small to tell count only in view."""
    sure = [f for f in faces if not f.unsure]
    counts = {label: sum(f.label == label for f in sure) for label in CLASSES}
    rate = compliance(counts)
    rate = "-" if rate is None else f"{rate:.0%}"
    small = [f"Too small: {len(faces) - len(sure)}"] if len(sure) < len(faces) else []
    return [f"In view: {len(faces)}", *(f"{DISPLAY_NAMES[c]}: {counts[c]}" for c in CLASSES), *small,
            f"Compliance: {rate}"]


def draw_tally(frame: np.ndarray, faces: list[Face]) -> None:
    """The tally in the top right corner, on a darkened panel (FPS is top left)."""
    lines = tally_lines(faces)
    width = max(cv2.getTextSize(line, FONT, 0.5, 1)[0][0] for line in lines) + 16
    height = 20 * len(lines) + 8
    h, w = frame.shape[:2]
    x1, y2 = max(0, w - width - 6), min(h, 6 + height)
    panel = frame[6:y2, x1 : w - 6]
    panel[:] = panel // 3  # darken in place: cheaper than blending the whole frame
    for i, line in enumerate(lines):
        cv2.putText(frame, line, (x1 + 8, 6 + 20 * (i + 1)), FONT, 0.5, WHITE, 1, cv2.LINE_AA)


def draw_banner(frame: np.ndarray, text: str) -> None:
    """A red band across the bottom of the frame, for a fresh alert."""
    h = frame.shape[0]
    (_, th), _ = cv2.getTextSize(text, FONT, 0.7, 2)
    top = max(0, h - th - 20)
    frame[top:h] = ALERT_RED
    cv2.putText(frame, text, (10, h - 10), FONT, 0.7, WHITE, 2, cv2.LINE_AA)
