"""The MLP ladder: an MLP of fixed depth per target parameter count, each trained from
scratch (kanbench.train.fit_stage, the best of `restarts` starts), one record per size.

The targets are model.target_params, or the trainable counts of a staged family (the
registry's count of model.kan_family at model.kan_shape over model.kan_grids), so that the
ladder is matched to a KAN's sizes; model.width trains one fixed width instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import torch

from kanbench.config import RunConfig
from kanbench.cost import CostMeter
from kanbench.data import TorchDataset
from kanbench.families import MlpConfig, family
from kanbench.models import MLP, count_trainable, match_mlp_width
from kanbench.monitor import Progress
from kanbench.train import (
    RESTART_SEED_STRIDE,
    fit_from_best_start,
    fit_stage,
    now_utc,
    stage_record,
)


def mlp_targets(m: MlpConfig) -> list[int] | None:
    """The parameter counts an MLP ladder is matched to (None: one fixed width)."""
    if m.width is not None:
        return None
    if m.target_params is not None:
        return list(m.target_params)
    entry = family(m.kan_family)
    kan = entry.config(spline_order=m.kan_spline_order, groups=m.kan_groups, rank=m.kan_rank)
    return [entry.count(kan, m.kan_shape, g) for g in m.kan_grids]


def train_mlp(
    cfg: RunConfig,
    data: TorchDataset,
    progress: Progress,
    on_step: Callable[[dict], None] | None = None,
) -> Iterator[tuple[dict, list]]:
    """Yield (record, history) for each MLP size, each trained from scratch.

    Sizes are independent, so one that diverges does not stop the others. Targets that
    match the same width give one size (the first target's), not identical repeats.
    """
    m: MlpConfig = cfg.model
    d_in = cfg.task.input_dim
    meter = CostMeter(data.x_train.shape[0], cumulative=False)
    targets = mlp_targets(m)
    if targets is None:
        sizes = [(m.width, None)]
    else:  # two targets can round to one width: that MLP is trained once, for the first
        first_target: dict[int, int] = {}
        for target in targets:
            first_target.setdefault(match_mlp_width(target, d_in, m.depth, 1).width, target)
        sizes = list(first_target.items())
    for stage, (width, target) in enumerate(sizes):
        started = now_utc()

        def build(restart: int, width: int = width) -> MLP:
            torch.manual_seed(cfg.seed + RESTART_SEED_STRIDE * restart)
            return MLP(
                d_in, m.depth, width, 1, m.activation, dtype=cfg.torch_dtype, device=cfg.device
            )

        fit = functools.partial(
            fit_stage,
            data=data,
            optim=cfg.optim,
            steps=m.steps,
            log_every=cfg.log_every,
            progress=progress,
            label=f"mlp {m.depth}x{width}",
            on_step=on_step,
        )
        model, outcome, restarts = fit_from_best_start(
            build, m.restarts, min(m.restart_steps, m.steps), fit, data
        )
        n = count_trainable(model)
        cost = meter.stage(m, (d_in, 1), width, outcome, restarts)
        record = stage_record(
            cfg,
            model,
            data,
            outcome,
            started,
            stage=stage,
            shape=None,
            grid_size=None,
            spline_order=None,
            variant=None,
            depth=m.depth,
            width=width,
            n_params_paper=n,
            target_params=target,
            lsq_train_rmse=None,
            lsq_scope=None,
            **restarts,
            **cost,
        )
        yield record, outcome.history
