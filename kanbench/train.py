"""Training: one stage (fit_stage, the best of several starts, its record), and the staged
loop of a KAN through its grid schedule (the MLP ladder, an MLP per target size, is
kanbench.ladder).

The KAN's variants (RBF, Chebyshev, grouped, Fourier; kanbench.families) train as the KAN
does, through their own size schedule (centres, degrees, grids), grown in place between
stages.

A stage trains one model size with a fresh optimiser for a fixed number of steps on the
full training batch (MSE loss) and ends in one record. For a KAN the stages follow its
grid schedule: between stages the grid is extended by least squares (paper §2.4), and
during the first steps of each stage the grid is updated from the training inputs (never
from the test inputs), every grid_update_every steps until grid_update_until, as pykan
does. For an MLP each target parameter count is a stage of its own, trained from scratch.
Every record carries the stage's cost, FLOPs and seconds (kanbench.cost).

A non-finite loss ends the stage with status "diverged", an error in a grid operation
with status "failed"; for a KAN either ends the run, cleanly.

restarts > 1 trains that many initialisations (the run's seed first) for restart_steps
steps of the first stage (KAN) or of each size (MLP) and keeps the one with the lowest
training RMSE: from some initialisations LBFGS settles at once in a poor minimum that
the rest of the schedule never leaves (pykan's KANs too), and the training loss after a
few steps tells them apart. restarts = 1 is the paper's protocol.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import torch
from torch import nn

from kanbench import memory
from kanbench.config import OptimConfig, RunConfig
from kanbench.cost import CostMeter
from kanbench.data import TorchDataset
from kanbench.families import StagedConfig, family
from kanbench.models import count_trainable
from kanbench.models.stack import LayerStack
from kanbench.monitor import Progress
from kanbench.optim import LossScale, make_optimizer, stop_rule
from kanbench.optimum import last_layer_optimum

# start r of a stage is seeded with seed + RESTART_SEED_STRIDE * r (start 0: the run's seed)
RESTART_SEED_STRIDE = 1_000_003


@dataclass
class StageOutcome:
    """How one stage of training went."""

    status: str = "ok"
    message: str | None = None
    steps: int = 0
    iterations: int = 0
    evaluations: int = 0
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    stopped_early: bool = False
    stalled_steps: int = 0
    last_loss: float | None = None
    history: list[tuple[int, float, float | None]] = field(default_factory=list)


@torch.no_grad()
def rmse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(sqrt of the mean, sqrt of the median) of the squared errors; the paper uses both."""
    squared = (model(x) - y).pow(2).flatten()
    return math.sqrt(squared.mean().item()), math.sqrt(squared.median().item())


def fit_stage(
    model: nn.Module,
    data: TorchDataset,
    optim: OptimConfig,
    steps: int,
    log_every: int,
    progress: Progress,
    label: str,
    before_step: Callable[[int], None] | None = None,
    on_step: Callable[[dict], None] | None = None,
    outcome: StageOutcome | None = None,
    stop_from: int = 0,
    penalty: Callable[[], torch.Tensor] | None = None,
) -> StageOutcome:
    """Train model up to step `steps` on the full training batch, with a fresh optimiser.

    before_step(step) runs before each step (a KAN's grid update). Given the outcome of
    earlier steps of the same stage, carry on from where it ended. From step stop_from on,
    the stage ends early when optim.stop_patience steps in a row each lowered the training
    loss L by less than optim.stop_rtol · L (see stop_rule). penalty() (a scalar tensor,
    evaluated after the model's forward pass) is added to the MSE loss that the optimiser
    minimises; the per-step train RMSE of the history is then the square root of that
    penalised loss (the stage's record computes its RMSEs anew, without it).
    """
    if outcome is None:
        outcome = StageOutcome()
        memory.reset_peak()
    optimizer = make_optimizer(model.parameters(), optim)
    scale = LossScale(optimizer)
    if outcome.last_loss is None:
        with torch.no_grad():
            scale.follow(float(_loss(model, data, penalty)))

    def closure() -> torch.Tensor:
        outcome.evaluations += 1
        optimizer.zero_grad(set_to_none=True)
        loss = _loss(model, data, penalty) * scale.factor
        loss.backward()
        return loss

    start = time.perf_counter()
    try:
        for step in range(outcome.steps, steps):
            if before_step is not None:
                before_step(step)
            scale.follow(outcome.last_loss)
            if optim.relative_tolerance and outcome.last_loss is not None:
                for group in optimizer.param_groups:  # LBFGS reads it at every step
                    group["tolerance_change"] = max(
                        optim.tolerance_change,
                        optim.relative_tolerance * outcome.last_loss * scale.factor,
                    )
            loss = float(optimizer.step(closure).detach()) / scale.factor  # before this step
            outcome.steps = step + 1
            if not math.isfinite(loss):
                outcome.status, outcome.message = "diverged", f"loss {loss} at step {step}"
                break
            if _stalled(outcome, loss, optim, counting=step > stop_from):
                outcome.stopped_early = True
                break
            test = None
            if log_every and (step + 1) % log_every == 0:
                test = rmse(model, data.x_test, data.y_test)[0]
            outcome.history.append((step, math.sqrt(loss), test))
            if on_step is not None:
                on_step({"step": step, "train_rmse": math.sqrt(loss), "test_rmse": test})
            progress.update(label, step + 1, steps, math.sqrt(loss), test)
    except (ValueError, FloatingPointError, RuntimeError, IndexError) as error:
        outcome.status, outcome.message = "failed", f"{type(error).__name__}: {error}"
    outcome.seconds += time.perf_counter() - start
    outcome.peak_rss_mb = memory.peak_resident_mb()
    state = optimizer.state[next(iter(model.parameters()))] if optimizer.state else {}
    outcome.iterations += int(state.get("n_iter", state.get("step", 0)))
    return outcome


def _loss(
    model: nn.Module, data: TorchDataset, penalty: Callable[[], torch.Tensor] | None
) -> torch.Tensor:
    """The MSE on the training batch, plus the penalty if any."""
    loss = nn.functional.mse_loss(model(data.x_train), data.y_train)
    return loss + penalty() if penalty is not None else loss


def _stalled(outcome: StageOutcome, loss: float, optim: OptimConfig, counting: bool) -> bool:
    """Count the steps in a row whose loss fell by less than stop_rtol of the one before.

    loss is the loss before the current step, so it measures the step before; a stage with
    stop_rtol = 0 never stalls.
    """
    previous, outcome.last_loss = outcome.last_loss, loss
    if not optim.stop_rtol or not counting or previous is None:
        outcome.stalled_steps = 0
        return False
    small = previous - loss < optim.stop_rtol * previous
    outcome.stalled_steps = outcome.stalled_steps + 1 if small else 0
    return outcome.stalled_steps >= optim.stop_patience


def fit_from_best_start(
    build: Callable[[int], nn.Module],
    restarts: int,
    probe_steps: int,
    fit: Callable[..., StageOutcome],
    data: TorchDataset,
) -> tuple[nn.Module, StageOutcome, dict]:
    """Train the best of `restarts` initialisations: build(r) makes start r (0: the seed's).

    Each start trains probe_steps steps; the one with the lowest training RMSE then trains
    on to the end of the stage (fit(model, outcome=...)). Only training data decide. The
    stage's time includes the probes of the starts left behind; info lists their evaluations.
    """
    if restarts == 1:
        return (model := build(0)), fit(model), {}
    starts = []
    for r in range(restarts):
        model = build(r)
        outcome = fit(model, steps=probe_steps)
        score = rmse(model, data.x_train, data.y_train)[0] if outcome.status == "ok" else math.inf
        starts.append((score if math.isfinite(score) else math.inf, r, model, outcome))
    score, chosen, model, outcome = min(starts, key=lambda start: (start[0], start[1]))
    outcome.seconds += sum(start[3].seconds for start in starts if start[1] != chosen)
    info = {
        "restarts": restarts,
        "restart_probe_steps": probe_steps,
        "chosen_restart": chosen,
        "restart_train_rmse": [start[0] for start in starts],
        "restart_probe_evaluations": [start[3].evaluations for start in starts],
    }
    if outcome.status == "ok":
        outcome = fit(model, outcome=outcome)
    return model, outcome, info


def stage_record(
    cfg: RunConfig,
    model: nn.Module,
    data: TorchDataset,
    outcome: StageOutcome,
    started: str,
    **fields,
) -> dict:
    """The record of one finished stage: the model's errors on both splits, how the
    training went (outcome), the run's settings, and the caller's fields (its size...)."""
    train, _ = rmse(model, data.x_train, data.y_train)
    test, test_median = rmse(model, data.x_test, data.y_test)
    return {
        "task": cfg.task.name,
        "family": cfg.model.family,
        **fields,
        "n_params": count_trainable(model),
        "train_rmse": train,
        "test_rmse": test,
        "test_median_rmse": test_median,
        "steps": outcome.steps,
        "stopped_early": outcome.stopped_early,
        "stop_rule": stop_rule(cfg.optim),
        "iterations": outcome.iterations,
        "evaluations": outcome.evaluations,
        "wall_s": outcome.seconds,
        "s_per_step": outcome.seconds / max(outcome.steps, 1),
        "peak_rss_mb": outcome.peak_rss_mb,
        "seed": cfg.seed,
        "dtype": cfg.dtype,
        "device": cfg.device,
        "threads": cfg.threads,
        "status": "complete" if outcome.status == "ok" else outcome.status,
        "message": outcome.message,
        "started_at": started,
        "finished_at": now_utc(),
    }


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second (records' started_at, finished_at)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_staged(
    cfg: RunConfig, size: int, restart: int = 0, x: torch.Tensor | None = None
) -> LayerStack:
    """The model of the config's staged family at size knob `size` (G, centres or degree),
    seeded for start `restart` (start 0: the run's seed); with training inputs x, every
    layer's basis is placed on the samples that reach it (see place_bases)."""
    m = cfg.model
    torch.manual_seed(cfg.seed + RESTART_SEED_STRIDE * restart)
    common = {
        "grid_range": m.grid_range,
        "bias": m.bias,
        "dtype": cfg.torch_dtype,
        "device": cfg.device,
    }
    model = family(m.family).build(m, m.shape, size, common)
    if x is not None:
        place_bases(model, cfg, x)
    return model


def _input_bounds(cfg: RunConfig) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The task's domain when the first layer's basis must cover it (grid_covers_domain)."""
    if not cfg.model.grid_covers_domain:
        return None
    return torch.as_tensor(cfg.task.lows), torch.as_tensor(cfg.task.highs)


def place_bases(model: LayerStack, cfg: RunConfig, x: torch.Tensor) -> None:
    """Move a fresh model's grids onto its samples, keeping its random coefficients.

    Outside its grid a spline extrapolates its boundary polynomial, so a layer whose
    first grid ([-1, 1]) is far from its inputs (x in [1, 5], say, 100 cells away at
    G = 50) computes values of 1e6 and more; the first grid update, which keeps the
    function, would then keep those too. Placing the grids first (the coefficients are
    random either way) starts every run on its data, as pykan starts on its first update.
    """
    model.update_grid(x, _input_bounds(cfg), cfg.model.hidden_grid_margin, refit=False)


def staged_size_fields(m: StagedConfig, size: int, n_params: int) -> dict:
    """The record fields that say which model of a staged family a stage trained; the
    paper's count (edges x G) where the family has one, else the trainable count."""
    entry = family(m.family)
    paper = entry.paper_count(m.shape, size) if entry.paper_count else n_params
    return {
        "shape": list(m.shape),
        "grid_size": size,
        "spline_order": getattr(m, "spline_order", None),
        "variant": entry.variant(m),
        "depth": len(m.shape) - 1,
        "width": None,
        "n_params_paper": paper,
    }


def staged_fitter(
    cfg: RunConfig,
    data: TorchDataset,
    progress: Progress,
    on_step: Callable[[dict], None] | None = None,
) -> Callable[..., StageOutcome]:
    """fit(model, steps, label, grid_updates=True, outcome=None, penalty=None): one stage
    of a staged family (fit_stage), its grid updated from the training inputs every
    grid_update_every steps before grid_update_until (with grid_updates), early stopping
    counted from there on."""
    m: StagedConfig = cfg.model
    bounds = _input_bounds(cfg)

    def update_grid(model: LayerStack, step: int) -> None:
        if step < m.grid_update_until and step % m.grid_update_every == 0:
            model.update_grid(data.x_train, bounds, m.hidden_grid_margin)

    def fit(model, steps, label, grid_updates=True, outcome=None, penalty=None) -> StageOutcome:
        return fit_stage(
            model,
            data,
            cfg.optim,
            steps,
            cfg.log_every,
            progress,
            label,
            functools.partial(update_grid, model) if grid_updates else None,
            on_step,
            outcome,
            stop_from=m.grid_update_until if grid_updates else 0,
            penalty=penalty,
        )

    return fit


@dataclass
class GrownStage:
    """One stage of the staged loop: the model at size knob `size`, after training."""

    stage: int
    size: int
    model: LayerStack
    outcome: StageOutcome
    restarts: dict
    started: str


def grow_through_schedule(
    cfg: RunConfig, data: TorchDataset, fit: Callable[..., StageOutcome], name: str
) -> Iterator[GrownStage]:
    """The staged loop: the first size from the best of `restarts` starts, every later
    size grown in place from the one before (model.refine) and trained on; stops after a
    stage that did not end "ok". fit(model, steps, label, outcome=None) trains one stage;
    name starts its progress labels."""
    m: StagedConfig = cfg.model
    entry = family(m.family)
    model = None
    for stage, size in enumerate(m.grid_schedule):
        started, label = now_utc(), f"{name} {entry.size_label(size)}"
        outcome, restarts = StageOutcome(), {}
        if model is None:
            model, outcome, restarts = fit_from_best_start(
                functools.partial(build_staged, cfg, size, x=data.x_train),
                m.restarts,
                min(m.restart_steps, m.steps_per_grid),
                lambda model, steps=m.steps_per_grid, outcome=None, label=label: fit(
                    model, steps, label, outcome=outcome
                ),
                data,
            )
        else:
            try:
                model.refine(size)
            except (ValueError, FloatingPointError, RuntimeError) as error:
                outcome.status, outcome.message = "failed", f"refine to {label}: {error}"
            if outcome.status == "ok":
                outcome = fit(model, m.steps_per_grid, label)
        yield GrownStage(stage, size, model, outcome, restarts, started)
        if outcome.status != "ok":
            return


def train_staged(
    cfg: RunConfig,
    data: TorchDataset,
    progress: Progress,
    on_step: Callable[[dict], None] | None = None,
) -> Iterator[tuple[dict, list]]:
    """Yield (record, history) for each stage of a staged family's size schedule: a KAN
    through its grids, the variants through their sizes, each grown in place."""
    fit = staged_fitter(cfg, data, progress, on_step)
    meter = CostMeter(data.x_train.shape[0], cumulative=True)
    for grown in grow_through_schedule(cfg, data, fit, cfg.model.family):
        model, outcome = grown.model, grown.outcome
        optimum = last_layer_optimum(model, data.x_train, data.y_train)
        cost = meter.stage(cfg.model, cfg.model.shape, grown.size, outcome, grown.restarts)
        record = stage_record(
            cfg,
            model,
            data,
            outcome,
            grown.started,
            stage=grown.stage,
            **staged_size_fields(cfg.model, grown.size, count_trainable(model)),
            lsq_train_rmse=optimum.rmse,
            lsq_scope=optimum.scope,
            **grown.restarts,
            **cost,
        )
        yield record, outcome.history
