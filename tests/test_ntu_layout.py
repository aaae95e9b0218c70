"""The real NTU-60 training path, in miniature, from the NTU sample: both layouts on disk (architecture.md "NTU-60 on
disk") and the full-size `pcan_ntu60.py` config through `pcan train` on CPU. mmaction2's layout: one short epoch
(batch 1, two iterations) from no checkpoint, its guard (the epoch-1 gates fail, the run ends with 0) and its
calibration, then ONNX export of the result and `pcan predict` of the video with it. Raw layout: the baseline
validation of that checkpoint, then the run stops (no epoch); and both layouts' data pipelines agree.

mmaction2's layout: ``ntu60_2d.pkl`` + ``nturgbd_videos/{frame_dir}.mp4`` compressed to 960x540 (as its
``compress_nturgbd.py`` does); raw: the same pickle + ``nturgb+d_rgb/{frame_dir}_rgb.avi``, the 1920x1080 video as
it is. Both splits hold the sample; the train split also holds a second name for the same video (two iterations).
"""

import json
import os
import pickle
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from train_helpers import ROOT, tail, train_command
from typer.testing import CliRunner

from pcan_serve.cli import app as pcan
from pcan_serve.model.scores import fusion_name
from pcan_serve.model_io import read_meta

pytestmark = pytest.mark.slow  # the quick loop (-m 'not slow') leaves it out; make test runs it

NTU_CONFIG = ROOT / "training" / "configs" / "pcan_ntu60.py"
STEM, TWIN = "S001C001P001R001A001", "S001C001P001R002A001"
VIDEO_FILES = {"mmaction2": f"nturgbd_videos/{STEM}.mp4", "raw": f"nturgb+d_rgb/{STEM}_rgb.avi"}
LOADERS = [
    f"{part}_dataloader.{key}"
    for part in ("train", "val", "test")
    for key in ("num_workers=0", "persistent_workers=False")
]


def _annotation(frame_dir: str, skeleton: dict) -> dict:
    """One mmaction2 PoseDataset annotation: keypoints in the 1920x1080 pixels of the original video."""
    return {
        "frame_dir": frame_dir,
        "label": 0,
        "img_shape": (1080, 1920),
        "original_shape": (1080, 1920),
        "total_frames": skeleton["total_frames"],
        "keypoint": np.asarray(skeleton["keypoint"], np.float32),
        "keypoint_score": np.asarray(skeleton["keypoint_score"], np.float32),
    }


def _compress(src: Path, dst: Path) -> None:
    """960x540 MPEG-4, every frame at the source's rate, as mmaction2's compress_nturgbd.py (ffmpeg) makes it."""
    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS), (960, 540))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (960, 540), interpolation=cv2.INTER_AREA))
    writer.release()
    cap.release()


@pytest.fixture(scope="module")
def ntu_roots(tmp_path_factory, sample_video, sample_skeleton) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ntu60")
    skeleton = json.loads(sample_skeleton.read_text())
    roots = {"mmaction2": base / "mmaction2", "raw": base / "raw"}
    videos = roots["mmaction2"] / "nturgbd_videos"
    videos.mkdir(parents=True)
    _compress(sample_video, videos / f"{STEM}.mp4")
    (videos / f"{TWIN}.mp4").symlink_to(videos / f"{STEM}.mp4")
    raw = roots["raw"] / "nturgb+d_rgb"
    raw.mkdir(parents=True)
    for frame_dir in (STEM, TWIN):
        (raw / f"{frame_dir}_rgb.avi").symlink_to(sample_video)
    data = {
        "split": {"xsub_train": [STEM, TWIN], "xsub_val": [STEM]},
        "annotations": [_annotation(STEM, skeleton), _annotation(TWIN, skeleton)],
    }
    for root in roots.values():
        with (root / "ntu60_2d.pkl").open("wb") as f:
            pickle.dump(data, f, protocol=4)
    return roots


def _train(data_root: Path, work_dir: Path, layout: str, *args: str, options: list[str]):
    args = ("--video-layout", layout, *args, "--cfg-options", *options, *LOADERS)
    cmd = train_command(work_dir, data_root, *args, config=NTU_CONFIG)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the full model: the default threads, not one
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    print(f"pcan train --video-layout {layout}: {time.perf_counter() - start:.0f} s")
    assert proc.returncode == 0, tail(proc)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def mmaction2_run(ntu_roots, tmp_path_factory) -> Path:
    """mmaction2's layout through the full-size config from no checkpoint: the gates fail, the run still ends (0)."""
    work_dir = tmp_path_factory.mktemp("ntu_train") / "work"
    options = ["load_from=None", "train_cfg.max_epochs=1", "train_dataloader.batch_size=1"]
    log = _train(ntu_roots["mmaction2"], work_dir, "mmaction2", options=options)
    assert "Epoch(train) [1][2/2]" in log and "Epoch(val) [1][1/1]" in log  # batch 1: two iterations, one val
    return work_dir


@pytest.mark.slow  # the full-size model, trained on the CPU
def test_ntu60_config_trains_with_its_guard_and_calibration(mmaction2_run):
    report = json.loads((mmaction2_run / "guard_report.json").read_text())
    assert report["settings"]["load_from"] is None and report["baseline"] is None  # nothing loaded to validate
    first = report["epochs"][0]["acc"]
    failed = {f["branch"] for f in report["findings"] if f["kind"] == "gate"}
    assert report["status"] == "gate_failed" and failed
    assert failed == {b for b, gate in report["gates"].items() if first[b] < gate}
    text = (mmaction2_run / "guard_report.md").read_text()
    assert "gate failed" in text and all(f"{b} top1" in text for b in failed)
    best = next(mmaction2_run.glob("best_acc_RGBPose_1-1_top1_epoch_1.pth"))
    meta = read_meta(mmaction2_run / "calibrated.pth")
    assert read_meta(best).config.name == meta.config.name == "ntu60" and len(meta.class_names) == 60
    assert meta.calibration["split"] == "xsub_val" and meta.calibration["num_samples"] == 1
    summary = (mmaction2_run / "training_summary.md").read_text()
    assert "only 1 samples" in summary and (mmaction2_run / "training_curves.png").is_file()


@pytest.mark.slow  # the full-size model, trained on the CPU
def test_the_result_exports_to_onnx_and_predicts_the_video(mmaction2_run, sample_video, tmp_path):
    from export import OnnxExportOptions, export_verified_onnx

    start = time.perf_counter()
    onnx_path = tmp_path / "pcan_ntu60.onnx"  # the best checkpoint, calibrated: what the run hands on
    options = OnnxExportOptions(
        checkpoint=mmaction2_run / "calibrated.pth", output=onnx_path, sample=None, verify_batches=(1,)
    )
    exported = export_verified_onnx(options)
    assert exported.report.ok and {c.batch for c in exported.report.comparisons} == {1}
    out = tmp_path / "pred.jsonl"
    res = CliRunner().invoke(
        pcan, ["predict", str(sample_video), "--onnx", str(onnx_path), "-o", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["ok"] and row["model"]["name"] == "pcan-ntu60" and row["model"]["backend"] == "onnxruntime"
    assert row["model"]["calibrated"] is True and row["fusion"] == fusion_name(exported.meta.fusion_weights)
    print(f"export (verified at batch 1) + pcan predict: {time.perf_counter() - start:.0f} s")


@pytest.mark.slow  # the full-size model, trained on the CPU
def test_raw_layout_trains_from_the_download_as_it_is(mmaction2_run, ntu_roots, tmp_path):
    """The raw layout failed before (it looked for nturgbd_videos/*.mp4): now the run validates its baseline
    (the checkpoint just trained) on the 1920x1080 .avi and stops there (no epoch)."""
    best = next(mmaction2_run.glob("best_*.pth"))
    options = [f"load_from={best}", "train_cfg.max_epochs=0"]
    _train(ntu_roots["raw"], tmp_path / "raw", "raw", "--no-calibrate", options=options)
    report = json.loads((tmp_path / "raw" / "guard_report.json").read_text())
    assert set(report["baseline"]) >= {"rgb", "pose", "fused"} and report["epochs"] == []
    assert not (ntu_roots["raw"] / "nturgbd_videos").exists()


def test_both_layouts_feed_the_model_the_same_clip(ntu_roots):
    """The raw layout reads the download as it is; its keypoints need no rescaling, the compressed videos' are
    halved by MMDecode: after MMCompact and Resize both give the same heatmaps (and near-identical frames)."""
    from mmaction.registry import DATASETS
    from mmengine.registry import DefaultScope

    from training.train import build_config

    samples = {}
    for layout, root in ntu_roots.items():
        cfg = build_config(NTU_CONFIG, data_root=root, video_layout=layout)
        with DefaultScope.overwrite_default_scope("mmaction"):
            train, val = (DATASETS.build(cfg[f"{part}_dataloader"]["dataset"]) for part in ("train", "val"))
            assert len(train) == 2 and len(val) == 1
            assert val.get_data_info(0)["filename"] == str(root / VIDEO_FILES[layout])
            samples[layout] = val[0]["inputs"]
            assert tuple(train[0]["inputs"]["imgs"].shape) == (1, 3, 8, 224, 224)
    heat = {k: v["heatmap_imgs"].numpy() for k, v in samples.items()}
    imgs = {k: v["imgs"].float().numpy() for k, v in samples.items()}
    assert heat["raw"].shape == (1, 17, 32, 64, 64) and heat["raw"].max() > 0.5
    assert np.abs(heat["raw"] - heat["mmaction2"]).mean() < 1e-3  # crop boxes differ by rounding only
    assert np.abs(imgs["raw"] - imgs["mmaction2"]).mean() < 8  # the same frames, compressed (0..255)
