"""The training cost of a run's stages: FLOPs and wall seconds, per stage and cumulative.

A stage's training FLOPs are its loss evaluations times the FLOPs of one on the full
training batch (kanbench.flops.train_flops):

    train_flops = (1 + 2) x flops_forward_per_sample x samples_per_evaluation x train_evaluations

forward per sample from the family registry (Family.flops, kanbench.flops: the B-spline
KAN in the dense convention, bases included), backward = 2 x forward. train_evaluations
counts every loss evaluation (forward and backward) of the stage, those of the restart
probes the stage left behind included (a record's `evaluations` holds only the chosen
start's); the forward-only passes (the RMSEs the records and logs report, the starts'
scores), grid updates and refits are not counted. wall_s, the stage's seconds, holds the
left-behind probes' time already.

Cumulative over a run (cum_train_flops, cum_wall_s): a staged family grows each stage from
the one before (grid extension), so a stage's cumulative cost is its own plus every
earlier stage's; a family that is not staged (the MLP) trains each size from scratch, so
its cumulative cost is its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kanbench.families import family
from kanbench.flops import BACKWARD_PER_FORWARD, train_flops

FLOPS_CONVENTION = (
    "forward: kanbench.flops per family (B-spline KAN: dense, bases included); "
    f"backward: {BACKWARD_PER_FORWARD} x forward; x training samples x loss evaluations"
)
# the fields every stage record gets (the loader derives them for older records)
COST_FIELDS = (
    "flops_forward_per_sample",
    "flops_backward_per_sample",
    "flops_convention",
    "samples_per_evaluation",
    "train_evaluations",
    "train_flops",
    "cum_train_flops",
    "cum_wall_s",
)


def forward_flops(config: Any, shape: Sequence[int], size: int) -> float | None:
    """FLOPs per sample of a forward pass of config's family at (shape, size): the
    registry's Family.flops (None for a family that has none)."""
    entry = family(config.family)
    return None if entry.flops is None else float(entry.flops(config, shape, size))


def left_behind_evaluations(restarts: dict) -> int:
    """Loss evaluations of the restart probes a stage did not keep (the info of
    kanbench.train.fit_from_best_start; 0 without restarts)."""
    probes = restarts.get("restart_probe_evaluations") or []
    chosen = restarts.get("chosen_restart")
    return int(sum(e for r, e in enumerate(probes) if r != chosen))


@dataclass
class CostMeter:
    """The running cost of one run whose loss evaluations each see `samples` samples:
    `cumulative` (a staged family) adds each stage to the ones before, else every stage
    stands alone (module docstring)."""

    samples: int
    cumulative: bool = True
    flops: float = 0.0
    seconds: float = 0.0

    def stage(self, config: Any, shape: Sequence[int], size: int, outcome: Any, restarts=None):
        """The cost fields (COST_FIELDS, a dict) of a stage of config's family at (shape,
        size) (forward_flops) whose outcome (kanbench.train.StageOutcome: its evaluations
        and seconds) it was, with its restart info."""
        forward = forward_flops(config, shape, size)
        evaluations = outcome.evaluations + left_behind_evaluations(restarts or {})
        flops = None if forward is None else train_flops(forward, self.samples, evaluations)
        if not self.cumulative:
            self.flops = self.seconds = 0.0
        self.flops += flops if flops is not None else float("nan")
        self.seconds += outcome.seconds
        backward = None if forward is None else BACKWARD_PER_FORWARD * forward
        return {
            "flops_forward_per_sample": forward,
            "flops_backward_per_sample": backward,
            "flops_convention": FLOPS_CONVENTION,
            "samples_per_evaluation": self.samples,
            "train_evaluations": evaluations,
            "train_flops": flops,
            "cum_train_flops": None if flops is None else self.flops,
            "cum_wall_s": self.seconds,
        }
