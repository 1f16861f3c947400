"""The model each bench family measures on a case, and its description (size, form, FLOPs).

- kan, kan_dense, kan_sparse: kanbench's KAN at the case's (shape, G, k), each layer in
  the form choose_form picks, or every layer forced dense or sparse; the first layer's
  input cache is off, so every pass is evaluated in full, as with a new minibatch.
- the variants (every staged family of the registry that an MLP can be matched to, other
  than the KAN): the family's default config at the size knob whose trainable count is
  nearest the KAN's (Family.nearest_size): G + k + 1 centres for rbfkan, degree G + k + 1
  for chebykan, both exactly the KAN's count. The grouped KAN is the one exception
  (_grouped_by_rank): one group per layer at the KAN's G, with the rank R nearest.
- mlp: the MLP whose trainable count is nearest the KAN's, with as many linear layers as
  the KAN has layers (at least 2).
- pykan, pykan_speed: pykan 0.2.8's KAN as it comes (its symbolic branch and saved
  activations on), and after its model.speed() (both off); the `reference` extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kanbench.bench.cases import KAN_FORMS, PYKAN_FORMS, Case, variant_families
from kanbench.config import DTYPES
from kanbench.families import family
from kanbench.flops import FLOP_CONVENTIONS, kan_flops, mlp_flops
from kanbench.models import KAN, MLP, count_trainable, kan_size, match_mlp_width
from kanbench.models.forms import choose_form


def pykan_available() -> bool:
    """Whether pykan (the `reference` extra) can be imported."""
    return importlib.util.find_spec("kan") is not None


def mlp_of_size(target: int, widths: Sequence[int], dtype: torch.dtype, device="cpu") -> MLP:
    """The MLP from widths[0] to widths[-1] with max(2, len(widths) - 1) layers whose
    trainable count is nearest target."""
    depth = max(2, len(widths) - 1)
    match = match_mlp_width(target, widths[0], depth, widths[-1])
    return MLP(widths[0], depth, match.width, widths[-1], dtype=dtype, device=device)


@dataclass(frozen=True)
class VariantMatch:
    """A variant family at a KAN's trainable count: its config, its size knob, and the text
    recorded as its form ('G=11', 'D=11', '1 group R=4')."""

    family: str
    config: Any
    size: int
    form: str

    def build(self, widths: Sequence[int], dtype: torch.dtype, device="cpu") -> nn.Module:
        """The family's model (Family.build), seeded by the caller."""
        common = {
            "grid_range": self.config.grid_range,
            "bias": self.config.bias,
            "dtype": dtype,
            "device": device,
        }
        return family(self.family).build(self.config, widths, self.size, common)


def match_variant(
    name: str, widths: Sequence[int], grid_size: int, spline_order: int
) -> VariantMatch:
    """The variant family `name` sized to the trainable count of the KAN (widths, G, k):
    as its registry entry's match_kan says, else its default config (k where it has one)
    at the size knob whose count is nearest."""
    entry = family(name)
    if entry.match_kan is not None:
        return VariantMatch(name, *entry.match_kan(widths, grid_size, spline_order))
    config = entry.config(spline_order=spline_order)
    size = entry.nearest_size(widths, kan_size(widths, grid_size, spline_order), config)
    return VariantMatch(name, config, size, entry.size_label(size))


def build_variant(
    name: str,
    widths: Sequence[int],
    grid_size: int,
    spline_order: int,
    dtype: torch.dtype,
    device="cpu",
) -> nn.Module:
    """A variant family's model at the trainable count of the KAN (widths, G, k)."""
    return match_variant(name, widths, grid_size, spline_order).build(widths, dtype, device)


def build_model(name: str, case: Case) -> nn.Module:
    """The family's model for the case, seeded, on the case's device and dtype."""
    torch.manual_seed(0)
    dtype = DTYPES[case.dtype]
    widths, g, k = case.widths, case.grid_size, case.spline_order
    if name == "mlp":
        return mlp_of_size(kan_size(widths, g, k), widths, dtype, case.device)
    if name in PYKAN_FORMS:
        from kan import KAN as PyKAN

        model = PyKAN(width=list(widths), grid=g, k=k, seed=0, auto_save=False, device=case.device)
        return (model.speed() if name == "pykan_speed" else model).to(dtype)
    if name in KAN_FORMS:
        kan = KAN(widths, g, k, form=KAN_FORMS[name], dtype=dtype, device=case.device)
        for layer in kan.layers:  # evaluate every pass in full, as with a new minibatch
            layer.input_cache = None
        return kan
    return build_variant(name, widths, g, k, dtype, case.device)


def describe(name: str, model: nn.Module, case: Case) -> dict:
    """Trainable count, form and FLOPs per sample (kanbench.flops) of a family's model;
    a variant's FLOPs are not counted (None)."""
    widths, g, k = case.widths, case.grid_size, case.spline_order
    if name == "mlp":
        flops = mlp_flops(model.d_in, model.depth, model.width, model.d_out)
        form = f"{model.depth}x{model.width}"
        counted = dict.fromkeys(FLOP_CONVENTIONS, flops)
    elif name in variant_families():
        form = match_variant(name, widths, g, k).form
        counted = dict.fromkeys(FLOP_CONVENTIONS)
    else:
        if name == "kan":
            pairs = zip(widths[:-1], widths[1:], strict=True)
            form = ",".join(choose_form(g, k, a, b) for a, b in pairs)
        else:
            form = KAN_FORMS.get(name, name)
        counted = {c: kan_flops(widths, g, k, c) for c in FLOP_CONVENTIONS}
    return {
        "n_params": count_trainable(model),
        "form": form,
        **{f"flops_{c}": value for c, value in counted.items()},
    }
