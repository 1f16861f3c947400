"""The interpretation pipeline of the KAN paper (§2.5), as a model family of kanbench-train.

model=kan_symbolic (config: KanSymbolicConfig) runs, one record per stage:

1. train    the KAN through grid_schedule as model=kan does (best of `restarts` starts,
            grid updates early in each stage, grid extension between stages), with the
            sparsity penalty lambda (mu1 sum_l |Phi_l|_1 + mu2 sum_l S(Phi_l)) added to
            the MSE (kanbench.interpret.regularize);
2. prune    hidden nodes whose largest incoming or outgoing L1 is at most theta
            (kanbench.interpret.prune); no training, the record holds the pruned shape;
3. retrain  retrain_steps steps without the penalty (no grid updates from here on);
4. symbolic fix every kept edge whose best library fit reaches symbolic_threshold
            (kanbench.interpret.symbolic.auto_symbolic), layer by layer, then give
            hidden nodes that feed only fixed edges unit spread (normalize_hidden);
5. refit    refit_steps steps of every parameter, the affine (a, b, c, d) of the fixed
            edges included; the record holds the network's formula.

N in the records (n_params) counts the trainable numbers the kept edges use:
(G + k + 2) per spline edge, 4 per symbolic edge; n_params_paper is spline edges x G.
The cost fields (kanbench.cost) add up over all five steps; they count the KAN of the
kept shape as if every edge were a spline edge, and not the penalty's own arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import sympy

from kanbench.config import RunConfig
from kanbench.cost import CostMeter
from kanbench.data import TorchDataset
from kanbench.families import KanSymbolicConfig
from kanbench.interpret import prune, regularize, symbolic
from kanbench.models import KAN
from kanbench.monitor import Progress
from kanbench.train import (
    StageOutcome,
    grow_through_schedule,
    now_utc,
    stage_record,
    staged_fitter,
)

FORMULA_DIGITS = 6


def formula_text(model: KAN, variables, digits: int = FORMULA_DIGITS) -> str:
    """The network's first output as text, its numbers rounded to `digits` significant."""
    expression = symbolic.formula(model, variables)[0]
    rounded = expression.xreplace(
        {n: sympy.Float(n, digits) for n in expression.atoms(sympy.Float)}
    )
    return str(rounded)


def train_kan_symbolic(
    cfg: RunConfig,
    data: TorchDataset,
    progress: Progress,
    on_step: Callable[[dict], None] | None = None,
    keep: dict | None = None,
) -> Iterator[tuple[dict, list]]:
    """Yield (record, history) for each stage of the pipeline (see the module docstring).

    keep, when given, receives the final model ("model"), the symbolic fits ("fits") and
    the sympy formula ("formula").
    """
    m: KanSymbolicConfig = cfg.model
    keep = {} if keep is None else keep
    variables = list(cfg.task.variables)
    staged_fit = staged_fitter(cfg, data, progress, on_step)

    def fit(model: KAN, steps: int, label: str, penalised: bool, grid_updates: bool, outcome=None):
        penalty = None
        if penalised and m.reg_lambda > 0:
            penalty = regularize.penalty(model, m.reg_lambda, m.reg_mu1, m.reg_mu2)
        try:
            return staged_fit(model, steps, label, grid_updates, outcome, penalty)
        finally:
            model.keep_inputs, model.layer_inputs = False, []

    meter = CostMeter(data.x_train.shape[0], cumulative=True)

    def record(model: KAN, outcome: StageOutcome, started: str, stage: int, name: str, **extra):
        spline_edges, symbolic_edges = prune.active_edges(model)
        cost = meter.stage(m, list(model.widths), model.grid_size, outcome, extra)
        rec = stage_record(
            cfg,
            model,
            data,
            outcome,
            started,
            stage=stage,
            stage_name=name,
            shape=list(model.widths),
            grid_size=model.grid_size,
            spline_order=model.spline_order,
            depth=len(model.widths) - 1,
            width=max(model.widths[1:-1], default=None),
            n_params_paper=spline_edges * model.grid_size,
            spline_edges=spline_edges,
            symbolic_edges=symbolic_edges,
            **extra,
            **cost,
        )
        rec["n_params"] = prune.effective_params(model)
        return rec

    # 1. train with the penalty through the grid schedule
    def penalised_fit(model: KAN, steps: int, label: str, outcome=None) -> StageOutcome:
        return fit(model, steps, label, True, True, outcome)

    for grown in grow_through_schedule(cfg, data, penalised_fit, "kan_symbolic train"):
        model, outcome, stage = grown.model, grown.outcome, grown.stage + 1
        rec = record(model, outcome, grown.started, grown.stage, "train", **grown.restarts)
        yield rec, outcome.history
        if outcome.status != "ok":
            return

    # 2. prune hidden nodes
    started, outcome = now_utc(), StageOutcome()
    try:
        model = prune.prune_nodes(model, data.x_train, m.prune_threshold)
    except ValueError as error:
        outcome.status, outcome.message = "failed", f"prune: {error}"
    yield record(model, outcome, started, stage, "prune"), []
    stage += 1
    if outcome.status != "ok":
        return

    # 3. retrain without the penalty
    started = now_utc()
    outcome = fit(model, m.retrain_steps, "kan_symbolic retrain", False, False)
    yield record(model, outcome, started, stage, "retrain"), outcome.history
    stage += 1
    if outcome.status != "ok":
        return

    # 4. fix edges symbolically
    started, outcome = now_utc(), StageOutcome()
    options = {"a_range": m.symbolic_a_range, "b_range": m.symbolic_b_range}
    clock = time.perf_counter()
    fits = symbolic.auto_symbolic(
        model, data.x_train, m.symbolic_threshold, m.symbolic_functions, **options
    )
    symbolic.normalize_hidden(model, data.x_train)
    outcome.seconds = time.perf_counter() - clock
    keep["fits"] = fits
    yield record(model, outcome, started, stage, "symbolic", symbolic_fits=fits), []
    stage += 1

    # 5. refit every parameter, the fixed edges' affine parameters included
    started = now_utc()
    outcome = fit(model, m.refit_steps, "kan_symbolic refit", False, False)
    keep["model"], keep["formula"] = model, symbolic.formula(model, variables)[0]
    text = formula_text(model, variables)
    yield record(model, outcome, started, stage, "refit", formula=text), outcome.history
