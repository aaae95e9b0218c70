# PCAN fine-tuning on NTU RGB+D 60 (cross-subject): the seed's v3 recipe.
#
#   pcan train training/configs/pcan_ntu60.py --data-root data/ntu60 \
#       --cfg-options load_from=checkpoints/pcan_ntu60_init.pth
#
# Data: DATA_ROOT/ntu60_2d.pkl (mmaction2's PoseDataset pickle: split xsub_train/xsub_val + annotations) and the
# videos in one of two layouts (training/datasets.py): "mmaction2" (default) DATA_ROOT/nturgbd_videos/{frame_dir}.mp4
# (960x540, compress_nturgbd.py), or "raw" DATA_ROOT/nturgb+d_rgb/{frame_dir}_rgb.avi (the NTU download,
# 1920x1080): `pcan train ... --video-layout raw`. Every path below is relative to `data_root`; `--data-root DIR`
# moves them all.
# The model is pcan_serve's PCAN wrapped for mmengine (training/models.py); pipelines and data
# preprocessing are mmaction2's RGBPoseConv3D ones (configs/skeleton/posec3d/rgbpose_conv3d).
default_scope = "mmaction"
custom_imports = dict(imports=["training.register"], allow_failed_imports=False)

# ---------------------------------------------------------------------------------------------- data
data_root = "data/ntu60"
ann_file = "ntu60_2d.pkl"
video_layout = "mmaction2"  # or "raw"; --video-layout sets it in every dataset
train_split, val_split = "xsub_train", "xsub_val"
left_kp = [1, 3, 5, 7, 9, 11, 13, 15]  # COCO-17 left joints; Flip swaps them with right_kp
right_kp = [2, 4, 6, 8, 10, 12, 14, 16]
resize = 256  # val/test input (the preset's preprocess.resize); heatmaps are resize / 4
train_size = 224  # training crops, as in mmaction2's rgbpose_conv3d config
crop_area = (0.50, 1.0)  # v3; mmaction2's original: (0.56, 1.0)
color_jitter_prob = 0.0  # v3: ColorJitter off. Switch on: set the RandomApply's prob (1.0 = always)

train_pipeline = [
    dict(type="MMUniformSampleFrames", clip_len=dict(RGB=8, Pose=32), num_clips=1),
    dict(type="MMDecode"),
    dict(type="MMCompact", hw_ratio=1.0, allow_imgpad=True),
    dict(type="Resize", scale=(resize, resize), keep_ratio=False),
    dict(type="RandomResizedCrop", area_range=crop_area),
    dict(type="Resize", scale=(train_size, train_size), keep_ratio=False),
    dict(type="Flip", flip_ratio=0.5, left_kp=left_kp, right_kp=right_kp),
    dict(type="RandomApply", transforms=[dict(type="ColorJitter")], prob=color_jitter_prob),
    dict(type="GeneratePoseTarget", sigma=0.7, use_score=True, with_kp=True, with_limb=False, scaling=0.25),
    dict(type="FormatShape", input_format="NCTHW"),
    dict(type="PackActionInputs", collect_keys=("imgs", "heatmap_imgs")),
]
val_pipeline = [
    dict(type="MMUniformSampleFrames", clip_len=dict(RGB=8, Pose=32), num_clips=1, test_mode=True),
    dict(type="MMDecode"),
    dict(type="MMCompact", hw_ratio=1.0, allow_imgpad=True),
    dict(type="Resize", scale=(resize, resize), keep_ratio=False),
    dict(type="GeneratePoseTarget", sigma=0.7, use_score=True, with_kp=True, with_limb=False, scaling=0.25),
    dict(type="FormatShape", input_format="NCTHW"),
    dict(type="PackActionInputs", collect_keys=("imgs", "heatmap_imgs")),
]
test_pipeline = [
    dict(type="MMUniformSampleFrames", clip_len=dict(RGB=8, Pose=32), num_clips=10, test_mode=True),
    *val_pipeline[1:],
]

train_dataloader = dict(
    batch_size=6,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(
        type="NTUPoseDataset",
        data_root=data_root,
        ann_file=ann_file,
        video_layout=video_layout,
        split=train_split,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type="NTUPoseDataset",
        data_root=data_root,
        ann_file=ann_file,
        video_layout=video_layout,
        split=val_split,
        pipeline=val_pipeline,
        test_mode=True,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type="NTUPoseDataset",
        data_root=data_root,
        ann_file=ann_file,
        video_layout=video_layout,
        split=val_split,
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = [dict(type="PCANAccMetric")]  # acc/{rgb,pose,fused}_top1, acc/RGBPose_1:1_top1, ...
test_evaluator = val_evaluator

# --------------------------------------------------------------------------------------------- model
model = dict(
    type="PCANRecognizer",
    preset="ntu60",
    num_classes=60,
    class_names=None,  # None: the preset's (NTU-60) names
    loss_components=["rgb", "pose", "align", "fused"],
    loss_weights=[1.0, 1.2, 0.5, 0.8],
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

# ---------------------------------------------------------------------------------------- schedule
max_epochs = 30
warmup_epochs = 1
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")

optim_wrapper = dict(
    optimizer=dict(type="SGD", lr=0.001, momentum=0.9, weight_decay=0.0001), clip_grad=dict(max_norm=40, norm_type=2)
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type="CosineAnnealingLR",
        T_max=max_epochs - warmup_epochs,
        eta_min=0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(enable=False, base_batch_size=48)

load_from = "checkpoints/pcan_ntu60_init.pth"  # the checkpoint to fine-tune (a PCAN or RGBPoseConv3D one)
resume = False

# ------------------------------------------------------------------------------------------ runtime
best_metric = "acc/RGBPose_1:1_top1"
default_hooks = dict(
    runtime_info=dict(type="RuntimeInfoHook"),
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=20, ignore_last=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=3, save_best=best_metric, rule="greater"),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    sync_buffers=dict(type="SyncBuffersHook"),
)
custom_hooks = [
    dict(type="EarlyStoppingHook", monitor=best_metric, rule="greater", patience=15, min_delta=0.0005),
    dict(type="PCANCheckpointMetaHook"),  # meta['pcan']: checkpoints load in pcan_serve.load_model
    dict(type="PCANMonitorHook"),  # loss share per component, gradient norm per pathway
    dict(
        type="PCANGuardHook",  # baseline, epoch-1 gates, collapse checks, remediation -> guard_report.md
        gates=dict(fused=88.5, rgb=88.5, pose=80.0),
        remedy_below=dict(fused=87.0, pose=78.0, rgb=87.0),
        relative=False,
        collapse_margin=5.0,
        stop_on_failed_gate=False,
    ),
]

env_cfg = dict(
    cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0), dist_cfg=dict(backend="nccl")
)
log_processor = dict(type="LogProcessor", window_size=20, by_epoch=True)
vis_backends = [dict(type="LocalVisBackend")]
visualizer = dict(type="ActionVisualizer", vis_backends=vis_backends)
log_level = "INFO"
randomness = dict(seed=0, deterministic=False)
