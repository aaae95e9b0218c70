"""``PCANGuardHook``: the seed's fine-tuning lessons, checked while the run goes, not after it is wasted.

1. Before training, validate the loaded checkpoint: the baseline.
2. After epoch ``gate_epoch`` (1), compare each branch with its gate (absolute percent, or drops below
   the baseline with ``relative=True``); on a failure, map the branches under their remediation
   thresholds to the table's remedies. Optionally stop training there (``stop_on_failed_gate``).
3. Every epoch, flag a branch that fell more than ``collapse_margin`` points below its baseline.
4. Write ``guard_report.md``/``.json`` and, when something failed, ``guard/overrides.py`` and
   ``guard/cfg_options.txt`` to the work dir (see :mod:`training.guard_report`).
"""

import torch

from training import mmaction_compat
from training.guard_report import GuardState, write_report
from training.remediation import (
    DEFAULT_GATES,
    DEFAULT_REMEDY_BELOW,
    check_collapse,
    check_gates,
    remedies_for,
    resolve_limits,
    table_branches,
    to_percent,
)

mmaction_compat.apply()

from mmaction.registry import HOOKS  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402

from .monitor import STATS_KEY  # noqa: E402


@HOOKS.register_module()
class PCANGuardHook(Hook):
    priority = "LOW"  # after the logger/checkpoint hooks have seen the epoch

    def __init__(
        self,
        gates: dict[str, float] | None = None,
        remedy_below: dict[str, float] | None = None,
        relative: bool = False,
        gate_epoch: int = 1,
        collapse_margin: float = 5.0,
        baseline: bool = True,
        stop_on_failed_gate: bool = False,
    ) -> None:
        self.gates = dict(DEFAULT_GATES if gates is None else gates)
        self.remedy_below = dict(DEFAULT_REMEDY_BELOW if remedy_below is None else remedy_below)
        self.relative = relative
        self.gate_epoch = gate_epoch
        self.collapse_margin = collapse_margin
        self.baseline = baseline
        self.stop_on_failed_gate = stop_on_failed_gate
        self.state = GuardState()

    # -- helpers ---------------------------------------------------------------------------------------
    def _validate(self, runner) -> dict[str, float]:
        """One pass of the val loop's dataloader and evaluator, without triggering any val hooks."""
        loop = runner.val_loop
        runner.model.eval()
        with torch.no_grad():
            for batch in loop.dataloader:
                outputs = runner.model.val_step(batch)
                loop.evaluator.process(data_samples=outputs, data_batch=batch)
        metrics = loop.evaluator.evaluate(len(loop.dataloader.dataset))
        runner.model.train()
        return metrics

    def _write(self, runner) -> None:
        if is_main_process():  # the run's config text is only needed as the base of remedies
            write_report(self.state, runner.work_dir, runner.cfg.pretty_text if self.state.remedies else None)

    def _add_remedies(self, branches: set[str], runner) -> None:
        known = {r.rule for r in self.state.remedies}
        new = remedies_for(branches, runner.cfg.to_dict())
        self.state.remedies += [r for r in new if r.rule not in known]

    # -- hook points -----------------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        cfg = runner.cfg
        self.state = GuardState(
            config_file=str(cfg.filename or ""),
            settings={
                "load_from": cfg.get("load_from"),
                "lr": cfg.optim_wrapper.optimizer.get("lr"),
                "loss_weights": list(cfg.model.get("loss_weights") or []),
                "max_epochs": cfg.train_cfg.get("max_epochs"),
                "relative_gates": self.relative,
                "collapse_margin": self.collapse_margin,
            },
        )
        if self.baseline and cfg.get("load_from") and runner.val_loop is not None:
            metrics = self._validate(runner)
            self.state.baseline = to_percent(metrics)
            runner.logger.info("guard baseline (loaded checkpoint): " + _fmt(self.state.baseline))
        self.state.gates = resolve_limits(self.gates, self.relative, self.state.baseline)
        self.state.remedy_below = resolve_limits(self.remedy_below, self.relative, self.state.baseline)
        if self.state.gates is None:
            runner.logger.warning("guard: gates are relative to a baseline, but there is none: gates are off")
        self._write(runner)

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        loop = getattr(runner, "_train_loop", None)  # a plain runner.val() has no built train loop
        if not metrics or not hasattr(loop, "stop_training"):
            return
        epoch = runner.epoch
        values = to_percent(metrics)
        stats = (runner.message_hub.get_info(STATS_KEY) or {}).get(str(epoch), {})
        record = {"epoch": epoch, "acc": values, **stats, "collapsed": []}
        if self.state.baseline is not None:
            collapses = check_collapse(values, self.state.baseline, self.collapse_margin, epoch)
            record["collapsed"] = [f.branch for f in collapses]
            self.state.findings += collapses
            for f in collapses:
                runner.logger.warning("guard: " + f.describe())
            self._add_remedies({f.branch for f in collapses}, runner)
        if epoch == self.gate_epoch and self.state.gates is not None:
            failed = check_gates(values, self.state.gates, epoch, self.state.baseline)
            self.state.findings += failed
            if failed:
                for f in failed:
                    runner.logger.warning("guard: " + f.describe())
                self._add_remedies(table_branches(values, self.state.remedy_below or {}), runner)
                if self.stop_on_failed_gate:
                    self.state.stopped_at_gate = True
                    loop.stop_training = True
                    runner.logger.warning("guard: stopping at the failed gate (stop_on_failed_gate)")
        self.state.epochs.append(record)
        self._write(runner)
        if self.state.findings and is_main_process():
            runner.logger.warning(f"guard: see {runner.work_dir}/guard_report.md for the diagnosis and remedies")


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in values.items())
