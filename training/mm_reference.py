"""mmaction2's own RGBPoseConv3D inference, the oracle the parity tests and the benchmarks compare against.

Everything is built at run time from mmaction2's installed config
``configs/skeleton/posec3d/rgbpose_conv3d/rgbpose_conv3d.py`` (mmengine ``Config.fromfile``): the test
pipeline through its TRANSFORMS registry, the ``MultiModalDataPreprocessor`` and the
``MMRecognizer3D(RGBPoseConv3D, RGBPoseHead)`` model through its MODELS registry. For the ``ntu60`` preset the
model is exactly the config's; for other presets (``tiny``) only the sizes a :class:`PCANConfig` sets are
overridden, so every preset has an mmaction2 twin. training/ is the one package allowed to import mmaction2:
serving never imports this module.
"""

import copy
import json
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pcan_serve.model import PCANConfig, RGBPoseConv3D

CONFIG = "configs/skeleton/posec3d/rgbpose_conv3d/rgbpose_conv3d.py"
FUSED_HEAD = ("cls_head.fused_", "cls_head.fc_fused")  # PCAN's fused head has no mmaction2 twin


@cache
def mm_config() -> Any:
    """mmaction2's config file as installed with the package (shims applied, its modules registered)."""
    from training import mmaction_compat

    mmaction_compat.apply()
    import mmaction
    from mmaction.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules(init_default_scope=True)
    return Config.fromfile(os.path.join(os.path.dirname(mmaction.__file__), ".mim", CONFIG))


def mm_unavailable() -> str | None:
    """None when mmaction2's reference can be built here, else the reason (a skipped benchmark says it)."""
    try:
        mm_config()
        import mmaction.models  # noqa: F401  (the model zoo, which register_all_modules imports)
        from mmengine.dataset import Compose  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mmaction2 reference unavailable ({exc}); install the train extra: pip install -e '.[train]'"
    return None


# ------------------------------------------------------------------------------------- test pipeline
def mm_transforms(num_clips: int = 1, resize: int = 256) -> list:
    """The config's ``test_pipeline`` transforms with ``num_clips`` and the resize set."""
    from mmaction.registry import TRANSFORMS

    steps = copy.deepcopy(mm_config().test_pipeline)
    for step in steps:
        if step["type"] == "MMUniformSampleFrames":
            step["num_clips"] = num_clips
        elif step["type"] == "Resize":
            step["scale"] = (resize, resize)
    return [TRANSFORMS.build(step) for step in steps]


@cache
def mm_data_preprocessor() -> Any:
    """The config's MultiModalDataPreprocessor (mean/std normalisation of imgs, heatmaps as float)."""
    from mmaction.registry import MODELS

    return MODELS.build(copy.deepcopy(mm_config().model.data_preprocessor)).eval()


def mm_annotation(video: str | Path, skeleton: dict[str, Any], total_frames: int | None = None) -> dict[str, Any]:
    """The dict mmaction2's PoseDataset hands its pipeline for one video."""
    kp = np.asarray(skeleton["keypoint"])
    return {
        "filename": str(video),
        "keypoint": kp,
        "keypoint_score": np.asarray(skeleton["keypoint_score"]),
        "img_shape": tuple(skeleton["img_shape"]),
        "total_frames": int(total_frames if total_frames is not None else kp.shape[1]),
        "modality": "Pose",
        "start_index": 0,
    }


def mm_apply(results: dict[str, Any], transforms: list) -> dict[str, Any]:
    for transform in transforms:
        results = transform(results)
    return results


def mm_finish(results: dict[str, Any], transforms: list) -> dict[str, np.ndarray]:
    """The transforms after decoding (MMCompact .. FormatShape), packing and the data preprocessor."""
    from mmengine.dataset import pseudo_collate

    results = mm_apply(results, transforms[2:-1])
    imgs_u8 = results["imgs"]
    batch = pseudo_collate([transforms[-1](results)])  # PackActionInputs
    with torch.no_grad():
        inputs = mm_data_preprocessor()(batch)["inputs"]
    return {"imgs_u8": imgs_u8, "imgs": inputs["imgs"][0].numpy(), "heatmaps": inputs["heatmap_imgs"][0].numpy()}


def mm_make_inputs(
    video: str | Path, skeleton: dict[str, Any], num_clips: int = 1, resize: int = 256, total_frames: int | None = None
) -> dict[str, np.ndarray]:
    """mmaction2's whole val/test pipeline: ``imgs_u8`` (before normalisation), ``imgs``, ``heatmaps``."""
    transforms = mm_transforms(num_clips, resize)
    decoded = mm_apply(mm_annotation(video, skeleton, total_frames), transforms[:2])
    return mm_finish(decoded, transforms)


# --------------------------------------------------------------------------------------------- model
def _sizes(config: PCANConfig) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every size a PCANConfig sets, by where it lives in the config's ``model`` dict."""
    b, p = config.backbone, config.preprocess
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # no RNG draw: seeded builds stay as they were
        out_channels = list(RGBPoseConv3D(b).out_channels)

    def pathway(blocks: tuple, infl: int, activate: tuple, base: int, inflate: tuple) -> dict[str, Any]:
        return dict(
            num_stages=len(blocks),
            stage_blocks=tuple(blocks),
            lateral_infl=infl,
            lateral_activate=list(activate),
            fusion_kernel=b.fusion_kernel,
            base_channels=base,
            inflate=tuple(inflate),
        )

    return {
        ("backbone",): dict(speed_ratio=b.speed_ratio, channel_ratio=b.channel_ratio),
        ("backbone", "rgb_pathway"): pathway(
            b.rgb_stage_blocks, b.rgb_lateral_infl, b.rgb_lateral_activate, b.rgb_base_channels, b.rgb_inflate
        ),
        ("backbone", "pose_pathway"): dict(
            pathway(
                b.pose_stage_blocks, b.pose_lateral_infl, b.pose_lateral_activate, b.pose_base_channels, b.pose_inflate
            ),
            in_channels=b.pose_in_channels,
        ),
        ("cls_head",): dict(num_classes=config.head.num_classes, in_channels=out_channels),
        ("data_preprocessor", "preprocessors", "imgs"): dict(mean=list(p.mean), std=list(p.std)),
    }


def _current(section: dict[str, Any], key: str) -> Any:
    """A pathway's value, mmaction2's default where the config leaves it out (ResNet-50's stage blocks)."""
    if key == "stage_blocks" and section.get(key) is None:
        from mmaction.models.backbones.resnet3d import ResNet3d

        return ResNet3d.arch_settings[section.get("depth", 50)][1][: section["num_stages"]]
    return section.get(key)


def _same(a: Any, b: Any) -> bool:
    seq = (list, tuple)
    return list(a) == list(b) if isinstance(a, seq) and isinstance(b, seq) else a == b


def mm_model_config(config: PCANConfig) -> dict[str, Any]:
    """The config's ``model`` dict, with a value replaced only where ``config`` differs (ntu60: none)."""
    model = mm_config().model.to_dict()
    for path, values in _sizes(config).items():
        section = model
        for key in path:
            section = section[key]
        for key, value in values.items():
            if not _same(_current(section, key), value):
                section[key] = value
    return model


def build_mm_model(config: PCANConfig, checkpoint: str | Path | None = None, device: str = "cpu") -> torch.nn.Module:
    """mmaction2's recogniser in eval mode: its own random init, or the checkpoint's rgb/pose weights."""
    from mmaction.registry import MODELS

    from pcan_serve import load_model

    model = MODELS.build(mm_model_config(config))
    if checkpoint is None:
        model.init_weights()
    else:
        ours, _ = load_model(checkpoint, preset=config.name)
        state = {k: v for k, v in ours.state_dict().items() if not k.startswith(FUSED_HEAD)}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("data_preprocessor.")]
        if missing or unexpected:
            raise RuntimeError(
                f"weights do not fit mmaction2's model: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
    return model.to(device).eval()


class MMPredictor:
    """mmaction2 end to end for one video: test pipeline -> ``model.test_step`` -> late fusion 1:1.

    ``predict`` returns the fused probabilities and the time of each part, split as pcan's ``timing_ms``
    (reading the skeleton counts as preprocessing, sampling + decoding as decode, ``test_step`` as
    inference), so the baseline's breakdown comes from the very calls that are timed.
    """

    def __init__(self, config: PCANConfig, checkpoint: str | Path, device: str = "cpu", num_clips: int = 1) -> None:
        self.transforms = mm_transforms(num_clips, config.preprocess.resize)
        self.model = build_mm_model(config, checkpoint, device)

    def predict(self, video: str | Path, skeleton: str | Path) -> tuple[np.ndarray, dict[str, float]]:
        from mmengine.dataset import pseudo_collate

        t0 = time.perf_counter()
        results = mm_annotation(video, json.loads(Path(skeleton).read_text()))
        t1 = time.perf_counter()
        results = mm_apply(results, self.transforms[:2])  # MMUniformSampleFrames, MMDecode
        t2 = time.perf_counter()
        results = mm_apply(results, self.transforms[2:])  # MMCompact ... PackActionInputs
        t3 = time.perf_counter()
        with torch.no_grad():
            score = self.model.test_step(pseudo_collate([results]))[0].pred_score
        parts = {k: v.float().cpu().numpy() for k, v in score.items()} if isinstance(score, dict) else None
        probs = (parts["rgb"] + parts["pose"]) / 2 if parts else score.float().cpu().numpy()
        t4 = time.perf_counter()
        split = {"decode": t2 - t1, "preprocess": t1 - t0 + t3 - t2, "inference": t4 - t3}
        return probs, {k: v * 1e3 for k, v in split.items()}
