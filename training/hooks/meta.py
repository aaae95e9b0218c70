"""``PCANCheckpointMetaHook``: runner checkpoints that describe themselves, and honest load_from.

- before saving: ``meta["pcan"]`` = the model description (``ModelMeta``) so that
  ``pcan_serve.load_model(ckpt)`` rebuilds the right preset, class count and class names.
- after loading ``load_from``: mmengine loads non-strictly and only logs mismatches, so a checkpoint of
  the wrong preset silently leaves the model untrained. Count what did not load and warn in one line.
"""

from pcan_serve.model_io import METADATA_KEY, ModelMeta
from training import mmaction_compat

mmaction_compat.apply()

from mmaction.registry import HOOKS  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
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
