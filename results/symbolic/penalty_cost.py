"""Cost of the sparsity penalty: forward+backward of a KAN with and without it.

Run: python results/symbolic/penalty_cost.py  (one thread, float64, median of repeats)
"""

import statistics
import time

import torch

from kanbench.interpret import regularize
from kanbench.models import KAN


def median_time(fn, repeats=15):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    print("shape        batch  G   plain ms  penalised ms  ratio")
    for widths, batch, grid in [
        ([2, 5, 1], 1000, 5),
        ([16, 64, 1], 1000, 5),
        ([64, 64, 1], 1000, 5),
    ]:
        torch.manual_seed(0)
        model = KAN(widths, grid_size=grid)
        x = torch.rand(batch, widths[0]) * 2 - 1
        y = torch.rand(batch, 1)

        def plain(model=model, x=x, y=y):
            model.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()

        penalty = regularize.penalty(model, 0.01)

        def penalised(model=model, x=x, y=y, penalty=penalty):
            model.zero_grad()
            (torch.nn.functional.mse_loss(model(x), y) + penalty()).backward()

        model.keep_inputs = False
        a = median_time(plain)
        model.keep_inputs = True
        b = median_time(penalised)
        print(f"{str(widths):12} {batch:5} {grid:2} {a * 1e3:10.2f} {b * 1e3:13.2f} {b / a:6.1f}")


if __name__ == "__main__":
    main()
