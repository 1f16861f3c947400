"""What a run shows while it trains: a progress line per stage, and the optional wandb run.

wandb is imported only when logger=wandb is chosen; its mode defaults to offline, so a
run never reaches the network unless the user asks for mode=online.
"""

from __future__ import annotations

import logging
import sys
import time
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
    """One wandb run per job: per-step losses and per-stage records."""

    def __init__(self, settings: dict[str, Any], config: dict, run_id: str, out_dir: str):
        import wandb  # only here: wandb is an optional extra

        self._wandb = wandb
        self._run = wandb.init(
            project=settings.get("project", "kanbench"),
            entity=settings.get("entity"),
            mode=settings.get("mode", "offline"),
            tags=list(settings.get("tags") or []),
            config=config,
            name=run_id,
            dir=out_dir,
            reinit=True,
        )

    def log_step(self, values: dict[str, Any]) -> None:
        self._run.log(values)

    def log_stage(self, record: dict[str, Any]) -> None:
        numbers = {f"stage/{k}": v for k, v in record.items() if isinstance(v, (int, float))}
        self._run.log(numbers)

    def finish(self) -> None:
        self._run.finish()


class NoLogger:
    """The logger=none choice: nothing is logged anywhere but the run's own records."""

    def log_step(self, values: dict[str, Any]) -> None:
        pass

    def log_stage(self, record: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


def make_logger(settings: dict[str, Any], config: dict, run_id: str, out_dir: str):
    """The experiment logger that settings["name"] names."""
    if settings.get("name") == "wandb":
        return WandbRun(settings, config, run_id, out_dir)
    return NoLogger()
