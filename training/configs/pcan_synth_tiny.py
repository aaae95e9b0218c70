# Tiny PCAN on the synthetic stick-figure set, from scratch, on a CPU in a few minutes.
#
#   pcan data synth data/synth
#   pcan train training/configs/pcan_synth_tiny.py --data-root data/synth
#
# Same pipelines, metric, hooks and guard as pcan_ntu60.py (which this inherits) with the `tiny` preset,
# 64 px inputs, the synthetic set's classes and a from-scratch schedule: AdamW (a tiny model learns far
# faster from scratch with it than with the fine-tuning recipe's SGD), batch 4, 5 epochs.
# With `pcan data synth --classes K` (default 4), pass --cfg-options model.num_classes=K
# model.class_names=[wave,squat,punch,kick,jumping_jack,march,arm_circles,bow] cut to the first K.
_base_ = ["pcan_ntu60.py"]

data_root = "data/synth"
ann_file = "synth_pose.pkl"
video_prefix = "videos"
train_split, val_split = "train", "val"
left_kp = [1, 3, 5, 7, 9, 11, 13, 15]
right_kp = [2, 4, 6, 8, 10, 12, 14, 16]
resize = 64  # the tiny preset's preprocess.resize (heatmaps 16x16)
train_size = 64
crop_area = (0.50, 1.0)
color_jitter_prob = 0.0

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
test_pipeline = val_pipeline

_dataset = dict(data_root=data_root, ann_file=ann_file, data_prefix=dict(video=video_prefix))
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(**_dataset, split=train_split, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(**_dataset, split=val_split, pipeline=val_pipeline),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(**_dataset, split=val_split, pipeline=test_pipeline),
)

model = dict(
    preset="tiny",
    num_classes=4,
    class_names=["wave", "squat", "punch", "kick"],
    loss_weights=[1.0, 1.2, 0.5, 0.8],
    dropout=0.2,
)

max_epochs = 5
warmup_epochs = 1
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type="AdamW", lr=0.01, weight_decay=0.0001), clip_grad=dict(max_norm=40, norm_type=2)
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
load_from = None  # from scratch; set a checkpoint to fine-tune (the guard then validates it first)

best_metric = "acc/RGBPose_1:1_top1"
default_hooks = dict(logger=dict(interval=5))
custom_hooks = [
    dict(type="EarlyStoppingHook", monitor=best_metric, rule="greater", patience=15, min_delta=0.0005),
    dict(type="PCANCheckpointMetaHook"),
    dict(type="PCANMonitorHook"),
    # Gates relative to the loaded checkpoint's accuracy (points below it); off when training from scratch.
    dict(
        type="PCANGuardHook",
        gates=dict(fused=10.0, rgb=10.0, pose=10.0),
        remedy_below=dict(fused=20.0, pose=20.0, rgb=20.0),
        relative=True,
        collapse_margin=20.0,
        stop_on_failed_gate=False,
    ),
]
visualizer = dict(type="ActionVisualizer", vis_backends=[dict(type="LocalVisBackend")])
