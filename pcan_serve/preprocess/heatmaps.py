"""Pseudo-heatmaps of mmaction2's ``GeneratePoseTarget(with_kp=True, with_limb=False, use_score=True)``.

One Gaussian per (person, frame, joint), peak = the joint's score, drawn only inside its truncation window
``[int(mu - 3 sigma), int(mu + 3 sigma)]`` (``int`` truncates toward zero) clipped to the map, and merged
over persons by maximum. mmaction2 loops over frames, joints and persons in Python; here every window is
computed in one vectorised float32 pass (same operations in the same order, so the same values) and written
as a fixed-size block that stays inside its map: no masks on the writes, no temporaries of map size.
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
    out = huge_page_array((num_clips, joints, clip_len, height, width), zero=True)
    if persons == 0:
        return out

    # window n of person m is map n of the output ([clip, joint, t] order), so writes go through memory in order
    mu = keypoint[:, : num_clips * clip_len].reshape(persons, num_clips, clip_len, joints, 2)
    mu = mu.transpose(0, 1, 3, 2, 4).reshape(-1, 2).astype(np.float32)
    peak = score[:, : num_clips * clip_len].reshape(persons, num_clips, clip_len, joints)
    peak = peak.transpose(0, 1, 3, 2).reshape(-1).astype(np.float32)
    reach = np.float32(3 * sigma)
    # per axis: window [lo, hi) = [max(int(mu - r), 0), min(int(mu + r) + 1, size)); clipping to [-1, size + 1]
    # first keeps huge coordinates castable and changes no window
    axes = []
    for axis, size in ((0, width), (1, height)):
        m = mu[:, axis]
        lo = np.maximum(np.trunc(np.clip(m - reach, -1, size + 1)).astype(np.int32), 0)
        hi = np.minimum(np.trunc(np.clip(m + reach, -1, size + 1)).astype(np.int32) + 1, size)
        axes.append((m, lo, hi))
    keep = np.flatnonzero((peak >= SCORE_EPS) & (axes[0][2] > axes[0][1]) & (axes[1][2] > axes[1][1]))
    if keep.size == 0:
        return out

    # every window fits a block of k cells per axis; a block starts early enough to stay inside the map, and
    # its cells outside the window get distance +inf, so they draw exp(-inf) * score = 0 (max keeps the rest)
    blocks = []
    for (m, lo, hi), size in zip(axes, (width, height), strict=True):
        lo, hi = lo[keep], hi[keep]
        k = min(int((hi - lo).max()), size)
        start = np.minimum(lo, size - k)
        cells = start[:, None] + np.arange(k, dtype=np.int32)  # [P, k] pixel coordinates of each block
        d2 = (cells.astype(np.float32) - m[keep, None]) ** 2
        d2[(cells < lo[:, None]) | (cells >= hi[:, None])] = np.inf
        blocks.append((start, k, d2))
    (x0, kx, dx2), (y0, ky, dy2) = blocks
    patch = np.add(dx2[:, None, :], dy2[:, :, None])  # [P, ky, kx]: (x - mu_x)^2 + (y - mu_y)^2, mmaction2's order
    np.negative(patch, out=patch)
    patch /= np.float32(2)
    patch /= np.float32(sigma**2)
    np.exp(patch, out=patch)
    patch *= peak[keep, None, None]

    person, first = np.divmod(keep, num_clips * joints * clip_len)  # first: the window's map
    first = first * (height * width) + y0 * width + x0  # flat index of each block's top-left cell
    block = np.arange(ky)[:, None] * width + np.arange(kx)  # flat offsets of a block's cells
    flat = out.reshape(-1)
    # within one person every (frame, joint) map gets one window, so a plain fancy write has no collisions
    bounds = np.searchsorted(person, np.arange(persons + 1))
    for p in range(persons):
        sel = slice(bounds[p], bounds[p + 1])
        if sel.start == sel.stop:
            continue
        index = first[sel, None, None] + block
        flat[index] = patch[sel] if p == 0 else np.maximum(flat[index], patch[sel])
    return out
