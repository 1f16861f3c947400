"""Forward + backward time of every model family against the MLP matched to its size, at
the shapes of results/variants (the five §3.1 toy tasks' KA shapes, and one wide shape).

Run: python results/variants/timing.py > results/variants/timing.csv
(one thread, float64 and the 1000-point training batch, as in the study; size knob 10:
G = 10, 10 centres, degree 10; medians of 7 interleaved rounds, kanbench.bench).
"""

import sys

import torch

from kanbench.bench import time_against_matched_mlp
from kanbench.models import KAN
from kanbench.models.chebyshev import ChebyKAN
from kanbench.models.grouped import GroupedKAN
from kanbench.models.rbf import RBFKAN

SHAPES = {
    "bessel_j0_20x": [1, 1],
    "exp_sin_y2": [2, 1, 1],
    "product_xy": [2, 2, 1],
    "exp_mean_sin2_100d": [100, 1, 1],
    "exp_sin_4d": [4, 2, 1, 1],
    "wide_4x64x64x1": [4, 64, 64, 1],
}
SIZE = 10


def uncached_kan(widths):
    """The KAN with its first-layer cache off, as kanbench-bench times it (a new batch per
    step); with the cache on, a full-batch KAN skips its first layer's bases."""
    model = KAN(widths, SIZE)
    for layer in model.layers:
        layer.input_cache = None
    return model


FAMILIES = {
    "kan": uncached_kan,
    "rbfkan": lambda w: RBFKAN(w, SIZE),
    "chebykan": lambda w: ChebyKAN(w, SIZE),
    "grouped groups=1 R=1": lambda w: GroupedKAN(w, SIZE, groups=1, rank=1),
    "grouped groups=1 R=3": lambda w: GroupedKAN(w, SIZE, groups=1, rank=3),
    "grouped per input R=1": lambda w: GroupedKAN(w, SIZE, groups=None, rank=1),
    "grouped per input R=3": lambda w: GroupedKAN(w, SIZE, groups=None, rank=3),
}


def main() -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    columns = ["task", "shape", "family", "N", "mlp_width", "mlp_N", "fwd_bwd_ms"]
    columns += ["mlp_fwd_bwd_ms", "ratio", "spread"]
    print(",".join(columns))
    for task, widths in SHAPES.items():
        for family, build in FAMILIES.items():
            torch.manual_seed(0)
            r = time_against_matched_mlp(build(widths), batch=1000, min_time=0.7, rounds=7)
            row = [task, "x".join(map(str, widths)), family, r["n_params"], r["mlp_width"]]
            row += [r["mlp_n_params"], f"{r['fwd_bwd_ms']:.3f}", f"{r['mlp_fwd_bwd_ms']:.3f}"]
            row += [f"{r['ratio']:.2f}", f"{r['spread']:.2f}"]
            print(",".join(map(str, row)), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
