"""RGB clips [num_clips, 3, T, R, R] = (pixel - mean) / std, filled one decoded frame at a time.

Each distinct frame is cropped and resized, then written into every clip slot that samples it while it is
still in cache: split into its three uint8 planes, then one table lookup (cv2.LUT) per channel straight
into the slot's plane of the output. A uint8 pixel has 256 values, so the table holds mmaction2's float32
``(x - mean) / std`` bit for bit. Frames are handed out one by one from a shared queue, so any number of
threads can fill the same clips (they write disjoint slots), each with its own scratch buffers.
"""

import itertools
from functools import cache

import cv2
import numpy as np

from ..model.config import PreprocessConfig
from .buffers import huge_page_array
from .compact import Box
from .resize import BoxResizer
from .sampling import SamplePlan


class RGBClips:
    """Owns the output ``imgs``; ``plan.rgb_unique[i]`` is the video frame of distinct-frame position ``i``."""

    def __init__(self, box: Box, frame_shape: tuple[int, int], plan: SamplePlan, config: PreprocessConfig) -> None:
        clip_len, self.size = config.clip_len_rgb, config.resize
        self.imgs = huge_page_array((plan.num_clips, 3, clip_len, self.size, self.size))
        self.box, self.frame_shape = box, frame_shape
        self._slots: list[list[tuple[int, int]]] = [[] for _ in range(len(plan.rgb_unique))]
        for slot, position in enumerate(np.searchsorted(plan.rgb_unique, plan.rgb).tolist()):
            self._slots[position].append(divmod(slot, clip_len))  # (clip, t)
        self._tables = _normalize_tables(config.mean, config.std)

    def work(self, positions: np.ndarray, frames: np.ndarray) -> "FrameWork":
        """The work for decoded ``frames`` (uint8 [N, H, W, 3]) at distinct-frame ``positions``."""
        return FrameWork(self, positions, frames)

    def write(self, position: int, frame: np.ndarray, planes: list[np.ndarray]) -> None:
        """Normalise one resized uint8 RGB frame [R, R, 3] into its slots; ``planes``: uint8 [R, R] scratch."""
        planes = cv2.split(frame, planes)
        for clip, t in self._slots[position]:
            for plane, table, dst in zip(planes, self._tables, self.imgs[clip, :, t], strict=True):
                cv2.LUT(plane, table, dst=dst)


class FrameWork:
    """Frames waiting to be cropped, resized and normalised; ``run()`` on any thread takes them one by one."""

    def __init__(self, clips: RGBClips, positions: np.ndarray, frames: np.ndarray) -> None:
        if len(positions) != len(frames):
            raise ValueError(f"{len(positions)} positions for {len(frames)} frames")
        self._clips, self._positions, self._frames = clips, positions.tolist(), frames
        self._next = itertools.count()  # next() on a count is atomic: each frame goes to exactly one thread

    def run(self) -> None:
        clips = self._clips
        resize = BoxResizer(clips.box, clips.frame_shape, clips.size)
        resized = np.empty((clips.size, clips.size, 3), dtype=np.uint8)
        planes = [np.empty((clips.size, clips.size), dtype=np.uint8) for _ in range(3)]
        while (i := next(self._next)) < len(self._positions):
            clips.write(self._positions[i], resize(self._frames[i], resized), planes)


@cache
def _normalize_tables(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    values = np.arange(256, dtype=np.float32)
    return tuple((values - np.float32(m)) / np.float32(s) for m, s in zip(mean, std, strict=True))
