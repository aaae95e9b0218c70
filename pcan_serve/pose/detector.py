"""BlazePose person detector (``pose_detection.tflite``): frame -> persons, each with the two points that place
the landmark model's ROI.

What the model expects and returns is fixed by mediapipe's ``pose_detection_cpu.pbtxt`` graph: RGB letterboxed
into 224x224 (zero borders) scaled to [-1, 1]; 2254 SSD anchors (``SsdAnchorsCalculator``: 5 layers, strides 8,
16, 32, 32, 32, aspect ratio 1 plus the interpolated scale, fixed anchor size, offset 0.5); per anchor 12 values
(box centre x, y, width, height, then 4 keypoints x, y; all in input pixels relative to the anchor) and a score
logit (sigmoid, clipped at +-100); weighted non-maximum suppression at IoU 0.3. The box is the face; keypoint 0
is the mid-hip centre and keypoint 1 the point whose distance from it is the radius of the full body.

The model finds persons who fill a good part of its input: several or small persons in a wide frame are missed
when the whole frame is letterboxed (measured: a 1920x540 frame with two persons scores 0.02 whole, 0.99 each on
540x540 tiles). So :meth:`Detector.detect` also runs on overlapping square tiles and merges all by NMS, as SAHI
does for detectors.
"""

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from .geometry import Roi, iou, sigmoid
from .litert import TFLiteModel

SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 and the interpolated scale (also 1.0): the same fixed-size anchor twice
MIN_SCORE = 0.5  # mediapipe Pose's default min_detection_confidence
NMS_IOU = 0.3
ROI_SCALE = 1.25  # the landmark model's ROI: 1.25x the body circle's diameter (mediapipe's PoseDetectionToRoi)
TILE_OVERLAP = 0.5  # tiles overlap by half their side: a person cut by one tile's edge is whole in the next


@dataclass(frozen=True)
class Detection:
    score: float
    box: np.ndarray  # face box (x0, y0, x1, y1) in frame pixels
    keypoints: np.ndarray  # [4, 2] frame pixels: hip centre, body radius point, shoulder centre, upper-body point

    def roi(self) -> Roi:
        return Roi.from_alignment(self.keypoints[0], self.keypoints[1], ROI_SCALE)


@cache
def anchor_centers() -> np.ndarray:
    """float32 [2254, 2] (x, y) in [0, 1]: layers of one stride share a grid, their anchors interleaved per cell."""
    centers = []
    layer = 0
    while layer < len(STRIDES):
        stride, count = STRIDES[layer], 0
        while layer < len(STRIDES) and STRIDES[layer] == stride:
            count, layer = count + ANCHORS_PER_LAYER, layer + 1
        cells = -(-SIZE // stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centers.append(np.repeat(cell, count, axis=0))
    return np.concatenate(centers)


def tiles(height: int, width: int) -> list[tuple[int, int, int]]:
    """(x0, y0, side): the whole frame first, then squares of the short side along the long one, overlapping."""
    side, long = min(height, width), max(height, width)
    regions = [(0, 0, long)]
    if long <= side * 1.2:  # near-square: the whole frame is already one tile
        return regions
    count = int(np.ceil((long - side) / (side * (1 - TILE_OVERLAP)))) + 1
    for start in np.linspace(0, long - side, count).round().astype(int).tolist():
        regions.append((start, 0, side) if width > height else (0, start, side))
    return regions


class Detector:
    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self._out = ("Identity", "Identity_1")

    def detect(self, frame: np.ndarray, tiled: bool = True) -> list[Detection]:
        """Persons in a uint8 RGB frame [H, W, 3], best first, after NMS over the whole frame and its tiles.

        The frame is shrunk once (area averaging, no aliasing) so that a tile is 224 pixels; the tiles are cut
        from that image and the whole frame letterboxed from it, each without further resampling cost.
        """
        height, width = frame.shape[:2]
        k = min(1.0, SIZE / min(height, width))
        small = cv2.resize(frame, (max(1, round(width * k)), max(1, round(height * k))), interpolation=cv2.INTER_AREA)
        regions = tiles(height, width) if tiled else tiles(height, width)[:1]
        found = []
        for x0, y0, side in regions:
            sx, sy, sside = round(x0 * k), round(y0 * k), max(1, round(side * k))
            for d in self._detect_region(small[sy : sy + sside, sx : sx + sside]):
                offset = np.array([sx, sy])
                found.append(Detection(d.score, (d.box.reshape(2, 2) + offset).ravel() / k, (d.keypoints + offset) / k))
        return weighted_nms(found)

    def _detect_region(self, region: np.ndarray) -> list[Detection]:
        """Detections in ``region`` (letterboxed into the input), in the region's pixels."""
        h, w = region.shape[:2]
        scale = SIZE / max(h, w)
        rw, rh = min(SIZE, max(1, round(w * scale))), min(SIZE, max(1, round(h * scale)))
        pad_x, pad_y = (SIZE - rw) // 2, (SIZE - rh) // 2
        canvas = np.full((SIZE, SIZE, 3), -1.0, dtype=np.float32)  # black borders, as BORDER_ZERO gives
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR  # area averaging only shrinks well
        resized = region if (rw, rh) == (w, h) else cv2.resize(region, (rw, rh), interpolation=interpolation)
        canvas[pad_y : pad_y + rh, pad_x : pad_x + rw] = resized.astype(np.float32) * np.float32(1 / 127.5) - 1.0
        out = self.model(canvas[None], self._out)
        raw, logits = out[self._out[0]][0], out[self._out[1]][0, :, 0]
        keep = np.flatnonzero(sigmoid(logits) >= MIN_SCORE)
        if keep.size == 0:
            return []
        anchors = anchor_centers()[keep]
        values = raw[keep] / SIZE
        centers = values[:, 0:2] + anchors
        half = values[:, 2:4] / 2
        points = values[:, 4:12].reshape(-1, 4, 2) + anchors[:, None]
        pad = np.array([pad_x, pad_y])
        boxes = (np.concatenate([centers - half, centers + half], axis=1) * SIZE - np.tile(pad, 2)) / scale
        points = (points * SIZE - pad) / scale
        scores = sigmoid(logits[keep])
        return [Detection(float(s), b, k) for s, b, k in zip(scores, boxes, points, strict=True)]


def weighted_nms(detections: list[Detection]) -> list[Detection]:
    """mediapipe's weighted NMS: each best remaining detection absorbs those overlapping it (IoU above
    ``NMS_IOU``); its box and keypoints become their score-weighted mean, its score stays the best's."""
    remaining = sorted(detections, key=lambda d: -d.score)
    merged = []
    while remaining:
        best = remaining[0]
        boxes = np.stack([d.box for d in remaining])
        overlap = iou(best.box, boxes) > NMS_IOU
        overlap[0] = True
        group = [d for d, o in zip(remaining, overlap, strict=True) if o]
        weights = np.array([d.score for d in group])[:, None]
        box = (np.stack([d.box for d in group]) * weights).sum(0) / weights.sum()
        kps = (np.stack([d.keypoints for d in group]) * weights[:, :, None]).sum(0) / weights.sum()
        merged.append(Detection(best.score, box, kps))
        remaining = [d for d, o in zip(remaining, overlap, strict=True) if not o]
    return merged
