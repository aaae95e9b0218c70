"""Builds mmaction2's own models/pipelines for parity tests (tests only; serving never imports mmaction)."""

from training import mmaction_compat

mmaction_compat.apply()

from mmaction.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)

# mmaction2 configs/skeleton/posec3d/rgbpose_conv3d/rgbpose_conv3d.py, as data
RGBPOSE_BACKBONE = dict(
    type="RGBPoseConv3D",
    speed_ratio=4,
    channel_ratio=4,
    rgb_pathway=dict(
        num_stages=4,
        lateral=True,
        lateral_infl=1,
        lateral_activate=[0, 0, 1, 1],
        fusion_kernel=7,
        base_channels=64,
        conv1_kernel=(1, 7, 7),
        inflate=(0, 0, 1, 1),
        with_pool2=False,
    ),
    pose_pathway=dict(
        num_stages=3,
        stage_blocks=(4, 6, 3),
        lateral=True,
        lateral_inv=True,
        lateral_infl=16,
        lateral_activate=(0, 1, 1),
        fusion_kernel=7,
        in_channels=17,
        base_channels=32,
        out_indices=(2,),
        conv1_kernel=(1, 7, 7),
        conv1_stride_s=1,
        conv1_stride_t=1,
        pool1_stride_s=1,
        pool1_stride_t=1,
        inflate=(0, 1, 1),
        spatial_strides=(2, 2, 2),
        temporal_strides=(1, 1, 1),
        dilations=(1, 1, 1),
        with_pool2=False,
    ),
)
RGBPOSE_HEAD = dict(
    type="RGBPoseHead",
    num_classes=60,
    in_channels=[2048, 512],
    loss_components=["rgb", "pose"],
    loss_weights=[1.0, 1.0],
    average_clips="prob",
)
RGBPOSE_MODEL = dict(
    type="MMRecognizer3D",
    backbone=RGBPOSE_BACKBONE,
    cls_head=RGBPOSE_HEAD,
    data_preprocessor=dict(
        type="MultiModalDataPreprocessor",
        preprocessors=dict(
            imgs=dict(
                type="ActionDataPreprocessor",
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                format_shape="NCTHW",
            ),
            heatmap_imgs=dict(type="ActionDataPreprocessor"),
        ),
    ),
)


def build_mm_rgbpose():
    """mmaction2's MMRecognizer3D(RGBPoseConv3D, RGBPoseHead), randomly initialised, eval mode."""
    import copy

    from mmaction.registry import MODELS

    model = MODELS.build(copy.deepcopy(RGBPOSE_MODEL))
    model.init_weights()
    return model.eval()
