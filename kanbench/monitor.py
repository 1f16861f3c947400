"""What a run shows while it trains: a progress line per stage, and the optional wandb run.

wandb is imported only when logger=wandb is chosen; its mode defaults to offline, so a
run never reaches the network unless the user asks for mode=online. A logger has three
calls: log_step (every optimiser step as it runs), log_stage (a finished stage's record
and the history kept in the run's file) and finish.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class Progress:
    """A one-line progress display per stage on stderr (rewritten in place on a terminal)."""

    def __init__(self, enabled: bool, interval: float = 0.5):
        self.enabled = enabled
        self.interval = interval
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def update(self, label: str, step: int, steps: int, train: float, test: float | None) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < self.interval and step < steps):
            return
        self._last = now
        width = 20
        filled = int(width * step / steps)
        test_text = f" test {test:.3e}" if test is not None else ""
        line = (
            f"{label} [{'#' * filled}{'.' * (width - filled)}] {step}/{steps} "
            f"train {train:.3e}{test_text}"
        )
        if self._tty:
            sys.stderr.write("\r" + line + ("\n" if step >= steps else ""))
        elif step >= steps:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


class WandbRun:
    """One wandb run per job (logger=wandb): the resolved config, then for each finished
    stage its training steps and its record, as the run's record file holds them.

    History rows, in order: one per training step of the stage (stage, step within the
    stage, cum_step counted across the run's stages from 1 as kanbench.analysis counts it,
    train_rmse, and test_rmse on the steps that evaluated it), then one row with the stage
    record's numbers under stage/ (stage/test_rmse, stage/n_params, ...). The steps are
    those of the history given to log_stage, the steps the record file keeps; the restart
    probes of starts left behind are not among them. Without that history, the steps
    log_step saw in the stage are logged instead, probes and all.
    """

    def __init__(self, settings: dict[str, Any], config: dict, run_id: str, out_dir: str):
        import wandb  # only here: wandb is an optional extra

        self._run = wandb.init(
            project=settings.get("project", "kanbench"),
            entity=settings.get("entity"),
            mode=settings.get("mode", "offline"),
            tags=list(settings.get("tags") or []),
            config=config,
            name=run_id,
            dir=out_dir,
            reinit="finish_previous",  # a job in the same process ends the one before
        )
        self._seen: list[tuple[int, float, float | None]] = []
        self._offset = 0  # training steps of the stages logged so far

    def log_step(self, values: dict[str, Any]) -> None:
        """Keep one optimiser step of the current stage (logged with the stage)."""
        self._seen.append((values["step"], values["train_rmse"], values.get("test_rmse")))

    def log_stage(self, record: dict[str, Any], history: Sequence[Sequence] | None = None) -> None:
        """Log a finished stage: its steps (history: (step, train_rmse, test_rmse) rows,
        test_rmse None where not evaluated), then its record's numbers under stage/."""
        steps = [tuple(point) for point in history] if history is not None else self._seen
        self._seen = []
        for step, train_rmse, test_rmse in steps:
            row = {
                "stage": record.get("stage"),
                "step": step,
                "cum_step": self._offset + step + 1,
                "train_rmse": train_rmse,
            }
            if test_rmse is not None:
                row["test_rmse"] = test_rmse
            self._run.log(row)
        if steps:
            self._offset += max(point[0] for point in steps) + 1
        self._run.log({f"stage/{k}": v for k, v in record.items() if isinstance(v, int | float)})

    def finish(self) -> None:
        self._run.finish()


class NoLogger:
    """The logger=none choice: nothing is logged anywhere but the run's own records."""

    def log_step(self, values: dict[str, Any]) -> None:
        pass

    def log_stage(self, record: dict[str, Any], history: Sequence[Sequence] | None = None) -> None:
        pass

    def finish(self) -> None:
        pass


def make_logger(settings: dict[str, Any], config: dict, run_id: str, out_dir: str):
    """The experiment logger that settings["name"] names."""
    if settings.get("name") == "wandb":
        return WandbRun(settings, config, run_id, out_dir)
    return NoLogger()
