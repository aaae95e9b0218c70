"""Frame sampling with the semantics of mmaction2's ``MMUniformSampleFrames(test_mode=True)``.

Test mode is deterministic: every modality restarts a legacy ``RandomState`` seeded with 255 and all clips of
that modality draw from it in turn. We use a private generator, so the process-wide NumPy state is untouched.
"""

from dataclasses import dataclass

import numpy as np

TEST_SEED = 255


def uniform_test_indices(num_frames: int, clip_len: int, num_clips: int, seed: int = TEST_SEED) -> np.ndarray:
    """Indices (int64, ``num_clips * clip_len``, clip after clip) into a video of ``num_frames`` frames."""
    if num_frames < 1 or clip_len < 1 or num_clips < 1:
        raise ValueError(f"need positive sizes, got {num_frames=} {clip_len=} {num_clips=}")
    rng = np.random.RandomState(seed)
    clips = []
    for clip in range(num_clips):
        if num_frames < clip_len:
            # too short: consecutive frames from a per-clip start, wrapped around below
            start = clip if num_frames < num_clips else clip * num_frames // num_clips
            inds = np.arange(start, start + clip_len)
        elif num_frames < 2 * clip_len:
            # between 1x and 2x: each frame once, plus (num_frames - clip_len) random one-frame skips
            skips = np.zeros(clip_len + 1, dtype=np.int64)
            skips[rng.choice(clip_len + 1, num_frames - clip_len, replace=False)] = 1
            inds = np.arange(clip_len) + np.cumsum(skips)[:-1]
        else:
            # clip_len equal segments, one random frame from each
            bounds = np.array([i * num_frames // clip_len for i in range(clip_len + 1)])
            inds = bounds[:-1] + rng.randint(np.diff(bounds))
        clips.append(inds)
    return np.mod(np.concatenate(clips), num_frames).astype(np.int64)


@dataclass(frozen=True)
class SamplePlan:
    """Which video frames feed which clip slot, for both modalities."""

    num_frames: int
    num_clips: int
    rgb: np.ndarray  # [num_clips * clip_len_rgb] frame index per RGB slot
    pose: np.ndarray  # [num_clips * clip_len_pose] frame index per pose slot

    @property
    def rgb_unique(self) -> np.ndarray:
        """Sorted distinct RGB frames: what has to be decoded."""
        return np.unique(self.rgb)


def sample_frames(num_frames: int, num_clips: int, clip_len_rgb: int, clip_len_pose: int) -> SamplePlan:
    """Both modalities' indices; each modality restarts the seeded generator, as mmaction2 does."""
    return SamplePlan(
        num_frames=num_frames,
        num_clips=num_clips,
        rgb=uniform_test_indices(num_frames, clip_len_rgb, num_clips),
        pose=uniform_test_indices(num_frames, clip_len_pose, num_clips),
    )
