"""Drawing on one RGB frame with OpenCV: the skeleton of every person, and a panel with the current top-3 and a
bar per branch (its best class and probability).

Sizes scale with the frame (``unit`` = 1 for 720p), so the overlay reads the same at any resolution.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from .answers import Moment

COCO_LIMBS = (
    (0, 1), (0, 2), (1, 3), (2, 4),  # face
    (5, 6), (5, 11), (6, 12), (11, 12),  # torso
    (5, 7), (7, 9), (6, 8), (8, 10),  # arms
    (11, 13), (13, 15), (12, 14), (14, 16),  # legs
)  # fmt: skip
PERSON_COLORS = (  # RGB, one per person (persons beyond ten reuse them)
    (255, 64, 64), (64, 160, 255), (64, 220, 96), (255, 200, 0), (200, 80, 255),
    (0, 220, 220), (255, 128, 0), (255, 80, 170), (170, 170, 170), (255, 255, 255),
)  # fmt: skip
BRANCH_ROWS = (("rgb", "RGB"), ("pose", "Pose"), ("fused", "Fused head"))
AGREE, DISAGREE = (80, 200, 120), (240, 150, 60)  # bar colours: the branch's best class is / is not the answer's
FONT = cv2.FONT_HERSHEY_SIMPLEX


def unit(shape: tuple[int, ...]) -> float:
    """Overlay scale of a frame: 1.0 at 720p, never below 0.8 (smaller text cannot be read: on a small frame
    the panel covers more of it instead)."""
    return max(0.8, min(shape[0], shape[1] * 9 / 16) / 720)


def draw_skeleton(img: np.ndarray, keypoint: np.ndarray, score: np.ndarray) -> None:
    """Limbs and joints of every person, in place: ``keypoint`` [M, 17, 2] in ``img`` pixels, ``score`` [M, 17];
    a joint scoring 0 is missing (not drawn, nor its limbs)."""
    u = unit(img.shape)
    thickness, radius = max(1, round(3 * u)), max(2, round(5 * u))
    for person, (kp, sc) in enumerate(zip(keypoint, score, strict=True)):
        color = PERSON_COLORS[person % len(PERSON_COLORS)]
        pts = np.round(kp * 16).astype(np.int32)  # 4 fractional bits: sub-pixel positions
        for a, b in COCO_LIMBS:
            if sc[a] > 0 and sc[b] > 0:
                cv2.line(img, tuple(pts[a]), tuple(pts[b]), color, thickness, cv2.LINE_AA, shift=4)
        for j in np.flatnonzero(sc > 0):
            cv2.circle(img, tuple(pts[j]), radius * 16, color, -1, cv2.LINE_AA, shift=4)


def draw_panel(img: np.ndarray, moment: Moment, fusion: str) -> None:
    """Top-left panel, in place: where the answer comes from, the top-3 of the served fusion, a bar per branch."""
    u = unit(img.shape)
    scale, line = 0.5 * u, round(22 * u)
    rows: list[tuple[str, Mapping[str, Any] | None, tuple[int, int, int] | None]] = []
    span = "whole video" if moment.span is None else f"{moment.span[0]:.1f}-{moment.span[1]:.1f} s"
    rows.append((f"{span}  ({fusion.replace('_', ' ')})", None, None))
    best = moment.top_k[0]["label"] if moment.top_k else None
    for rank, c in enumerate(moment.top_k[:3], 1):
        rows.append((f"{rank}. {c['name']}", c, AGREE))
    for key, title in BRANCH_ROWS:
        top: Sequence[Mapping[str, Any]] = moment.branches.get(key, ())
        if top:
            rows.append((f"{title}: {top[0]['name']}", top[0], AGREE if top[0]["label"] == best else DISAGREE))
    bar_w = round(110 * u)
    text_w = max(cv2.getTextSize(text, FONT, scale, 1)[0][0] for text, _, _ in rows)
    width = min(img.shape[1], text_w + bar_w + round(70 * u))
    height = min(img.shape[0], line * len(rows) + round(10 * u))
    region = img[:height, :width]
    region[:] = (region * 0.35).astype(np.uint8)  # darken: the text reads on any background
    pad = round(8 * u)
    for i, (text, cls, color) in enumerate(rows):
        y = pad + line * i + round(14 * u)
        cv2.putText(img, text, (pad, y), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
        if cls is None:
            continue
        x0 = width - bar_w - round(52 * u)
        top, bottom = y - round(11 * u), y + round(2 * u)
        cv2.rectangle(img, (x0, top), (x0 + bar_w, bottom), (90, 90, 90), -1)
        cv2.rectangle(img, (x0, top), (x0 + round(bar_w * float(cls["score"])), bottom), color, -1)
        cv2.putText(img, f"{cls['score']:.2f}", (x0 + bar_w + pad, y), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
