"""mmaction2's own RGBPoseConv3D inference, as the baseline: its test pipeline, its model, our weights.

The model config is mmaction2's ``configs/skeleton/posec3d/rgbpose_conv3d/rgbpose_conv3d.py`` as data,
with the sizes taken from a PCAN preset (so the ``tiny`` preset has an mmaction2 twin as well). The
pipeline transforms come from :mod:`benchmarks.bench_preprocess` (mmaction2's installed config, its
TRANSFORMS registry). Only the benchmarks and tests import this module: serving never imports mmaction2.
"""

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pcan_serve.checkpoint import load_model
from pcan_serve.model import PCANConfig


def mm_unavailable() -> str | None:
    """None when mmaction2 and the reference pipeline import here, else the reason."""
    try:
        from training import mmaction_compat

        mmaction_compat.apply()
        import mmaction.models  # noqa: F401  (the whole model zoo, as register_all_modules imports it)
        from mmengine.dataset import Compose  # noqa: F401

        from .bench_preprocess import mm_transforms  # noqa: F401
    except ImportError as exc:
        return f"mmaction2 reference unavailable ({exc}); install the train extra: pip install -e '.[train]'"
    return None


def mm_model_config(config: PCANConfig) -> dict[str, Any]:
    """``MMRecognizer3D(RGBPoseConv3D, RGBPoseHead)`` for the preset's sizes (the ntu60 preset gives
    exactly mmaction2's rgbpose_conv3d config)."""
    from pcan_serve.model import RGBPoseConv3D

    b = config.backbone
    with torch.device("meta"):
        out_channels = list(RGBPoseConv3D(b).out_channels)
    p = config.preprocess
    backbone = dict(
        type="RGBPoseConv3D",
        speed_ratio=b.speed_ratio,
        channel_ratio=b.channel_ratio,
        rgb_pathway=dict(
            num_stages=len(b.rgb_stage_blocks),
            stage_blocks=tuple(b.rgb_stage_blocks),
            lateral=True,
            lateral_infl=b.rgb_lateral_infl,
            lateral_activate=list(b.rgb_lateral_activate),
            fusion_kernel=b.fusion_kernel,
            base_channels=b.rgb_base_channels,
            conv1_kernel=(1, 7, 7),
            inflate=tuple(b.rgb_inflate),
            with_pool2=False,
        ),
        pose_pathway=dict(
            num_stages=len(b.pose_stage_blocks),
            stage_blocks=tuple(b.pose_stage_blocks),
            lateral=True,
            lateral_inv=True,
            lateral_infl=b.pose_lateral_infl,
            lateral_activate=tuple(b.pose_lateral_activate),
            fusion_kernel=b.fusion_kernel,
            in_channels=b.pose_in_channels,
            base_channels=b.pose_base_channels,
            out_indices=(2,),
            conv1_kernel=(1, 7, 7),
            conv1_stride_s=1,
            conv1_stride_t=1,
            pool1_stride_s=1,
            pool1_stride_t=1,
            inflate=tuple(b.pose_inflate),
            spatial_strides=(2, 2, 2),
            temporal_strides=(1, 1, 1),
            dilations=(1, 1, 1),
            with_pool2=False,
        ),
    )
    head = dict(
        type="RGBPoseHead",
        num_classes=config.head.num_classes,
        in_channels=out_channels,
        loss_components=["rgb", "pose"],
        loss_weights=[1.0, 1.0],
        average_clips="prob",
    )
    preprocessor = dict(
        type="MultiModalDataPreprocessor",
        preprocessors=dict(
            imgs=dict(type="ActionDataPreprocessor", mean=list(p.mean), std=list(p.std), format_shape="NCTHW"),
            heatmap_imgs=dict(type="ActionDataPreprocessor"),
        ),
    )
    return dict(type="MMRecognizer3D", backbone=backbone, cls_head=head, data_preprocessor=preprocessor)


def build_mm_model(config: PCANConfig, checkpoint: str | Path, device: str = "cpu") -> torch.nn.Module:
    """mmaction2's recogniser with the checkpoint's weights (PCAN's fused head has no mmaction2 twin)."""
    from training import mmaction_compat

    mmaction_compat.apply()
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    model = MODELS.build(copy.deepcopy(mm_model_config(config)))
    ours, _ = load_model(checkpoint, preset=config.name)
    state = {k: v for k, v in ours.state_dict().items() if not k.startswith(("cls_head.fused_", "cls_head.fc_fused"))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("data_preprocessor.")]
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit mmaction2's model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device).eval()


class MMPredictor:
    """mmaction2 end to end for one video: test pipeline (Compose) -> ``model.test_step`` -> late fusion 1:1.

    ``predict`` returns the fused probabilities and the time of each part, so the stage breakdown of the
    baseline comes from the very calls that are timed. Parts are split as pcan's ``timing_ms``: reading the
    skeleton counts as preprocessing, sampling + decoding as decode, ``test_step`` (normalise + forward) as
    inference.
    """

    def __init__(self, config: PCANConfig, checkpoint: str | Path, device: str = "cpu", num_clips: int = 1) -> None:
        from mmengine.dataset import Compose

        from .bench_preprocess import mm_transforms

        self.pipeline = Compose(mm_transforms(num_clips, config.preprocess.resize))
        self.model = build_mm_model(config, checkpoint, device)

    def predict(self, video: str | Path, skeleton: str | Path) -> tuple[np.ndarray, dict[str, float]]:
        from mmengine.dataset import pseudo_collate

        from .bench_preprocess import mm_annotation

        t0 = time.perf_counter()
        results = mm_annotation(video, json.loads(Path(skeleton).read_text()))
        ta = time.perf_counter()
        steps = self.pipeline.transforms
        for step in steps[:2]:  # MMUniformSampleFrames, MMDecode
            results = step(results)
        t1 = time.perf_counter()
        for step in steps[2:]:  # MMCompact ... PackActionInputs
            results = step(results)
        t2 = time.perf_counter()
        with torch.no_grad():
            sample = self.model.test_step(pseudo_collate([results]))[0]
        score = sample.pred_score
        parts = {k: v.float().cpu().numpy() for k, v in score.items()} if isinstance(score, dict) else None
        probs = (parts["rgb"] + parts["pose"]) / 2 if parts else score.float().cpu().numpy()
        t3 = time.perf_counter()
        split = {"decode": (t1 - ta) * 1e3, "preprocess": (ta - t0 + t2 - t1) * 1e3, "inference": (t3 - t2) * 1e3}
        return probs, split
