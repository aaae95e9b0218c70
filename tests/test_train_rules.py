"""Guard rules, the metric, config building and the train CLI's usage errors (no training here)."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from training.cli import app
from training.remediation import (
    Finding,
    check_collapse,
    check_gates,
    format_value,
    nest,
    remedies_for,
    resolve_limits,
    table_branches,
    to_percent,
)

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
NTU = CONFIGS / "pcan_ntu60.py"
SYNTH = CONFIGS / "pcan_synth_tiny.py"


@pytest.fixture(scope="module")
def ntu_cfg():
    from training.train import build_config

    return build_config(NTU).to_dict()


def test_gates_absolute_and_relative():
    values = {"rgb": 90.0, "pose": 79.0, "fused": 88.0}
    failed = check_gates(values, {"fused": 88.5, "rgb": 88.5, "pose": 80.0}, epoch=1)
    assert sorted(f.branch for f in failed) == ["fused", "pose"]
    baseline = {"rgb": 95.0, "pose": 90.0, "fused": 96.0}
    gates = resolve_limits({"rgb": 3.0, "pose": 3.0, "fused": 3.0}, relative=True, baseline=baseline)
    assert gates == {"rgb": 92.0, "pose": 87.0, "fused": 93.0}
    assert sorted(f.branch for f in check_gates(values, gates, 1)) == ["fused", "pose", "rgb"]
    assert resolve_limits({"rgb": 3.0}, relative=True, baseline=None) is None


def test_collapse_is_a_drop_beyond_the_margin():
    baseline = {"rgb": 90.0, "pose": 80.0, "fused": 91.0}
    found = check_collapse({"rgb": 85.5, "pose": 74.9, "fused": 91.0}, baseline, margin=5.0, epoch=3)
    assert [(f.branch, f.kind, f.epoch) for f in found] == [("pose", "collapse", 3)]
    assert "collapsed from its baseline 80.00" in found[0].describe()


def test_remediation_table_on_the_ntu_recipe(ntu_cfg):
    """fused < 87 -> lr 0.0005; pose < 78 -> pose weight 1.0; rgb < 87 -> original augmentation."""
    below = table_branches({"fused": 86.0, "pose": 77.0, "rgb": 86.9}, {"fused": 87.0, "pose": 78.0, "rgb": 87.0})
    assert below == {"fused", "pose", "rgb"}
    remedies = {r.rule: r for r in remedies_for(below, ntu_cfg)}
    assert remedies["fused"].updates == {"optim_wrapper.optimizer.lr": 0.0005}
    assert remedies["pose"].updates == {"model.loss_weights": [1.0, 1.0, 0.5, 0.8]}
    pipeline = remedies["rgb"].updates["train_dataloader.dataset.pipeline"]
    assert [s["area_range"] for s in pipeline if s["type"] == "RandomResizedCrop"] == [(0.56, 1.0)]
    assert "train_dataloader.dataset.pipeline.4.area_range=(0.56,1.0)" in remedies["rgb"].cfg_options
    assert "last resort" not in remedies


def test_color_jitter_switched_on_is_switched_off(ntu_cfg):
    cfg = copy.deepcopy(ntu_cfg)
    cfg["train_dataloader"]["dataset"]["pipeline"][4]["area_range"] = (0.56, 1.0)
    cfg["train_dataloader"]["dataset"]["pipeline"][7]["prob"] = 1.0
    (remedy,) = remedies_for({"rgb"}, cfg)
    assert remedy.cfg_options == ["train_dataloader.dataset.pipeline.7.prob=0.0"]
    types = [s["type"] for s in remedy.updates["train_dataloader.dataset.pipeline"]]
    assert "RandomApply" not in types and "RandomResizedCrop" in types


def test_applied_remedies_lead_to_the_last_resort(ntu_cfg):
    cfg = copy.deepcopy(ntu_cfg)
    cfg["optim_wrapper"]["optimizer"]["lr"] = 0.0005
    cfg["model"]["loss_weights"] = [1.0, 1.0, 0.5, 0.8]
    cfg["train_dataloader"]["dataset"]["pipeline"][4]["area_range"] = (0.56, 1.0)
    (remedy,) = remedies_for({"fused", "pose", "rgb"}, cfg)
    assert remedy.rule == "last resort"
    assert remedy.updates["load_from"] is None and remedy.updates["train_cfg.max_epochs"] == 50
    cosine = remedy.updates["param_scheduler"][1]
    assert cosine["end"] == 50 and cosine["T_max"] == 50 - cosine["begin"]
    assert remedies_for(set(), cfg) == []


def test_overrides_values_round_trip_through_cfg_options():
    from training.train import parse_cfg_options

    values = {"a": [1.0, 1.0, 0.5], "b": (0.56, 1.0), "c": None, "d": 0.0005, "e": 50}
    parsed = parse_cfg_options([f"{k}={format_value(v)}" for k, v in values.items()])
    assert parsed == values
    assert nest({"x.y.z": 1, "x.w": 2}) == {"x": {"y": {"z": 1}, "w": 2}}


def test_to_percent_reads_the_metric_names():
    metrics = {"acc/rgb_top1": 0.5, "acc/pose_top1": 0.25, "acc/fused_top1": 1.0, "acc/RGBPose_1:1_top1": 0.75}
    assert to_percent(metrics) == {"rgb": 50.0, "pose": 25.0, "fused": 100.0, "RGBPose_1:1": 75.0}
    assert Finding("gate", "rgb", 1, 50.0, 88.5).describe().startswith("epoch 1: rgb top1 50.00 is below")


def test_metric_names_and_late_fusion():
    from mmaction.structures import ActionDataSample

    from training.metrics import PCANAccMetric

    rng = np.random.default_rng(0)
    n, k = 40, 6
    labels = rng.integers(0, k, n)
    probs = {b: rng.dirichlet(np.ones(k), n).astype(np.float32) for b in ("rgb", "pose", "fused")}
    metric = PCANAccMetric()
    samples = []
    for i in range(n):
        s = ActionDataSample().set_gt_label(int(labels[i]))
        s.set_pred_score({b: torch.from_numpy(p[i]) for b, p in probs.items()})
        samples.append(s.to_dict())
    metric.process({}, samples)
    out = metric.evaluate(n)
    expected = {}
    for b, p in probs.items():
        expected[f"acc/{b}_top1"] = float((p.argmax(1) == labels).mean())
        expected[f"acc/{b}_top5"] = float((np.argsort(-p, 1)[:, :5] == labels[:, None]).any(1).mean())
    for a, c in ((1, 1), (2, 1), (1, 2)):
        late = (a * probs["rgb"] + c * probs["pose"]) / (a + c)
        expected[f"acc/RGBPose_{a}:{c}_top1"] = float((late.argmax(1) == labels).mean())
        expected[f"acc/RGBPose_{a}:{c}_top5"] = float((np.argsort(-late, 1)[:, :5] == labels[:, None]).any(1).mean())
    assert out == pytest.approx(expected)


def test_data_root_moves_every_dataset_and_flags_apply(tmp_path):
    from training.train import build_config

    cfg = build_config(
        SYNTH,
        work_dir=tmp_path / "wd",
        data_root=tmp_path / "data",
        cfg_options=["model.loss_weights=[1.0,2.0,0.5,0.8]", "optim_wrapper.optimizer.lr=0.003"],
        stop_on_failed_gate=True,
    )
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert cfg[name]["dataset"]["data_root"] == str(tmp_path / "data")
    assert cfg.model.loss_weights == [1.0, 2.0, 0.5, 0.8]
    assert cfg.optim_wrapper.optimizer.lr == 0.003
    assert cfg.work_dir == str(tmp_path / "wd")
    guard = [h for h in cfg.custom_hooks if h["type"] == "PCANGuardHook"]
    assert guard and guard[0]["stop_on_failed_gate"] is True


def test_registered_model_takes_its_fields_from_the_config(tmp_path):
    from mmaction.registry import MODELS
    from mmengine.registry import DefaultScope

    from training.train import build_config

    cfg = build_config(
        SYNTH,
        data_root=tmp_path,  # never the working directory's data/ (a user's `pcan data synth` output)
        cfg_options=["model.loss_weights=[1.0,2.0,0.5,0.8]", "model.num_classes=3", "model.class_names=[a,b,c]"],
    )
    with DefaultScope.overwrite_default_scope("mmaction"):
        model = MODELS.build(cfg.model)
    assert model.pcan_config.name == "tiny"
    assert model.pcan_config.head.loss_weights == (1.0, 2.0, 0.5, 0.8)
    assert model.pcan_config.class_names == ("a", "b", "c")
    keys = [k for k in model.state_dict() if not k.startswith("data_preprocessor.")]
    assert keys and all(k.startswith(("backbone.", "cls_head.")) for k in keys)


def test_train_cli_usage_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    runner = CliRunner()
    missing = runner.invoke(app, ["train", str(tmp_path / "nope.py")])
    assert missing.exit_code == 2 and "config file not found" in missing.output
    no_torchrun = runner.invoke(app, ["train", str(SYNTH), "--launcher", "pytorch"])  # RANK unset
    assert no_torchrun.exit_code == 2 and "torchrun" in no_torchrun.output
    bad_option = runner.invoke(app, ["train", str(SYNTH), "--cfg-options", "no_equals_sign"])
    assert bad_option.exit_code == 2 and "key=value" in bad_option.output
    data = tmp_path / "data"
    data.mkdir()
    (data / "classes.txt").write_text("a\nb\n")
    wrong_classes = runner.invoke(app, ["train", str(SYNTH), "--data-root", str(data)])
    assert wrong_classes.exit_code == 2 and "model.num_classes=2" in wrong_classes.output
    for result in (missing, no_torchrun, bad_option, wrong_classes):
        assert result.output.count("\n") == 1 and result.output.startswith("error: "), result.output  # one line


@pytest.mark.parametrize(
    ("root", "words"),
    [
        ("nope", "dataset folder not found: {root}; data_root must be the folder that holds synth_pose.pkl"),
        ("empty", "annotation file not found: {root}/synth_pose.pkl"),
    ],
)
def test_train_and_calibrate_without_their_data_stop_in_one_line(tmp_path, tiny_ckpt, root, words):
    """Before the runner builds anything (it used to end ~800 lines later in FileNotFoundError)."""
    (tmp_path / "empty").mkdir()
    root = tmp_path / root
    runner = CliRunner()
    for args in (["train", str(SYNTH), "--work-dir", str(tmp_path / "w")], ["calibrate", str(tiny_ckpt)]):
        res = runner.invoke(app, [*args, "--data-root", str(root)])
        assert res.exit_code == 2 and res.output.startswith(f"error: {words.format(root=root)}"), res.output
        assert res.output.count("\n") == 1, res.output
    assert not (tmp_path / "w").exists()


def test_ntu_config_pipelines_give_the_designed_shapes(tmp_path):
    """The NTU recipe's pipelines on a real (synthetic) video: train crops 224, val 256 (docs/architecture.md)."""
    from mmaction.registry import DATASETS
    from mmengine.registry import DefaultScope

    from training.synth import SynthSpec, generate
    from training.train import build_config

    data = generate(tmp_path / "d", SynthSpec(num_classes=2, videos_per_class=2))
    cfg = build_config(
        NTU,
        data_root=data.root,
        cfg_options=[
            "ann_file=synth_pose.pkl",
            "train_dataloader.dataset.ann_file=synth_pose.pkl",
            "val_dataloader.dataset.ann_file=synth_pose.pkl",
            "train_dataloader.dataset.split=train",
            "val_dataloader.dataset.split=val",
            "train_dataloader.dataset.data_prefix.video=videos",
            "val_dataloader.dataset.data_prefix.video=videos",
            "model.num_classes=2",
            "train_dataloader.dataset.pipeline.7.prob=1.0",
        ],  # ColorJitter on
    )
    shapes = {}
    with DefaultScope.overwrite_default_scope("mmaction"):
        for part in ("train", "val"):
            dataset = DATASETS.build(cfg[f"{part}_dataloader"]["dataset"])
            sample = dataset[0]
            shapes[part] = tuple(sample["inputs"]["imgs"].shape), tuple(sample["inputs"]["heatmap_imgs"].shape)
    assert shapes["train"] == ((1, 3, 8, 224, 224), (1, 17, 32, 56, 56))
    assert shapes["val"] == ((1, 3, 8, 256, 256), (1, 17, 32, 64, 64))


def test_color_jitter_hue_rotation_runs_on_numpy2():
    """mmaction2's ColorJitter raised OverflowError for negative hue shifts under NumPy 2 (compat shim 6)."""
    import cv2

    from training import mmaction_compat

    mmaction_compat.apply()
    from mmaction.datasets.transforms.processing import ColorJitter

    img = np.random.default_rng(0).integers(0, 256, (6, 7, 3)).astype(np.float32)
    for factor, shift in ((-0.1, -25), (0.1, 25)):
        out = ColorJitter.adjust_hue(img, factor)
        hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2HSV)
        hsv[..., 0] = [[(int(h) + shift) % 180 for h in row] for row in hsv[..., 0]]
        np.testing.assert_array_equal(out, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32))
