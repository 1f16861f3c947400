"""The spreads that size conf/regress/ci.yaml's tolerances: seed to seed and run to run.

Runs the ci suite's study (with its speed probe) for seed 0 twice and seeds 1 and 2, then
the speed probe alone `--probes` more times, and writes spread.md beside this file with,
per kind of metric, how far the values moved:

- test_rmse: the factor max/min between two runs' values of the same stage;
- alpha: the absolute difference between two runs' fitted alphas;
- speed_ratio: max/min, and the largest value over the median, over every probe.

Run: python results/baseline/measure_spread.py [--out runs/spread] [--probes 5]  (~5 min on 2 cores)
"""

import argparse
import dataclasses
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path

from kanbench import regress

HERE = Path(__file__).parent


def measure(suite, folder, overrides=()):
    """The metrics of one run of the suite (study and probe) into folder, and its seconds."""
    started = time.perf_counter()
    regress.execute(regress.plan(suite, folder, overrides))
    return regress.collect_metrics(folder), time.perf_counter() - started


def unseeded(metrics):
    """{key without the seed: value} of a run of one seed."""
    return {(m.kind, m.task, m.family, m.series, m.point): m.value for m in metrics}


def pair_spread(a, b, kind):
    """Per metric of `kind` in both runs: factor max/min (RMSE) or |difference| (alpha)."""
    values = []
    for key in sorted(set(a) & set(b)):
        if key[0] != kind:
            continue
        x, y = a[key], b[key]
        values.append(abs(x - y) if kind == "alpha" else max(x, y) / min(x, y))
    return values


def describe(values, kind):
    if not values:
        return "-"
    unit = "" if kind == "alpha" else "x"
    return (
        f"median {statistics.median(values):.3g}{unit}, max {max(values):.3g}{unit} "
        f"({len(values)} metrics)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/spread")
    parser.add_argument("--probes", type=int, default=5)
    args = parser.parse_args()
    suite = regress.load_suite("ci")
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    runs, seconds = {}, {}
    for name, overrides in [
        ("seed 0", ["seed=0"]),
        ("seed 0 again", ["seed=0"]),
        ("seed 1", ["seed=1"]),
        ("seed 2", ["seed=2"]),
    ]:
        metrics, seconds[name] = measure(suite, out / name.replace(" ", "_"), overrides)
        runs[name] = unseeded(metrics)
    probe_only = dataclasses.replace(suite, experiment=None)
    for index in range(args.probes):
        metrics, _ = measure(probe_only, out / f"probe_{index}")
        runs[f"probe {index}"] = unseeded(metrics)

    lines = [
        "# Measured spreads of the ci suite",
        "",
        f"Made by `python results/baseline/measure_spread.py` on {time.strftime('%Y-%m-%d')}; "
        f"runs under {out}.",
        "Wall time per study run (2 jobs at a time, then the probe): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + ".",
        "",
        "| comparison | test_rmse factor (max/min per stage) | alpha difference |",
        "|---|---|---|",
    ]
    pairs = [
        ("run to run: seed 0 twice", "seed 0", "seed 0 again"),
        ("seed to seed: 0 vs 1", "seed 0", "seed 1"),
        ("seed to seed: 0 vs 2", "seed 0", "seed 2"),
        ("seed to seed: 1 vs 2", "seed 1", "seed 2"),
    ]
    for label, a, b in pairs:
        rmse = describe(pair_spread(runs[a], runs[b], "test_rmse"), "test_rmse")
        alpha = describe(pair_spread(runs[a], runs[b], "alpha"), "alpha")
        lines.append(f"| {label} | {rmse} | {alpha} |")
    lines += ["", "Per stage, seed to seed (max/min over seeds 0, 1, 2):", ""]
    seeds = [runs[f"seed {s}"] for s in range(3)]
    lines += ["| metric | seed 0 | seed 1 | seed 2 | max/min or range |", "|---|---|---|---|---|"]
    for key in sorted(set.intersection(*(set(r) for r in seeds))):
        if key[0] == "speed_ratio":
            continue
        values = [r[key] for r in seeds]
        spread = (
            f"{max(values) - min(values):.3f}"
            if key[0] == "alpha"
            else f"{max(values) / min(values):.3g}x"
        )
        cells = " | ".join(f"{v:.4g}" for v in values)
        lines.append(f"| {' '.join(map(str, key))} | {cells} | {spread} |")
    probes = defaultdict(list)
    for run in runs.values():
        for key, value in run.items():
            if key[0] == "speed_ratio" and math.isfinite(value):
                probes[key].append(value)
    lines += [
        "",
        f"Speed ratios over {len(next(iter(probes.values()), []))} probes (4 after a study, "
        f"{args.probes} alone):",
        "",
        "| case | values | max/min | max/median |",
        "|---|---|---|---|",
    ]
    for key, values in sorted(probes.items()):
        median = statistics.median(values)
        listed = ", ".join(f"{v:.3g}" for v in values)
        lines.append(
            f"| {key[2]} {key[3]} {key[4]} | {listed} | {max(values) / min(values):.3g} | "
            f"{max(values) / median:.3g} |"
        )
    text = "\n".join(lines) + "\n"
    (HERE / "spread.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
