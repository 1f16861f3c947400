"""Per-seed slopes of log RMSE against log G over named grid ranges (Fig 2.3's claims).

    python results/fig2_3/slopes.py RUNS_FOLDER [--ranges 3-20 5-100 ...]

For every KAN shape and seed in the records under RUNS_FOLDER: the least-squares slope of
log RMSE against log G over each range, for the test RMSE (sqrt of the mean squared
error), the square root of the median squared test error and the train RMSE; then the mean
and the 95% t-interval over seeds. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import stats

from kanbench.analysis import load_records

COLUMNS = {
    "test_rmse": "test, sqrt of mean",
    "test_median_rmse": "test, sqrt of median",
    "train_rmse": "train",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--ranges", nargs="+", default=["3-20", "5-50", "5-100", "10-200"])
    args = parser.parse_args(argv)
    stages = load_records(args.folder)
    stages = stages[(stages["family"] == "kan") & (stages["status"] == "complete")]
    ranges = [tuple(int(v) for v in r.split("-")) for r in args.ranges]
    print("| shape | RMSE | " + " | ".join(f"G {lo}-{hi}" for lo, hi in ranges) + " |")
    print("|---|---|" + "---|" * len(ranges))
    for shape, of_shape in stages.groupby(stages["shape"].astype(str)):
        for column, label in COLUMNS.items():
            cells = []
            for lo, hi in ranges:
                slopes = []
                for _, run in of_shape.groupby("seed"):
                    inside = run[(run["grid_size"] >= lo) & (run["grid_size"] <= hi)]
                    g = inside["grid_size"].to_numpy(dtype=float)
                    values = inside[column].to_numpy(dtype=float)
                    slopes.append(-np.polyfit(np.log(g), np.log(values), 1)[0])
                slopes = np.array(slopes)
                half = (
                    stats.t.ppf(0.975, slopes.size - 1) * slopes.std(ddof=1) / np.sqrt(slopes.size)
                )
                cells.append(
                    f"{slopes.mean():.2f} [{slopes.mean() - half:.2f}, {slopes.mean() + half:.2f}]"
                )
            print(f"| {shape} | {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
