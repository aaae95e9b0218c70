"""``PCANCheckpointMetaHook``: runner checkpoints that describe themselves, and honest load_from.

- before saving: ``meta["pcan"]`` = the model description (``ModelMeta``) so that
  ``pcan_serve.load_model(ckpt)`` rebuilds the right preset, class count and class names.
- after validation: the best checkpoint's file name loses the ``:`` of ``acc/RGBPose_1:1_top1`` (``1-1``), which
  Windows, some sync tools and URLs refuse; the metric keeps its name.
- after loading ``load_from``: mmengine loads non-strictly and only logs mismatches, so a checkpoint of
  the wrong preset silently leaves the model untrained. Count what did not load and warn in one line.
"""

import os
from pathlib import Path

from pcan_serve.model_io import METADATA_KEY, ModelMeta
from training import mmaction_compat

mmaction_compat.apply()

from mmaction.registry import HOOKS  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.hooks import CheckpointHook, Hook  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class PCANCheckpointMetaHook(Hook):
    priority = "VERY_LOW"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = _unwrap(runner.model)
        description = ModelMeta(model.pcan_config, fused_head=model.fused_head_trained)
        checkpoint.setdefault("meta", {})[METADATA_KEY] = description.to_dict()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if is_main_process():
            for hook in runner.hooks:
                if isinstance(hook, CheckpointHook):
                    _portable_best_names(runner, hook)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get("state_dict", checkpoint)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        own = {k: v for k, v in _unwrap(runner.model).state_dict().items() if not k.startswith("data_preprocessor.")}
        missing = [k for k in own if k not in state]
        wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or wrong:
            runner.logger.warning(
                f"load_from: {len(missing)} of {len(own)} model tensors are not in the checkpoint and "
                f"{len(wrong)} have another shape; they keep their initial values "
                f"(e.g. {(missing + wrong)[:4]}). A checkpoint without a fused head leaves only that head "
                "untrained; anything else means a different preset or class count."
            )


def _portable_best_names(runner, hook: CheckpointHook) -> None:
    """Rename the best checkpoint(s) just saved and point the hook (which removes the previous best) and the
    message hub (saved into later checkpoints) at the new name."""
    entries = [("best_ckpt", None, getattr(hook, "best_ckpt_path", None))]
    entries += [(f"best_ckpt_{k}", k, p) for k, p in (getattr(hook, "best_ckpt_path_dict", None) or {}).items()]
    for info_key, indicator, path in entries:
        if not path or ":" not in Path(path).name or not Path(path).is_file():
            continue
        portable = str(Path(path).with_name(Path(path).name.replace(":", "-")))
        os.replace(path, portable)
        if indicator is None:
            hook.best_ckpt_path = portable
        else:
            hook.best_ckpt_path_dict[indicator] = portable
        runner.message_hub.update_info(info_key, portable)
