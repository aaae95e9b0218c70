"""`pcan pose-dataset`: a folder of videos + labels -> the mmaction2 annotation file that `pcan train` reads with
the NTU-60 config as it is (mmaction2 layout), checked by building the config's datasets and running their
pipelines, as tests/test_ntu_layout.py does for the NTU layout."""

import json
import pickle

import cv2
import numpy as np
import pytest
from pose_helpers import two_person_video, write_video
from train_helpers import ROOT
from typer.testing import CliRunner

from pcan_serve.cli import app as pcan
from pcan_serve.preprocess import open_video

NTU_CONFIG = ROOT / "training" / "configs" / "pcan_ntu60.py"
COUNT = 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, sample_video, sample_skeleton):
    base = tmp_path_factory.mktemp("own")
    videos = base / "my_videos"
    (videos / "sub").mkdir(parents=True)
    with open_video(sample_video) as video:
        frames = video.decode(np.arange(COUNT + 30))
    halves = [cv2.resize(f, (960, 540), interpolation=cv2.INTER_AREA) for f in frames[:COUNT]]
    write_video(videos / "drink.mp4", halves)
    reference = np.asarray(json.loads(sample_skeleton.read_text())["keypoint"], dtype=np.float32)[0]
    two_person_video(videos / "sub" / "pair.mp4", frames, reference, COUNT, 30)
    write_video(videos / "nobody.mp4", [np.full((270, 480, 3), 90, np.uint8)] * 4)
    labels = base / "labels.csv"
    labels.write_text("video,label,split\ndrink.mp4,0,val\nsub/pair.mp4,5,train\nnobody.mp4,1,train\n")
    root = base / "data"
    args = ["pose-dataset", str(videos), "--labels", str(labels), "--output", str(root / "ntu60_2d.pkl")]
    res = CliRunner().invoke(pcan, [*args, "--no-progress"])
    assert res.exit_code == 1, res.output  # the video without a person failed, the others were written
    assert "nobody.mp4" in res.output and "NoPersonDetected" in res.output
    assert f"--data-root {root}" in res.output
    return root


def test_annotation_file_has_the_ntu_layout(dataset):
    data = pickle.loads((dataset / "ntu60_2d.pkl").read_bytes())
    assert data["split"] == {"xsub_train": ["sub/pair.mp4"], "xsub_val": ["drink.mp4"]}
    by_name = {a["filename"]: a for a in data["annotations"]}
    drink, pair = by_name["drink.mp4"], by_name["sub/pair.mp4"]
    assert drink["frame_dir"] == "drink" and drink["label"] == 0 and pair["label"] == 5
    assert drink["img_shape"] == drink["original_shape"] == (540, 960) and pair["img_shape"] == (540, 1920)
    assert drink["total_frames"] == COUNT and drink["keypoint"].shape == (1, COUNT, 17, 2)
    assert pair["keypoint"].shape == (2, COUNT, 17, 2) and pair["keypoint_score"].shape == (2, COUNT, 17)
    assert pair["keypoint"].dtype == pair["keypoint_score"].dtype == np.float32
    assert (dataset / "nturgbd_videos" / "sub" / "pair.mp4").is_file()  # linked to the videos folder


def test_training_reads_it_with_the_ntu60_config(dataset):
    from mmaction.registry import DATASETS
    from mmengine.registry import DefaultScope

    from training.train import build_config

    cfg = build_config(NTU_CONFIG, data_root=dataset)
    with DefaultScope.overwrite_default_scope("mmaction"):
        train, val = (DATASETS.build(cfg[f"{part}_dataloader"]["dataset"]) for part in ("train", "val"))
        assert len(train) == 1 and len(val) == 1
        assert val.get_data_info(0)["filename"] == str(dataset / "nturgbd_videos" / "drink.mp4")
        sample = val[0]["inputs"]
        assert tuple(train[0]["inputs"]["imgs"].shape) == (1, 3, 8, 224, 224)
    heatmaps = sample["heatmap_imgs"].numpy()
    assert heatmaps.shape == (1, 17, 32, 64, 64) and heatmaps.max() > 0.5
    assert tuple(sample["imgs"].shape) == (1, 3, 8, 256, 256)
