"""Skeleton files built to exhaust memory or crash the parser: each is refused with a typed error, sized
from its header before anything is materialised (the bombs are made here, small on disk)."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from bombs import npy, npy_header, npz

from pcan_serve.errors import InvalidSkeleton, PayloadTooLarge
from pcan_serve.preprocess import load_skeleton

T = 20


def good_skeleton() -> dict:
    g = np.random.default_rng(0)
    return {
        "keypoint": (g.random((1, T, 17, 2)) * 100).tolist(),
        "keypoint_score": np.ones((1, T, 17)).tolist(),
        "img_shape": [120, 160],
        "total_frames": T,
    }


def good_npz_members() -> dict[str, bytes]:
    s = good_skeleton()
    return {
        "keypoint.npy": npy(np.array(s["keypoint"])),
        "keypoint_score.npy": npy(np.array(s["keypoint_score"])),
        "img_shape.npy": npy(np.array(s["img_shape"])),
    }


def test_npz_bomb_in_an_unused_member_is_never_inflated():
    bomb = npz(good_npz_members(), zero_member=("padding.npy", 1 << 30))  # 1 GiB of zeros
    assert len(bomb) < 2 * 2**20
    tracemalloc.start()
    skel = load_skeleton(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert skel.keypoint.shape == (1, T, 17, 2)
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_npz_member_declaring_a_huge_shape_is_refused_from_its_header():
    members = good_npz_members()
    members["keypoint.npy"] = npy_header((10**12,)) + b"\0" * 64  # a 314-byte-class file claiming 8 TB
    tracemalloc.start()
    with pytest.raises(InvalidSkeleton, match=r"keypoint declares shape \[1000000000000\]"):
        load_skeleton(npz(members))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 * 2**20


def test_npz_used_member_bomb_is_capped_by_its_declared_size():
    """A member whose header declares 2,720 bytes but which inflates to 256 MiB: at most 2,721 are read."""
    members = good_npz_members()
    del members["keypoint_score.npy"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
        with zf.open("keypoint_score.npy", "w", force_zip64=True) as f:
            f.write(npy_header((1, T, 17)))
            for _ in range(256):
                f.write(bytes(1 << 20))
    tracemalloc.start()
    with pytest.raises(InvalidSkeleton, match="header declares 2720"):
        load_skeleton(buf.getvalue())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 * 2**20


def test_npz_with_pickled_objects_is_refused():
    members = good_npz_members()
    members["keypoint.npy"] = npy_header((2,), "|O") + b"\x80\x04N."
    with pytest.raises(InvalidSkeleton, match="Python objects"):
        load_skeleton(npz(members))


def test_long_integer_literal_is_a_skeleton_error_not_a_crash():
    raw = json.dumps(good_skeleton()).replace('"total_frames": 20', '"total_frames": ' + "9" * 5000)
    with pytest.raises(InvalidSkeleton, match="a number of 5000 characters"):
        load_skeleton(raw.encode())


def test_oversize_json_is_refused_before_parsing(tmp_path):
    s = good_skeleton()
    s["padding"] = " " * (2 * 2**20)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(s))
    with pytest.raises(PayloadTooLarge, match="PCAN_MAX_SKELETON_MB"):
        load_skeleton(path, max_bytes=2**20)
    with pytest.raises(PayloadTooLarge):
        load_skeleton(path.read_bytes(), max_bytes=2**20)
    assert load_skeleton(path, max_bytes=4 * 2**20).keypoint.shape == (1, T, 17, 2)  # under the cap: parsed


def test_a_skeleton_of_empty_lists_is_refused_before_it_is_parsed():
    """20 MiB of ``[]``: ~7 million lists that json.loads would build; the structural pre-scan refuses it first."""
    raw = b'{"keypoint": [' + b"[]," * ((20 * 2**20 - 20) // 3) + b"[]]}"
    tracemalloc.start()
    with pytest.raises(InvalidSkeleton, match=r"more than \d+ values .*PCAN_MAX_PERSONS"):
        load_skeleton(raw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_the_largest_skeleton_the_limits_accept_passes_the_pre_scan():
    persons, frames = 2, 300
    s = {
        "keypoint": np.ones((persons, frames + 2, 17, 2)).tolist(),
        "keypoint_score": np.ones((persons, frames + 2, 17)).tolist(),
        "img_shape": [120, 160],
        "frame_dir": "S001C001P001R001A001",
        "label": 0,
    }
    skel = load_skeleton(json.dumps(s).encode(), max_persons=persons, max_frames=frames)
    assert skel.keypoint.shape == (persons, frames + 2, 17, 2)
    with pytest.raises(InvalidSkeleton, match="more than"):  # twice what one person may have: refused unparsed
        load_skeleton(json.dumps(s).encode(), max_persons=1, max_frames=frames)
