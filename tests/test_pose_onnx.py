"""The pluggable second estimator: an RTMPose-style top-down ONNX model (SimCC outputs) on ONNX Runtime, with the
BlazePose detector's person boxes. The ONNX file is built here and puts known peaks into simcc_x / simcc_y."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from pcan_serve.cli import app as pcan
from pcan_serve.pose import load_estimator
from pcan_serve.pose.geometry import Roi
from pcan_serve.pose.rtmpose import MEAN, STD, RTMPoseModel
from pcan_serve.preprocess import load_skeleton, open_video

HEIGHT, WIDTH, RATIO = 256, 192, 2
BINS_X = np.array([80 + 12 * k for k in range(17)])  # x = bin / 2 input pixels: 40 .. 136
BINS_Y = np.array([60 + 22 * k for k in range(17)])  # y: 30 .. 206
PEAK_X, PEAK_Y = 0.9, 0.7  # a joint's score is the smaller peak


def simcc_onnx(path, bins_x=BINS_X, bins_y=BINS_Y) -> str:
    """[1, 3, 256, 192] -> simcc_x [1, 17, 384], simcc_y [1, 17, 512]: fixed peaks (+ 0 x the input's mean, so the
    graph reads its input)."""
    x = np.full((1, 17, WIDTH * RATIO), 0.05, np.float32)
    y = np.full((1, 17, HEIGHT * RATIO), 0.05, np.float32)
    x[0, np.arange(17), bins_x], y[0, np.arange(17), bins_y] = PEAK_X, PEAK_Y
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["peaks_x", "nothing"], ["simcc_x"]),
        helper.make_node("Add", ["peaks_y", "nothing"], ["simcc_y"]),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((x, "peaks_x"), (y, "peaks_y"))]
    inits.append(numpy_helper.from_array(np.zeros(1, np.float32), "zero"))
    graph = helper.make_graph(
        nodes,
        "simcc",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, HEIGHT, WIDTH])],
        [
            helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, 17, WIDTH * RATIO]),
            helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, 17, HEIGHT * RATIO]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory) -> str:
    return simcc_onnx(tmp_path_factory.mktemp("rtmpose") / "simcc.onnx")


def expected(roi: Roi) -> np.ndarray:
    """Where the peaks land in the frame: crop height = ROI size, centred on it, 192:256."""
    s = roi.size / HEIGHT
    return np.stack([roi.cx + (BINS_X / RATIO - WIDTH / 2) * s, roi.cy + (BINS_Y / RATIO - HEIGHT / 2) * s], 1)


def test_peaks_decode_to_frame_pixels_within_the_roi(onnx_path):
    model = RTMPoseModel(onnx_path)
    assert model.input_hw == (HEIGHT, WIDTH) and model.name == "onnx:simcc.onnx"
    roi = Roi(700.0, 400.0, 512.0)
    pose = model(np.zeros((1080, 1920, 3), np.uint8), roi)
    np.testing.assert_allclose(pose.keypoint, expected(roi), atol=1e-3)
    np.testing.assert_allclose(pose.score, PEAK_Y)
    assert pose.present and pose.next_roi.size > 0


def test_the_crop_is_normalised_rgb_with_imagenet_statistics(onnx_path):
    model = RTMPoseModel(onnx_path)
    frame = np.zeros((400, 400, 3), np.uint8)
    frame[:] = (200, 100, 50)
    frame[180:220, 190:210] = (255, 255, 255)  # a white block at the ROI's centre
    x, s = model.crop(frame, Roi(200.0, 200.0, 128.0))
    assert x.shape == (1, 3, HEIGHT, WIDTH) and s == 0.5
    np.testing.assert_allclose(x[0, :, 5, 5], (np.array([200, 100, 50]) - MEAN) / STD, rtol=1e-5)
    np.testing.assert_allclose(x[0, :, HEIGHT // 2, WIDTH // 2], (255 - MEAN) / STD, rtol=1e-5)
    assert (x[0, 0, 60:196, 5] < 2.0).all() and x[0, 0, 128, 90:102].min() > 2.0  # the block: 40x80 input pixels


def test_onnx_estimator_on_the_sample_uses_the_detector_boxes(onnx_path, sample_video, tmp_path):
    estimator = load_estimator(pose_model=onnx_path)
    with open_video(sample_video) as video:
        first = video.decode(np.array([0]))[0]
    roi = estimator.detector.detect(first)[0].roi()
    result = estimator.estimate(sample_video, frames=[0, 10, 20])
    kp, score = result.skeleton["keypoint"], result.skeleton["keypoint_score"]
    assert result.info.estimator == "onnx:simcc.onnx" and result.info.persons == 1 and kp.shape == (1, 103, 17, 2)
    np.testing.assert_allclose(kp[0, 0], expected(roi), atol=1e-2)  # frame 0: the detector's ROI
    assert np.allclose(score[0, [0, 10, 20]], PEAK_Y) and not score[0, 1:10].any()
    for t in (10, 20):  # later frames: ROIs from the previous keypoints; the peaks keep their layout
        offsets = kp[0, t] - kp[0, t, :1]
        scale = offsets[1:, 0] / (BINS_X[1:] - BINS_X[0]) * RATIO
        np.testing.assert_allclose(offsets[1:, 1], (BINS_Y[1:] - BINS_Y[0]) / RATIO * scale, rtol=1e-4)


def test_pcan_pose_takes_a_pose_model(onnx_path, sample_video, tmp_path):
    out = tmp_path / "onnx.json"
    args = ["pose", str(sample_video), "-o", str(out), "--pose-model", onnx_path, "--no-progress"]
    res = CliRunner().invoke(pcan, args)
    assert res.exit_code == 0, res.output
    skeleton = load_skeleton(out)  # fixed peaks do not follow the person: the detector may add a second track
    assert skeleton.keypoint.shape[1:] == (103, 17, 2) and np.allclose(skeleton.keypoint_score[0], PEAK_Y, atol=1e-4)
    score = skeleton.keypoint_score
    assert (np.isclose(score, 0) | np.isclose(score, PEAK_Y, atol=1e-4)).all()
    res = CliRunner().invoke(pcan, ["pose", str(sample_video), "-o", str(out), "--pose-model", str(tmp_path / "no")])
    assert res.exit_code == 2 and "pose model not found" in res.output
