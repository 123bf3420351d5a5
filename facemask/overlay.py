"""What is drawn on a frame: labelled boxes, the frame rate, the tally of people in view, the alert banner.

Only the sinks that show or save pixels draw, each through `render`, which draws a result's frame once."""

from __future__ import annotations

import time

import cv2
import numpy as np

from .labels import CLASSES, COLORS, DISPLAY_NAMES, UNSURE_COLOR, compliance
from .types import Face, FrameResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK, ALERT_RED = (255, 255, 255), (0, 0, 0), (0, 0, 200)


def face_text(face: Face) -> str:
    """The box label, such as "#3 Mask: 97.0%": the track ID first, to find the person in the event log."""
    text = "?" if face.unsure else f"{DISPLAY_NAMES[face.label]}: {face.confidence:.1%}"
    return text if face.track_id is None else f"#{face.track_id} {text}"


def zoom(frame: np.ndarray) -> float:
    """How much larger than on a 720-line frame text and lines are drawn (never smaller), so that a 4K frame
    shown on a screen or scaled down for the dashboard reads like a 720p one."""
    return max(1.0, min(frame.shape[:2]) / 720)


def draw_faces(frame: np.ndarray, faces: list[Face]) -> None:
    z = zoom(frame)
    size, line, pad = 0.5 * z, max(1, round(z)), round(4 * z)
    for face in faces:
        x1, y1, x2, y2 = face.box
        color = UNSURE_COLOR if face.unsure else COLORS[face.label]
        text = face_text(face)
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, 2 * line)
        (tw, th), base = cv2.getTextSize(text, FONT, size, line)
        ty = y1 - pad - 2 if y1 - th - base - pad - 2 >= 0 else y2 + th + pad + 2
        tx = max(0, min(x1, frame.shape[1] - tw - pad))  # near the right edge, the label shifts left to stay whole
        cv2.rectangle(frame, (tx, ty - th - pad), (tx + tw + pad, ty + base - line - 1), color, cv2.FILLED)
        cv2.putText(frame, text, (tx + pad // 2, ty - line - 1), FONT, size, WHITE, line, cv2.LINE_AA)


def draw_fps(frame: np.ndarray, fps: float) -> None:
    """White on a black outline: readable on any background."""
    z = zoom(frame)
    text, at, line = f"FPS: {fps:.1f}", (round(10 * z), round(22 * z)), max(1, round(z))
    cv2.putText(frame, text, at, FONT, 0.6 * z, BLACK, 3 * line, cv2.LINE_AA)
    cv2.putText(frame, text, at, FONT, 0.6 * z, WHITE, line, cv2.LINE_AA)


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
    z = zoom(frame)
    thick, step, margin = max(1, round(z)), round(20 * z), round(6 * z)
    width = max(cv2.getTextSize(line, FONT, 0.5 * z, thick)[0][0] for line in lines) + round(16 * z)
    height = step * len(lines) + round(8 * z)
    h, w = frame.shape[:2]
    x1, y2 = max(0, w - width - margin), min(h, margin + height)
    panel = frame[margin:y2, x1 : w - margin]
    panel[:] = panel // 3  # darken in place: cheaper than blending the whole frame
    for i, line in enumerate(lines):
        cv2.putText(frame, line, (x1 + round(8 * z), margin + step * (i + 1)), FONT, 0.5 * z, WHITE, thick,
                    cv2.LINE_AA)


def draw_banner(frame: np.ndarray, text: str) -> None:
    """A red band across the bottom of the frame, for a fresh alert."""
    h, z = frame.shape[0], zoom(frame)
    thick = 2 * max(1, round(z))
    (_, th), _ = cv2.getTextSize(text, FONT, 0.7 * z, thick)
    top = max(0, h - th - round(20 * z))
    frame[top:h] = ALERT_RED
    cv2.putText(frame, text, (round(10 * z), h - round(10 * z)), FONT, 0.7 * z, WHITE, thick, cv2.LINE_AA)


def render(result: FrameResult) -> np.ndarray:
    """The result's frame with its faces, the frame rate, the tally and a fresh alert's banner drawn on, in place
    (a copy of a 4K frame would cost more than the drawing), the first time a sink asks; every sink that asks
    after gets the same frame and must not draw on it. The time it takes counts as the run's "draw" stage."""
    if not result.drawn:
        start = time.perf_counter()
        frame = result.frame
        draw_faces(frame, result.faces)
        draw_fps(frame, result.fps)
        draw_tally(frame, result.faces)
        if result.banner:
            draw_banner(frame, result.banner)
        result.drawn.append(frame)
        if result.summary is not None:
            result.summary.stage_seconds["draw"] += time.perf_counter() - start
    return result.drawn[0]
