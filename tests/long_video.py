"""An untrimmed video for timeline tests: one synthetic action, then another, each a clip of its class (rendered
from seeds the training set never used) repeated in its scene, as a person repeats an action."""

import json
from pathlib import Path

import cv2
import numpy as np

from training.synth.dataset import FPS
from training.synth.render import render_clip

UNSEEN_SEED = 10_000  # the training set draws its clips from seeds (0, label, index)


def two_action_video(
    out_dir: Path, actions: tuple[str, str], seconds_each: float = 30.0, size: tuple[int, int] = (96, 128)
) -> tuple[Path, Path]:
    """(video.avi, skeleton.json): ``actions[0]`` for ``seconds_each`` seconds, then ``actions[1]``, at the
    synthetic set's frame rate and size."""
    height, width = size
    per_action = round(seconds_each * FPS)
    frames, keypoints, scores = [], [], []
    for i, action in enumerate(actions):
        clip = render_clip(np.random.default_rng([UNSEEN_SEED, i]), action, 48, height, width)
        repeats = -(-per_action // len(clip.frames))
        frames.append(np.concatenate([clip.frames] * repeats)[:per_action])
        keypoints.append(np.concatenate([clip.keypoint] * repeats, axis=1)[:, :per_action])
        scores.append(np.concatenate([clip.keypoint_score] * repeats, axis=1)[:, :per_action])
    video = out_dir / "two_actions.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    for frame in np.concatenate(frames):
        writer.write(frame)
    writer.release()
    kp = np.concatenate(keypoints, axis=1)
    skeleton = out_dir / "two_actions.json"
    skeleton.write_text(
        json.dumps(
            {
                "keypoint": kp.round(2).tolist(),
                "keypoint_score": np.concatenate(scores, axis=1).round(3).tolist(),
                "img_shape": [height, width],
                "total_frames": int(kp.shape[1]),
            }
        )
    )
    return video, skeleton
