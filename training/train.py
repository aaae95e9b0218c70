"""Build the effective training config from a config file + command-line options, and run mmengine.

``--data-root`` sets ``data_root`` of every dataset (mmengine joins each dataset's relative ``ann_file``
and ``data_prefix`` with it), so all data paths follow; ``--video-layout`` picks the NTU videos' layout on
disk (``training/datasets.py``). On a machine without CUDA, distributed runs
switch to the gloo backend and a device-less DDP wrapper. A config that cannot work raises :class:`ConfigError`,
data that is not on disk :class:`DataNotFound` (:func:`check_data`), before the runner builds anything.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training import mmaction_compat

mmaction_compat.apply()

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

import training.register  # noqa: E402,F401
from pcan_serve.errors import InvalidRequest, MissingInput  # noqa: E402
from training.synth import ANN_FILE as SYNTH_ANN_FILE  # noqa: E402

DATALOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


class ConfigError(InvalidRequest):
    """The config, or an override of it, cannot be used; the message says what to change."""


class DataNotFound(MissingInput):
    """A dataset folder or annotation file that the config names is not on disk."""


def parse_cfg_options(options: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1,2]"]`` -> ``{"a.b": 1, "c": [1, 2]}`` with mmengine's DictAction value rules."""
    parsed: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ConfigError(f"a config override is key=value, got {option!r}")
        parsed[key] = DictAction._parse_iterable(value)
    return parsed


def _datasets(cfg: Config, loaders: Sequence[str] = DATALOADERS) -> list[dict]:
    """Every dataset dict of the config's ``loaders``, through wrappers such as RepeatDataset."""
    found: list[dict] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node and ("ann_file" in node or "data_prefix" in node):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in loaders:
        walk(cfg.get(name))
    return found


def check_data(cfg: Config, loaders: Sequence[str] = DATALOADERS) -> None:
    """The folder and the annotation file of every dataset of ``loaders`` are on disk (else mmengine raises
    FileNotFoundError deep in the runner, after building the model)."""
    for dataset in _datasets(cfg, loaders):
        root, ann_file = dataset.get("data_root") or "", dataset.get("ann_file")
        if root and not Path(root).is_dir():
            hint = f"the folder that holds {ann_file}" if ann_file else "the dataset folder"
            hint += " (`pcan data synth DIR` writes it)" if ann_file == SYNTH_ANN_FILE else ""
            raise DataNotFound(f"dataset folder not found: {root}; data_root must be {hint}")
        if ann_file and not Path(root, ann_file).is_file():
            raise DataNotFound(
                f"annotation file not found: {Path(root, ann_file)} (ann_file {ann_file} under data_root {root or '.'})"
            )


def _set_video_layout(cfg: Config, layout: str) -> None:
    """Point every NTUPoseDataset at ``layout``'s video folder (training/datasets.py)."""
    from training.datasets import VIDEO_LAYOUTS

    if layout not in VIDEO_LAYOUTS:
        raise ConfigError(f"the video layout must be one of {', '.join(VIDEO_LAYOUTS)}, got {layout!r}")
    ntu = [d for d in _datasets(cfg) if d.get("type") == "NTUPoseDataset"]
    if not ntu:
        raise ConfigError("a video layout was given, but the config's dataloaders have no NTUPoseDataset")
    for dataset in ntu:
        dataset["video_layout"] = layout
        dataset["data_prefix"] = dict(video=VIDEO_LAYOUTS[layout][0])


def _check_classes(cfg: Config) -> None:
    """A data root with classes.txt (e.g. the synthetic set) must match the model's class list."""
    root = cfg.get("data_root")
    path = Path(root) / "classes.txt" if root else None
    if path is None or not path.is_file():
        return
    names = [n.strip() for n in path.read_text().splitlines() if n.strip()]
    model_names = cfg.model.get("class_names")
    wrong_names = model_names is not None and list(model_names) != names
    if wrong_names or cfg.model.get("num_classes") != len(names):
        raise ConfigError(
            f"{path} lists {len(names)} classes but the model has num_classes={cfg.model.get('num_classes')} "
            f"and class_names={model_names}: override model.num_classes={len(names)} "
            f"model.class_names=[{','.join(names)}]"
        )


def _check_resize(cfg: Config) -> None:
    """The checkpoint will claim the preset's preprocessing; warn if the val pipeline resizes otherwise."""
    from training.models import build_pcan_config

    resize = build_pcan_config(cfg.model.get("preset", "ntu60")).preprocess.resize
    pipeline = cfg.get("val_dataloader", {}).get("dataset", {}).get("pipeline", [])
    sizes = [tuple(s["scale"]) for s in pipeline if s.get("type") == "Resize"]
    if sizes and sizes[-1] != (resize, resize):
        print_log(
            f"val pipeline resizes to {sizes[-1]} but preset {cfg.model.get('preset')!r} serves at "
            f"{resize}x{resize}: the served model will see other inputs than it was validated on",
            logger="current",
            level=30,
        )


def build_config(
    config: str | Path,
    work_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    cfg_options: list[str] | None = None,
    launcher: str = "none",
    stop_on_failed_gate: bool = False,
    video_layout: str | None = None,
) -> Config:
    """The config the runner will use: file, then --cfg-options, then the explicit flags."""
    path = Path(config)
    if not path.is_file():
        raise MissingInput(f"config file not found: {config} (the presets' configs are in training/configs/)")
    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict(parse_cfg_options(cfg_options))
    if data_root is not None:
        cfg.data_root = str(data_root)
        datasets = _datasets(cfg)  # mmengine joins each dataset's relative ann_file and data_prefix with it
        if not datasets:
            raise ConfigError("a data root was given, but the config's dataloaders have no datasets")
        for dataset in datasets:
            dataset["data_root"] = str(data_root)
    if video_layout is not None:
        _set_video_layout(cfg, video_layout)
    cfg.work_dir = str(work_dir or cfg.get("work_dir") or Path("work_dirs") / path.stem)
    cfg.launcher = launcher
    if launcher == "pytorch" and "RANK" not in os.environ:
        raise ConfigError("launcher 'pytorch' runs under torchrun, which sets RANK: torchrun --nproc_per_node N -m ...")
    if launcher != "none" and not torch.cuda.is_available():  # CPU-only DDP (tests, CI)
        cfg.env_cfg.setdefault("dist_cfg", {})["backend"] = "gloo"
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False)
    if stop_on_failed_gate:
        guards = [h for h in cfg.get("custom_hooks", []) if h.get("type") == "PCANGuardHook"]
        if not guards:
            raise ConfigError("stopping at a failed gate needs a PCANGuardHook in the config's custom_hooks")
        for hook in guards:
            hook["stop_on_failed_gate"] = True
    _check_classes(cfg)
    _check_resize(cfg)
    return cfg


@dataclass
class TrainResult:
    work_dir: Path
    epochs: int
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    guard_status: str | None
    stopped_at_gate: bool


def run(cfg: Config) -> TrainResult:
    """Train with mmengine's Runner; returns where things were written and what the guard decided."""
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg)
    runner.train()
    work_dir = Path(runner.work_dir)
    guard = next((h for h in runner.hooks if type(h).__name__ == "PCANGuardHook"), None)
    best = runner.message_hub.get_info("best_ckpt")
    last_file = work_dir / "last_checkpoint"
    last = Path(last_file.read_text().strip()) if last_file.is_file() else None
    return TrainResult(
        work_dir=work_dir,
        epochs=runner.epoch,
        best_checkpoint=Path(best) if best else None,
        last_checkpoint=last,
        guard_status=guard.state.status if guard else None,
        stopped_at_gate=bool(guard and guard.state.stopped_at_gate),
    )
