"""Preprocessing speed: pcan_serve.preprocess against mmaction2's own transforms, in one process.

Both run on the same inputs, alternating A/B each repeat so drift in machine load hits both alike:
(a) ``after_decode``: everything after the frames are in memory (compact, resize, heatmaps, format,
normalise); (b) ``overall``: skeleton JSON to model inputs, decoding included.

Read ratios together with the load: on a busy machine the longer mmaction2 call is preempted more often
than ours, so its median grows faster and the ratio rises; compare runs on an idle machine (the minimums
help), and with ``--no-helper`` or under ``taskset -c 0`` for ours on one core.

The mmaction2 side is built from mmaction2's installed ``rgbpose_conv3d.py`` config (its ``test_pipeline``
through the TRANSFORMS registry, then its ``MultiModalDataPreprocessor``), so it is also the reference the
parity tests compare against. Run: ``python -m benchmarks.bench_preprocess [--repeats N] [--json OUT]``.
"""

import argparse
import copy
import json
import os
import statistics
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from pcan_serve.model.config import PreprocessConfig
from pcan_serve.preprocess import build_inputs, fit_to_video, load_skeleton, make_inputs, open_video, plan_clips
from pcan_serve.preprocess import helper as preprocess_helper

SAMPLE_DIR = Path(os.environ.get("PCAN_SAMPLE_DIR", Path(__file__).resolve().parents[2] / "shared/data/ntu60_sample"))
SAMPLE_VIDEO = SAMPLE_DIR / "S001C001P001R001A001_rgb.avi"
SAMPLE_SKELETON = SAMPLE_DIR / "S001C001P001R001A001.json"
CONFIG = "configs/skeleton/posec3d/rgbpose_conv3d/rgbpose_conv3d.py"


# --------------------------------------------------------------------------- mmaction2 reference pipeline
@cache
def _mm_config() -> Any:
    from training import mmaction_compat

    mmaction_compat.apply()
    import mmaction
    from mmaction.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules(init_default_scope=True)
    return Config.fromfile(os.path.join(os.path.dirname(mmaction.__file__), ".mim", CONFIG))


def mm_transforms(num_clips: int = 1, resize: int = 256) -> list:
    """mmaction2's test_pipeline transforms, with ``num_clips`` and the resize set."""
    from mmaction.registry import TRANSFORMS

    steps = copy.deepcopy(_mm_config().test_pipeline)
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

    return MODELS.build(copy.deepcopy(_mm_config().model.data_preprocessor)).eval()


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
    """Run the transforms after decoding, pack, and apply the data preprocessor."""
    import torch
    from mmengine.dataset import pseudo_collate

    results = mm_apply(results, transforms[2:-1])  # MMCompact .. FormatShape
    imgs_u8 = results["imgs"]
    batch = pseudo_collate([transforms[-1](results)])  # PackActionInputs
    with torch.no_grad():
        inputs = mm_data_preprocessor()(batch)["inputs"]
    return {
        "imgs_u8": imgs_u8,
        "imgs": inputs["imgs"][0].numpy(),
        "heatmaps": inputs["heatmap_imgs"][0].numpy(),
    }


def mm_make_inputs(
    video: str | Path, skeleton: dict[str, Any], num_clips: int = 1, resize: int = 256, total_frames: int | None = None
) -> dict[str, np.ndarray]:
    """mmaction2's whole val/test pipeline: ``imgs_u8`` (before normalisation), ``imgs``, ``heatmaps``."""
    transforms = mm_transforms(num_clips, resize)
    decoded = mm_apply(mm_annotation(video, skeleton, total_frames), transforms[:2])
    return mm_finish(decoded, transforms)


# --------------------------------------------------------------------------------------------- timing
Timed = Callable[[Any], Any]


def _ab(
    ours: Timed, theirs: Timed, repeats: int, warmup: int = 1, setup: Callable[[], Any] = lambda: None
) -> tuple[list[float], list[float]]:
    """Milliseconds per call of each side, alternating which goes first; ``setup()`` (untimed) makes each
    call's argument, for inputs a side consumes."""
    for _ in range(warmup):
        ours(setup()), theirs(setup())
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        pair = ((ours, a), (theirs, b)) if i % 2 == 0 else ((theirs, b), (ours, a))
        for fn, sink in pair:
            arg = setup()
            start = time.perf_counter()
            fn(arg)
            sink.append((time.perf_counter() - start) * 1e3)
    return a, b


def _record(stage: str, num_clips: int, ours: list[float], theirs: list[float]) -> dict[str, Any]:
    med_ours, med_theirs = statistics.median(ours), statistics.median(theirs)
    return {
        "benchmark": "preprocess",
        "stage": stage,
        "num_clips": num_clips,
        "repeats": len(ours),
        "ours_median_ms": round(med_ours, 3),
        "mmaction2_median_ms": round(med_theirs, 3),
        "speedup": round(med_theirs / med_ours, 2),
        "ours_min_ms": round(min(ours), 3),
        "mmaction2_min_ms": round(min(theirs), 3),
    }


def bench_preprocess(
    video: str | Path = SAMPLE_VIDEO,
    skeleton: str | Path = SAMPLE_SKELETON,
    num_clips: tuple[int, ...] = (1, 10),
    repeats: int = 10,
    overall_repeats: int | None = None,
    config: PreprocessConfig | None = None,
) -> list[dict[str, Any]]:
    """Records (dicts) for ``after_decode`` and ``overall``, per clip count; medians in milliseconds."""
    import cv2

    cfg = config or PreprocessConfig()
    records = []
    for clips in num_clips:
        records.append(_after_decode(video, skeleton, clips, cfg, repeats))
        records.append(_overall(video, skeleton, clips, cfg, overall_repeats or max(3, repeats // 3)))
    for r in records:
        r.update(video=Path(video).name, resize=cfg.resize, cv2_threads=cv2.getNumThreads(), cpus=os.cpu_count())
        r["preprocess_helper"] = preprocess_helper.ENABLED  # ours may use a second thread (see preprocess.helper)
        r["load_avg_1min_end"] = round(os.getloadavg()[0], 2)  # other processes skew both sides alike
    return records


def _after_decode(video: str | Path, skeleton: str | Path, clips: int, cfg: PreprocessConfig, repeats: int) -> dict:
    """Both sides start from the same decoded frames (each side's own decode output)."""
    skeleton_dict = json.loads(Path(skeleton).read_text())
    transforms = mm_transforms(clips, cfg.resize)
    decoded = mm_apply(mm_annotation(video, skeleton_dict), transforms[:2])
    skel = load_skeleton(skeleton_dict)
    with open_video(video) as vid:
        skel = fit_to_video(skel, vid.num_frames)
        plan = plan_clips(skel.num_frames, clips, cfg)
        frames = vid.decode(plan.rgb_unique)
    ours, theirs = _ab(
        lambda _: build_inputs(frames, skel, plan, cfg),
        lambda fresh: mm_finish(fresh, transforms),
        repeats,
        setup=lambda: copy.deepcopy(decoded),  # MMCompact edits its input: a fresh MMDecode output per call
    )
    return _record("after_decode", clips, ours, theirs)


def _overall(video: str | Path, skeleton: str | Path, clips: int, cfg: PreprocessConfig, repeats: int) -> dict:
    """Skeleton JSON file and video file in, model inputs out."""
    ours, theirs = _ab(
        lambda _: make_inputs(video, skeleton, num_clips=clips, config=cfg),
        lambda _: mm_make_inputs(video, json.loads(Path(skeleton).read_text()), clips, cfg.resize),
        repeats,
        warmup=0,
    )
    return _record("overall", clips, ours, theirs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(SAMPLE_VIDEO))
    parser.add_argument("--skeleton", default=str(SAMPLE_SKELETON))
    parser.add_argument("--num-clips", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeats", type=int, default=10, help="A/B pairs for after_decode")
    parser.add_argument("--overall-repeats", type=int, default=None, help="A/B pairs for overall (default repeats/3)")
    parser.add_argument("--json", type=Path, default=None, help="also write the records here")
    parser.add_argument("--no-helper", action="store_true", help="keep ours on the calling thread (one core)")
    args = parser.parse_args(argv)
    if args.no_helper:
        preprocess_helper.ENABLED = False
    records = bench_preprocess(args.video, args.skeleton, tuple(args.num_clips), args.repeats, args.overall_repeats)
    print(f"load average (1 min) at the end: {records[-1]['load_avg_1min_end']} on {os.cpu_count()} CPUs")
    print(f"medians (minimums); ours with the helper thread: {records[-1]['preprocess_helper']}")
    print(f"{'stage':<13}{'clips':>6}{'ours ms':>20}{'mmaction2 ms':>22}{'speedup':>10}")
    for r in records:
        ours = f"{r['ours_median_ms']:.2f} ({r['ours_min_ms']:.2f})"
        theirs = f"{r['mmaction2_median_ms']:.2f} ({r['mmaction2_min_ms']:.2f})"
        print(f"{r['stage']:<13}{r['num_clips']:>6}{ours:>20}{theirs:>22}{r['speedup']:>9.1f}x")
    if args.json:
        args.json.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
