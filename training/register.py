"""Import this to use PCAN from mmaction2 configs: applies the shims, then registers pcan's modules.

Configs name it in ``custom_imports``, so mmaction2's own ``tools/train.py`` can run them too.
"""

from training import mmaction_compat

mmaction_compat.apply()

from mmaction.utils import register_all_modules  # noqa: E402

from training import datasets, hooks, metrics, models  # noqa: E402,F401  (registration happens on import)

register_all_modules(init_default_scope=False)
