"""Warping a mask template onto a face: one exact homography per half of the mask, with fallbacks for outlines
that would fold or flip it."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def _support_box(weight: np.ndarray) -> np.ndarray:
    """Vertices (Nx2) of the convex hull of the template pixels that a warp actually shows (weight > 0).

    A homography's w is affine in the template point, so checking it at the hull's vertices checks every
    pixel inside; the hull, unlike the bounding box, leaves out the empty corners of a rounded mask.
    """
    points = cv2.findNonZero((weight > 1e-3).astype(np.uint8))
    if points is None:
        return np.zeros((1, 2))
    return cv2.convexHull(points).reshape(-1, 2).astype(np.float64) + 0.5


def _homography_ok(h: np.ndarray | None, corners: np.ndarray, shape: Sequence[int]) -> bool:
    """True when `h` keeps the polygon `corners` in front of the camera, unmirrored and near the image.

    A 4-point homography fitted to a narrow half of a side-view template can put its horizon through the
    rest of that half: beyond it the template would reappear mirrored, or be stretched across the image.
    """
    if h is None or not np.all(np.isfinite(h)):
        return False
    w = np.hstack([corners, np.ones((len(corners), 1))]) @ h[2]
    if np.any(w <= 1e-6):
        return False
    # The map's Jacobian determinant is det(h) / w**3, so with w > 0 the orientation is kept iff det(h) > 0.
    if np.linalg.det(h) <= 0:
        return False
    mapped = cv2.perspectiveTransform(corners[None].astype(np.float64), h)[0]
    reach = 1.5 * max(shape[:2])  # a mask can stick out of a tight crop, but not by more than the crop's size
    return bool(np.all(mapped > -reach) and np.all(mapped < np.array([shape[1], shape[0]]) + reach))


def _oriented(h: np.ndarray, src: np.ndarray) -> np.ndarray:
    """`h` scaled by -1 if need be so that w > 0 at the anchors: h and -h are the same map, but the checks in
    _homography_ok read the sign of w and of det(h)."""
    return -h if np.append(src.mean(axis=0), 1.0) @ h[2] < 0 else h


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine map of src to dst, as a 3x3 matrix: the last resort for a degenerate outline."""
    a = np.hstack([src, np.ones((len(src), 1))])
    m, *_ = np.linalg.lstsq(a, dst, rcond=None)
    return np.vstack([m.T, [0, 0, 1]])


def _warp(premult: np.ndarray, h: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpPerspective(premult, h, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_template(bgr: np.ndarray, alpha: np.ndarray, anchors: np.ndarray, targets: np.ndarray,
                  shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp a template (float BGR 0..1, alpha 0..1) so its anchors land on `targets`; return (bgr, alpha) at `shape`.

    Each half of the mask (a-b-e-d and b-c-f-e) gets its own exact 4-point homography. A single homography can
    only fit six points in the least-squares sense, which lets the top edge drift over the nose; two halves fit
    every anchor, and since both map b and e alike, they meet along the b-e line without a seam. When a half's
    homography is degenerate (it would fold or flip the template), one least-squares homography, and failing
    that an affine map, is used for the whole mask.
    """
    h_img, w_img = int(shape[0]), int(shape[1])
    src = np.asarray(anchors, np.float64)
    dst = np.asarray(targets, np.float64)
    # Shrink the template to about the size it will have, so that warping does not alias.
    scale = min(1.0, 1.5 * max(np.linalg.norm(dst[2] - dst[0]) / max(np.linalg.norm(src[2] - src[0]), 1e-6),
                               np.linalg.norm(dst[4] - dst[1]) / max(np.linalg.norm(src[4] - src[1]), 1e-6)))
    if scale < 1.0:
        size = (max(2, round(bgr.shape[1] * scale)), max(2, round(bgr.shape[0] * scale)))
        src = src * [size[0] / bgr.shape[1], size[1] / bgr.shape[0]]
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    th, tw = alpha.shape[:2]
    ones = np.ones_like(alpha)
    premult = np.dstack([bgr * alpha[:, :, None], alpha, ones]).astype(np.float32)  # last: coverage of the canvas
    out_size = (w_img, h_img)

    # Weight of the left half: 1 left of the b-e line, 0 right of it, feathered over a pixel or two.
    b, e = src[1], src[4]
    direction = (e - b) / max(np.linalg.norm(e - b), 1e-6)
    ys, xs = np.mgrid[0:th, 0:tw].astype(np.float32)
    cross = direction[0] * (ys - b[1]) - direction[1] * (xs - b[0])
    left = np.clip(0.5 + cross / 1.5, 0.0, 1.0)[:, :, None]
    halves = [(src[[0, 1, 4, 3]], dst[[0, 1, 4, 3]]), (src[[1, 2, 5, 4]], dst[[1, 2, 5, 4]])]
    homographies = [_oriented(cv2.getPerspectiveTransform(s.astype(np.float32), d.astype(np.float32)), s)
                    for s, d in halves]
    supports = [_support_box(left[:, :, 0] * alpha), _support_box((1 - left[:, :, 0]) * alpha)]
    if all(_homography_ok(h, box, shape) for h, box in zip(homographies, supports, strict=True)):
        warped = _warp(premult * left, homographies[0], out_size) + _warp(premult * (1 - left), homographies[1],
                                                                         out_size)
        # Near the b-e line the halves sample slightly different template points, so their weights need not
        # add up to 1 there; dividing by the warped weights removes the faint seam that would leave.
        warped[:, :, :4] /= np.maximum(warped[:, :, 4:], 1e-3)
    else:
        h_all, _ = cv2.findHomography(src, dst, 0)
        h_all = None if h_all is None else _oriented(h_all, src)
        if not _homography_ok(h_all, _support_box(alpha), shape):
            h_all = _affine(src, dst)
        warped = _warp(premult, h_all, out_size)
    alpha_out = np.clip(warped[:, :, 3], 0.0, 1.0)
    colour = warped[:, :, :3] / np.maximum(warped[:, :, 3:4], 1e-4)
    return np.clip(colour, 0.0, 1.0), alpha_out
