"""Skeleton input (docs/formats.md "Skeleton"): load JSON/.npz, validate, fit to the video.

Every violation raises a typed error naming the field and what was expected. Unknown extra keys
(``frame_dir``, ``label``, ``original_shape``, ...) are ignored, as mmaction2 annotations carry them.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidSkeleton, MissingInput, SkeletonVideoMismatch, TooManyPersons
from .limits import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PERSONS, DEFAULT_MAX_SKELETON_BYTES, FRAME_TOLERANCE
from .skeleton_io import NUM_JOINTS, check_size, read_skeleton_bytes

_COORDINATES = ("pixel", "normalized")
_ASPECT_TOLERANCE = 0.05  # relative; beyond it the skeleton was made for another video
_FAR = 1e7  # px; a joint this far away can only come from a wrong skeleton (and would overflow float32 sums)


@dataclass(frozen=True)
class Skeleton:
    """Validated COCO-17 poses: ``keypoint`` float32 [M, T, 17, 2], ``keypoint_score`` float32 [M, T, 17].

    ``img_shape`` is the (height, width) the pixel coordinates refer to; ``None`` when unknown or when the
    coordinates are normalised to [0, 1] (both then refer to the video's own frames).
    """

    keypoint: np.ndarray
    keypoint_score: np.ndarray
    img_shape: tuple[int, int] | None = None
    normalized: bool = False

    @property
    def num_persons(self) -> int:
        return int(self.keypoint.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.keypoint.shape[1])


SkeletonSource = str | Path | bytes | bytearray | memoryview | Mapping[str, Any] | Skeleton


def load_skeleton(
    source: SkeletonSource,
    max_persons: int = DEFAULT_MAX_PERSONS,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_bytes: int = DEFAULT_MAX_SKELETON_BYTES,
) -> Skeleton:
    """Read a skeleton from a path (.json/.npz), JSON or .npz bytes, or an already parsed dict; files and
    bytes are sized before they are parsed (``skeleton_io``); a :class:`Skeleton` is already valid."""
    if isinstance(source, Skeleton):
        return source
    if isinstance(source, Mapping):
        data = source
    elif isinstance(source, bytes | bytearray | memoryview):
        data = read_skeleton_bytes(bytes(source), "skeleton", max_bytes, max_persons, max_frames)
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise MissingInput(f"skeleton file not found: {path}")
        check_size(path.stat().st_size, max_bytes, path.name)
        data = read_skeleton_bytes(path.read_bytes(), path.name, max_bytes, max_persons, max_frames)
    else:
        raise InvalidSkeleton(f"skeleton: expected a path, bytes or a dict, got {type(source).__name__}")
    return parse_skeleton(data, max_persons=max_persons, max_frames=max_frames)


def parse_skeleton(
    data: Mapping[str, Any],
    max_persons: int = DEFAULT_MAX_PERSONS,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> Skeleton:
    """Validate a skeleton dict: shapes, 17 joints, finite numbers, scores in [0, 1], caps."""
    if "keypoint" not in data:
        raise InvalidSkeleton("keypoint: missing; expected an array [persons, frames, 17, 2]")
    total = _optional_int(data, "total_frames")
    kp = _numeric_array(data["keypoint"], "keypoint", "[persons, frames, 17, 2]")
    if kp.size == 0 and kp.ndim < 4:
        if kp.shape != (0,) or not total:
            raise InvalidSkeleton("keypoint: expected at least one frame of 17 joints, got none")
        kp = kp.reshape(0, total, NUM_JOINTS, 2)  # nobody detected in any of total_frames: "keypoint": []
    if kp.ndim != 4 or kp.shape[2:] != (NUM_JOINTS, 2):
        raise InvalidSkeleton(
            f"keypoint: expected shape [persons, frames, {NUM_JOINTS}, 2] (COCO-17 x, y), got {list(kp.shape)}"
        )
    persons, frames = kp.shape[:2]
    if persons > max_persons:
        raise TooManyPersons(f"keypoint: {persons} persons, at most {max_persons} are accepted")
    if frames < 1:
        raise InvalidSkeleton("keypoint: expected at least one frame, got 0")
    if frames > max_frames + FRAME_TOLERANCE:
        raise InvalidSkeleton(f"keypoint: {frames} frames, at most {max_frames} are accepted")
    if total is not None and total != frames:
        raise InvalidSkeleton(f"total_frames: {total} disagrees with the {frames} frames in keypoint")
    with np.errstate(over="ignore"):
        kp = kp.astype(np.float32)
    if not np.isfinite(kp).all():  # after the cast: 1e300 is finite in float64, not in float32
        raise InvalidSkeleton("keypoint: expected finite float32 numbers, found NaN, infinity or overflow")

    if data.get("keypoint_score") is None:
        score = np.ones(kp.shape[:3], dtype=np.float32)  # mmaction2's default: every joint present
    else:
        score = _numeric_array(data["keypoint_score"], "keypoint_score", "[persons, frames, 17]")
        if persons == 0 and score.size == 0:
            score = score.reshape(kp.shape[:3])
        if score.shape != kp.shape[:3]:
            raise InvalidSkeleton(
                f"keypoint_score: expected shape {list(kp.shape[:3])} to match keypoint, got {list(score.shape)}"
            )
        with np.errstate(over="ignore"):
            score = score.astype(np.float32)
        if not np.isfinite(score).all():
            raise InvalidSkeleton("keypoint_score: expected finite numbers, found NaN or infinity")
        if score.size and (score.min() < 0 or score.max() > 1):
            raise InvalidSkeleton(
                f"keypoint_score: expected values in [0, 1], got range [{score.min():g}, {score.max():g}]"
            )

    coordinates = _coordinates(data)
    img_shape = _img_shape(data) if coordinates == "pixel" else None
    return Skeleton(
        keypoint=kp,
        keypoint_score=score,
        img_shape=img_shape,
        normalized=coordinates == "normalized",
    )


def _numeric_array(value: Any, field: str, expected: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested lists
        raise InvalidSkeleton(f"{field}: expected a rectangular array {expected}, got ragged lists") from None
    if arr.dtype == object:
        raise InvalidSkeleton(f"{field}: expected a rectangular array of numbers {expected}")
    if arr.size and not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
        raise InvalidSkeleton(f"{field}: expected real numbers {expected}, got {arr.dtype.name} values")
    if arr.dtype == bool:
        raise InvalidSkeleton(f"{field}: expected real numbers {expected}, got booleans")
    return arr


def _scalar(data: Mapping[str, Any], key: str) -> Any:
    value = data[key]
    if isinstance(value, np.ndarray | np.generic):  # .npz stores scalars as 0-d arrays
        value = value.tolist()
    return value


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    if data.get(key) is None:
        return None
    value = _scalar(data, key)
    if not _whole(value) or value < 0:
        raise InvalidSkeleton(f"{key}: expected a non-negative integer, got {value!r}")
    return int(value)


def _whole(value: Any) -> bool:
    """An integer, or a float with an integral finite value (JSON writers differ); never a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def _coordinates(data: Mapping[str, Any]) -> str:
    if data.get("coordinates") is None:
        return "pixel"
    value = _scalar(data, "coordinates")
    if value not in _COORDINATES:
        raise InvalidSkeleton(f"coordinates: expected one of {list(_COORDINATES)}, got {value!r}")
    return str(value)


def _img_shape(data: Mapping[str, Any]) -> tuple[int, int] | None:
    if data.get("img_shape") is None:
        return None
    value = _scalar(data, "img_shape")
    ok = isinstance(value, list | tuple) and len(value) == 2
    ok = ok and all(_whole(v) and v > 0 for v in value)
    if not ok:
        raise InvalidSkeleton(f"img_shape: expected [height, width] as two positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def fit_to_video(skeleton: Skeleton, video_frames: int) -> Skeleton:
    """Clip a frame-count difference of at most ``FRAME_TOLERANCE`` to the shorter side; reject a larger one."""
    diff = skeleton.num_frames - video_frames
    if abs(diff) > FRAME_TOLERANCE:
        raise SkeletonVideoMismatch(
            f"total_frames: the skeleton has {skeleton.num_frames} frames, the video {video_frames}; "
            f"expected at most {FRAME_TOLERANCE} frames difference"
        )
    if diff <= 0:
        return skeleton
    return replace(
        skeleton,
        keypoint=skeleton.keypoint[:, :video_frames],
        keypoint_score=skeleton.keypoint_score[:, :video_frames],
    )


def check_frame_shape(skeleton: Skeleton, frame_shape: tuple[int, int]) -> None:
    """Reject pixel coordinates made for frames of another aspect ratio (another video's skeleton)."""
    if skeleton.img_shape is None:
        return
    (sh, sw), (vh, vw) = skeleton.img_shape, frame_shape
    if not math.isclose(sw / sh, vw / vh, rel_tol=_ASPECT_TOLERANCE):
        raise SkeletonVideoMismatch(
            f"img_shape: the skeleton's [{sh}, {sw}] (height, width) does not have the aspect ratio of the "
            f"video's {vh}x{vw} frames; expected the frame size the coordinates were measured on"
        )


def frame_pixel_keypoints(skeleton: Skeleton, frame_inds: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """Keypoints of the given frames in the decoded frames' pixels (float32 [M, len(frame_inds), 17, 2]).

    Pixel coordinates made for another frame size are rescaled per axis, like mmaction2's ``MMDecode``;
    normalised ones are multiplied by the frame size.
    """
    kp = skeleton.keypoint[:, frame_inds]  # fancy indexing: a copy we may scale in place
    height, width = frame_shape
    with np.errstate(over="ignore"):
        if skeleton.normalized:
            kp[..., 0] *= np.float32(width)
            kp[..., 1] *= np.float32(height)
        elif skeleton.img_shape is not None and tuple(skeleton.img_shape) != (height, width):
            kp[..., 0] *= np.float32(width / skeleton.img_shape[1])
            kp[..., 1] *= np.float32(height / skeleton.img_shape[0])
    if kp.size and not (np.abs(kp) <= _FAR).all():  # also catches overflow; keeps box arithmetic finite
        raise SkeletonVideoMismatch(
            f"keypoint: coordinates beyond {_FAR:g} px for the video's {width}x{height} frames; "
            "expected coordinates on (or near) these frames"
        )
    return kp
