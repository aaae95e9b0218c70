"""Pseudo-heatmaps of mmaction2's ``GeneratePoseTarget(with_kp=True, with_limb=False, use_score=True)``.

One Gaussian per (person, frame, joint), peak = the joint's score, drawn only inside its truncation window
``[int(mu - 3 sigma), int(mu + 3 sigma)]`` (``int`` truncates toward zero) clipped to the map, and merged
over persons by maximum. mmaction2 loops over frames, joints and persons in Python; here every window is
computed in one vectorised float32 pass (same operations in the same order) and scattered into the maps.
"""

import numpy as np

from .buffers import huge_page_array

SCORE_EPS = 1e-4
"""Joints scoring below this draw nothing (mmaction2's constant)."""


def pose_heatmaps(
    keypoint: np.ndarray,
    score: np.ndarray,
    map_size: tuple[int, int],
    sigma: float,
    clip_len: int,
) -> np.ndarray:
    """float32 [num_clips, V, clip_len, h, w] from keypoints [M, F, V, 2] already in heatmap pixels.

    ``F = num_clips * clip_len`` frames, clip after clip; frame ``f`` lands in clip ``f // clip_len``.
    """
    persons, frames, joints, _ = keypoint.shape
    height, width = map_size
    num_clips = frames // clip_len
    total = num_clips * joints * clip_len * height * width
    flat = huge_page_array((total + 1,), zero=True)  # the extra cell absorbs writes of masked window cells
    out = flat[:total].reshape(num_clips, joints, clip_len, height, width)
    if persons == 0:
        return out

    mu = keypoint.reshape(-1, 2).astype(np.float32, copy=False)
    peak = score.reshape(-1).astype(np.float32, copy=False)
    reach = np.float32(3 * sigma)
    # per axis: window [lo, hi) = [max(int(mu - r), 0), min(int(mu + r) + 1, size)); clipping to [-1, size + 1]
    # first keeps huge coordinates castable and changes no window
    axes = []
    for axis, size in ((0, width), (1, height)):
        m = np.ascontiguousarray(mu[:, axis])
        lo = np.maximum(np.trunc(np.clip(m - reach, -1, size + 1)).astype(np.int32), 0)
        hi = np.minimum(np.trunc(np.clip(m + reach, -1, size + 1)).astype(np.int32) + 1, size)
        axes.append((m, lo, hi))
    (mx, lox, hix), (my, loy, hiy) = axes
    keep = np.flatnonzero((peak >= SCORE_EPS) & (hix > lox) & (hiy > loy))
    if keep.size == 0:
        return out

    span = np.arange(max(int((hix - lox)[keep].max()), int((hiy - loy)[keep].max())), dtype=np.int32)
    cx = lox[keep, None] + span  # [P, K] pixel columns of each window
    cy = loy[keep, None] + span  # [P, K] pixel rows
    dx2 = (cx.astype(np.float32) - mx[keep, None]) ** 2
    dy2 = (cy.astype(np.float32) - my[keep, None]) ** 2
    dist = dx2[:, None, :] + dy2[:, :, None]  # [P, Ky, Kx]: (x - mu_x)^2 + (y - mu_y)^2, mmaction2's order
    patch = np.exp(-dist / np.float32(2) / np.float32(sigma**2)) * peak[keep, None, None]

    # flat index of each window cell; cells past a window's end go to the spare cell at the end
    person, rest = np.divmod(keep, frames * joints)
    frame, joint = np.divmod(rest, joints)
    clip, t = np.divmod(frame, clip_len)
    base = ((clip * joints + joint) * clip_len + t) * (height * width)
    rows = np.where(cy < hiy[keep, None], base[:, None] + cy * width, -1)
    cols = np.where(cx < hix[keep, None], cx, -1)
    index = rows[:, :, None] + cols[:, None, :]
    index[(rows[:, :, None] < 0) | (cols[:, None, :] < 0)] = total

    # within one person every (frame, joint) map gets one window, so a plain fancy write has no collisions
    bounds = np.searchsorted(person, np.arange(persons + 1))
    for m in range(persons):
        if bounds[m] == bounds[m + 1]:
            continue
        sel = slice(bounds[m], bounds[m + 1])
        idx = index[sel]
        flat[idx] = patch[sel] if m == 0 else np.maximum(flat[idx], patch[sel])
    return out
