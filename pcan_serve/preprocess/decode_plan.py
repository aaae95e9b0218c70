"""Which compressed packets a decode of a few sampled frames has to touch, from the packet index alone.

Frame ``i`` is the ``i``-th frame in presentation order (what decord and mmaction2 mean by an index). Where
the timestamps tell the presentation order (containers that store presentation times: MP4/MOV, MKV/WebM,
MPEG-TS; or every packet is a keyframe, so nothing is reordered), a wanted frame needs only the packets from
the last keyframe before it: the rest are not sent to the decoder at all, and of the packets sent, the
decoder may drop those no frame refers to (``NONREF``) unless they are wanted. Where they do not (AVI stores
decode-order counters), frames are counted as the decoder emits them from the start, and nothing is skipped.
"""

from dataclasses import dataclass

import numpy as np

SKIP, PASS, WANT = 0, 1, 2
PRESENTATION_STAMPED = frozenset({"mov", "mp4", "matroska", "webm", "mpegts"})
"""FFmpeg demuxer names whose packets carry presentation timestamps."""
"""Packet actions: not sent; sent, and dropped by the decoder unless a later frame refers to it; a wanted frame."""


@dataclass(frozen=True)
class PacketIndex:
    """The video stream's packets in decode order, as demuxed (no frame decoded)."""

    pts: list[int | None]
    key: list[bool]
    shown: list[bool]  # False: the container marks the packet's frame as never shown (an MP4 edit list)
    stamped: bool  # the container stores presentation timestamps (``PRESENTATION_STAMPED``)

    @property
    def num_frames(self) -> int:
        return sum(self.shown)


def presentation_ranks(index: PacketIndex) -> np.ndarray | None:
    """Frame index of each shown packet (-1 for the others), or None when the timestamps cannot tell it."""
    pts = [p for p, s in zip(index.pts, index.shown, strict=True) if s]
    if not pts or any(p is None for p in pts) or len(set(pts)) != len(pts):
        return None
    if not index.stamped and not all(index.key):
        return None  # decode-order counters: they say nothing about the order frames are shown in
    shown = np.flatnonzero(index.shown)
    ranks = np.full(len(index.pts), -1, dtype=np.int64)
    ranks[shown[np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")]] = np.arange(len(pts))
    return ranks


def packet_actions(index: PacketIndex, ranks: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """SKIP/PASS/WANT per packet for the sorted distinct frame indices ``wanted`` (``ranks`` as above).

    A wanted frame is decoded from the last keyframe at or before its packet whose timestamp is not later
    than its own (a leading B-frame of an open GOP needs the keyframe before that one).
    """
    actions = np.zeros(len(ranks), dtype=np.int8)
    position = np.full(len(wanted), -1, dtype=np.int64)
    lookup = {int(r): j for j, r in enumerate(ranks) if r >= 0}
    for i, frame in enumerate(wanted.tolist()):
        position[i] = lookup[frame]
    pts = index.pts
    for j in position.tolist():
        start = j
        while start > 0 and not (index.key[start] and pts[start] <= pts[j]):  # type: ignore[operator]
            start -= 1
        actions[start : j + 1] = np.maximum(actions[start : j + 1], PASS)
    actions[position] = WANT
    return actions
