"""Draw one synthetic clip: a stick figure doing a motion over a cluttered, noisy background.

Everything random about a clip (placement, size, speed, colours, background, noise) is drawn from the
``numpy.random.Generator`` passed in, so a clip is a pure function of its seed.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .motions import motion_sequence

# bones drawn as lines, grouped by colour: torso/head, left limbs, right limbs
TORSO = ((5, 6), (5, 11), (6, 12), (11, 12))
LEFT = ((5, 7), (7, 9), (11, 13), (13, 15))
RIGHT = ((6, 8), (8, 10), (12, 14), (14, 16))


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # [T, H, W, 3] uint8, BGR (OpenCV order)
    keypoint: np.ndarray  # [1, T, 17, 2] float32 pixel coordinates
    keypoint_score: np.ndarray  # [1, T, 17] float32


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = rng.uniform(20, 235, size=3)
    tilt = rng.uniform(-60, 60, size=3)
    ramp = (
        np.linspace(0.0, 1.0, width)[None, :, None]
        if rng.random() < 0.5
        else np.linspace(0.0, 1.0, height)[:, None, None]
    )
    img = np.clip(base + tilt * ramp + np.zeros((height, width, 3)), 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 8))):  # static clutter
        color = tuple(int(c) for c in rng.uniform(0, 255, size=3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            w, h = int(rng.integers(4, width // 3)), int(rng.integers(4, height // 3))
            cv2.rectangle(img, (x, y), (x + w, y + h), color, -1)
        else:
            cv2.circle(img, (x, y), int(rng.integers(3, height // 6)), color, -1)
    return img


def render_clip(rng: np.random.Generator, motion: str, num_frames: int, height: int, width: int) -> Clip:
    """A clip of ``motion`` with random placement, scale, speed, phase, side, colours and noise."""
    scale = rng.uniform(0.45, 0.62) * height  # pixels per body unit (~ figure height)
    cx = rng.uniform(0.45 * scale, width - 0.45 * scale)
    cy = rng.uniform(0.66 * scale + 2, height - 0.46 * scale - 2)
    drift = rng.uniform(-0.08, 0.08, size=2) * scale  # slow pan over the clip
    body = motion_sequence(
        motion,
        num_frames,
        cycles=rng.uniform(1.0, 2.0),
        phase=rng.uniform(0, 2 * np.pi),
        mirror=False,  # training's Flip augmentation shows the mirrored motions
    )
    body = body * rng.uniform(0.9, 1.1, size=(1, 1, 2))  # build: wider / taller
    t = np.linspace(0.0, 1.0, num_frames)[:, None, None]
    pix = np.empty_like(body)
    pix[..., 0] = cx + drift[0] * t[..., 0] + body[..., 0] * scale
    pix[..., 1] = cy + drift[1] * t[..., 0] - body[..., 1] * scale

    background = _background(rng, height, width)
    colors = [tuple(int(c) for c in rng.uniform(0, 255, size=3)) for _ in range(3)]
    thickness = max(2, int(round(0.045 * scale)))
    head_r = max(2, int(round(0.07 * scale)))
    noise_sigma = rng.uniform(2.0, 8.0)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        img = background.copy()
        pts = np.round(pix[i] * 16).astype(np.int32)  # 4 fractional bits for sub-pixel drawing
        for bones, color in zip((TORSO, LEFT, RIGHT), colors, strict=True):
            for a, b in bones:
                cv2.line(img, tuple(pts[a]), tuple(pts[b]), color, thickness, cv2.LINE_AA, shift=4)
        cv2.circle(img, tuple(pts[0]), head_r * 16, colors[0], -1, cv2.LINE_AA, shift=4)
        noisy = img.astype(np.float32) + rng.normal(0.0, noise_sigma, size=img.shape)
        frames[i] = np.clip(noisy, 0, 255).astype(np.uint8)

    jitter = rng.normal(0.0, 0.01 * scale, size=pix.shape)  # a pose estimator's noise
    keypoint = (pix + jitter)[None].astype(np.float32)
    score = rng.uniform(0.8, 1.0, size=(1, num_frames, 17)).astype(np.float32)
    return Clip(frames, keypoint, score)
