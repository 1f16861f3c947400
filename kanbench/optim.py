"""Optimisers from the optim config, and the loss normalisation that LBFGS needs.

torch.optim.LBFGS keeps a curvature pair (s, y) only when y.s > 1e-10, a threshold in
the loss's own units. For a least-squares loss y.s is about the loss decrease of the step,
so once the MSE falls below about 1e-10 (RMSE 1e-5) LBFGS drops every pair, stops learning
curvature and creeps: staged KANs sat for hundreds of steps at 10-100x the least-squares
optimum of their own splines (on sin(pi x) + exp(y), a [2, 1] KAN: train RMSE 4.7e-7 at
G = 200 against an optimum of 4.2e-9). pykan ships a copy of LBFGS with the threshold
at 1e-32; kanbench keeps torch's LBFGS and normalises the loss instead (LossScale): before
each step the objective is multiplied by the power of two that brings the last loss into
[0.5, 1), so the threshold is always 1e-10 of the current loss. LBFGS is invariant to the
scale of its objective except for that threshold, its line search's first step and its
tolerances; when the scale changes, the stored curvature history is rescaled with it, so
that the iterates are those of an unscaled run without the threshold. tolerance_grad and
tolerance_change then apply to the normalised loss (tolerance_change also bounds the step
in parameter space, as in torch).

Measured alternatives, worse: a threshold at 1e-7 of the loss, or at the loss's rounding
noise, left J0(20x)'s [1, 1] KAN at 11-19x its optimum at G = 200 (its silu branch and
splines cancel at |w_b| ~ 2e4 there, and the curvature it needs is small); running each
stage's first step unscaled stalled fine-tuned stages for good (on the tiny unscaled
gradient, the line search's bracket tolerance, 1e-9 in parameter space, returns a zero
step). Known limit: at the rounding floor of a loss far past the interpolation threshold
(RMSE 2e-8 with 11 000 parameters on 1000 points), one stage of 135 in fig3_1 built its
curvature from rounding and diverged; the record says so.
"""

from __future__ import annotations

import math

import torch

from kanbench.config import OptimConfig

# the history is rescaled once the loss has moved by more than 2^RESCALE_BITS
RESCALE_BITS = 4
# what LBFGS keeps in its state that carries the objective's scale (torch 2.x)
_SCALED_WITH_LOSS = ("prev_flat_grad", "prev_loss", "old_dirs")
_SCALED_AGAINST_LOSS = ("ro", "H_diag")


def make_optimizer(parameters, optim: OptimConfig) -> torch.optim.Optimizer:
    """LBFGS (pykan's settings by default) or Adam, from the optim config."""
    if optim.name == "lbfgs":
        return torch.optim.LBFGS(
            parameters,
            lr=optim.lr,
            max_iter=optim.max_iter,
            history_size=optim.history_size,
            line_search_fn=optim.line_search,
            tolerance_grad=optim.tolerance_grad,
            tolerance_change=optim.tolerance_change,
        )
    return torch.optim.Adam(
        parameters, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay
    )


class LossScale:
    """The factor an LBFGS objective is multiplied by (1 for other optimisers and until
    follow() is first called); see the module docstring."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.enabled = isinstance(optimizer, torch.optim.LBFGS)
        self.factor = 1.0

    def follow(self, loss: float | None) -> None:
        """Normalise to the loss (unscaled): factor = 2^-e with loss = m 2^e, m in [0.5, 1),
        once it is off by more than 2^RESCALE_BITS; rescales LBFGS's history to match."""
        if not (self.enabled and loss is not None and math.isfinite(loss) and loss > 0):
            return
        factor = math.ldexp(1.0, -math.frexp(loss)[1])
        ratio = factor / self.factor
        if abs(math.log2(ratio)) <= RESCALE_BITS:
            return
        _rescale_history(self.optimizer, ratio)
        self.factor = factor


def _rescale_history(optimizer: torch.optim.LBFGS, ratio: float) -> None:
    """Multiply LBFGS's stored gradients, gradient differences and loss by ratio (and the
    curvature terms 1/(y.s) and y.s/y.y by 1/ratio), as if the objective had always carried
    the new factor. A state of unknown layout is dropped instead (a fresh start)."""
    params = optimizer.param_groups[0]["params"]
    state = optimizer.state.get(params[0])
    if not state or "prev_flat_grad" not in state:
        return
    if not all(key in state for key in (*_SCALED_WITH_LOSS, *_SCALED_AGAINST_LOSS)):
        optimizer.state.clear()
        return
    state["prev_flat_grad"] = state["prev_flat_grad"] * ratio
    state["prev_loss"] = state["prev_loss"] * ratio
    state["old_dirs"] = [y * ratio for y in state["old_dirs"]]
    state["ro"] = [r / ratio for r in state["ro"]]
    state["H_diag"] = state["H_diag"] / ratio


def stop_rule(optim: OptimConfig) -> str | None:
    """The early-stopping rule in words, for the record (None: every step is trained)."""
    rules = []
    if optim.name == "lbfgs" and optim.relative_tolerance:
        rules.append(f"LBFGS iterations end at a loss change < {optim.relative_tolerance:g}·loss")
    if optim.stop_rtol:
        rules.append(
            f"a stage ends after {optim.stop_patience} steps in a row that each lower the "
            f"training loss by < {optim.stop_rtol:g} of it"
        )
    return "; ".join(rules) or None
