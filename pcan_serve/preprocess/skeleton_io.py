"""Reading skeleton files within a memory budget: nothing is materialised before its size is known.

JSON: the raw size is capped (``max_bytes``) before parsing; then a structural pre-scan bounds the number of
values the text can hold (:func:`count_values`, C-speed ``bytes.count``) by what the largest accepted skeleton
needs, so that no JSON shape makes ``json.loads`` build more Python objects than the limits allow. Measured
(20 MiB of empty lists, ``load_skeleton``, a loaded 2-core machine): 28.5 s and +169 MiB peak before the
pre-scan; 0.3 s and no growth after it. Numbers are parsed through hooks that refuse absurdly long literals
(a 5000-digit integer would otherwise hit Python's int-digit limit deep in the parser). A streaming parser
(ijson) would bound memory too, but parses several times slower for skeletons that are 1-3 MiB in practice.

``.npz``: a zip of ``.npy`` members. Only the known keys are opened; each member's header (dtype, shape) is
read first and checked against what the limits allow, object dtypes (pickles) are refused, and at most the
declared number of bytes is inflated, so neither a huge unused member nor a lying header costs memory.
"""

import io
import json
import math
import zipfile
from typing import Any

import numpy as np

from ..errors import InvalidSkeleton, PayloadTooLarge
from .limits import FRAME_TOLERANCE

NUM_JOINTS = 17
NPZ_MAGIC = b"PK\x03\x04"
NPZ_KEYS = ("keypoint", "keypoint_score", "img_shape", "total_frames", "coordinates")
MAX_NUMBER_CHARS = 64  # a float with every significant digit is ~25 characters
MAX_SMALL_VALUES = 16  # img_shape, total_frames, coordinates
EXTRA_VALUES = 4096  # other keys mmaction2 annotations carry (frame_dir, label, original_shape, ...)
STRUCTURE = (b",", b":", b"[", b"{")


def check_size(size: int, max_bytes: int, name: str) -> None:
    if size > max_bytes:
        raise PayloadTooLarge(
            f"{name}: {size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:g} MiB a skeleton may have "
            "(PCAN_MAX_SKELETON_MB)"
        )


def read_skeleton_bytes(raw: bytes, name: str, max_bytes: int, max_persons: int, max_frames: int) -> dict[str, Any]:
    """The skeleton dict in ``raw`` (JSON or .npz), read within the limits."""
    check_size(len(raw), max_bytes, name)
    if raw.startswith(NPZ_MAGIC):
        return _read_npz(raw, name, max_persons, max_frames)
    budget = json_budget(max_persons, max_frames)
    if count_values(raw) > budget:
        raise InvalidSkeleton(
            f"{name}: the JSON holds more than {budget} values (arrays, numbers, keys), the most a skeleton of "
            f"{max_persons} persons x {max_frames} frames needs (PCAN_MAX_PERSONS, PCAN_MAX_FRAMES)"
        )
    return _read_json(raw, name)


def count_values(raw: bytes) -> int:
    """An upper bound on the JSON values in ``raw`` (each one an object ``json.loads`` would build): every value
    but the outermost comes right after a comma, a colon, or the ``[`` or ``{`` of its container. Inside strings
    these bytes count too, which only raises the bound."""
    return 1 + sum(raw.count(b) for b in STRUCTURE)


def json_budget(max_persons: int, max_frames: int) -> int:
    """Values (numbers, arrays, keys) of the largest skeleton the limits accept, written as JSON."""
    rows = max_persons * (max_frames + FRAME_TOLERANCE)
    keypoint = rows * NUM_JOINTS * 3 + rows + max_persons + 1  # x, y and the joint's array; frame and person arrays
    score = rows * NUM_JOINTS + rows + max_persons + 1
    return keypoint + score + EXTRA_VALUES


def _number(text: str, kind: type) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidSkeleton(f"a number of {len(text)} characters; expected at most {MAX_NUMBER_CHARS}")
    return kind(text)


def _read_json(raw: bytes, name: str) -> dict[str, Any]:
    try:
        data = json.loads(raw, parse_int=lambda t: _number(t, int), parse_float=lambda t: _number(t, float))
    except InvalidSkeleton as exc:
        raise InvalidSkeleton(f"{name}: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSkeleton(f"{name}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidSkeleton(f"{name}: JSON nested too deeply; expected arrays of depth 4 at most") from None
    if not isinstance(data, dict):
        raise InvalidSkeleton(f"{name}: expected a JSON object with 'keypoint', got {type(data).__name__}")
    return data


def _budget(key: str, max_persons: int, max_frames: int) -> int:
    """Most values a member may hold: what the largest accepted skeleton needs."""
    frames = max_frames + FRAME_TOLERANCE
    if key == "keypoint":
        return max_persons * frames * NUM_JOINTS * 2
    if key == "keypoint_score":
        return max_persons * frames * NUM_JOINTS
    return MAX_SMALL_VALUES


def _read_npz(raw: bytes, name: str, max_persons: int, max_frames: int) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = set(archive.namelist())
            return {
                key: _read_member(archive, f"{key}.npy", key, name, _budget(key, max_persons, max_frames))
                for key in NPZ_KEYS
                if f"{key}.npy" in members
            }
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise InvalidSkeleton(f"{name}: not a readable .npz without pickled objects ({exc})") from None


def _read_member(archive: zipfile.ZipFile, member: str, key: str, name: str, budget: int) -> np.ndarray:
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(f, max_header_size=10_000)
        if dtype.hasobject:
            raise InvalidSkeleton(f"{name}: not a readable .npz without pickled objects ({key} holds Python objects)")
        text = key == "coordinates" and dtype.kind == "U" and dtype.itemsize <= 4 * MAX_NUMBER_CHARS
        if not text and (dtype.kind not in "biuf" or dtype.itemsize > 8):
            raise InvalidSkeleton(f"{name}: {key} has dtype {dtype}; expected numbers")
        count = math.prod(shape)
        if count > budget:
            raise InvalidSkeleton(
                f"{name}: {key} declares shape {list(shape)} ({count} values); the limits allow at most {budget}"
            )
        nbytes = count * dtype.itemsize
        data = f.read(nbytes + 1)  # never more than the header declared, whatever the member inflates to
    if len(data) != nbytes:
        raise InvalidSkeleton(f"{name}: {key} holds {len(data)} bytes, its header declares {nbytes}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
