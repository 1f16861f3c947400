"""Run a tiny kanbench-train multirun through a launcher preset and read what it stored.

sweep() starts `kanbench-train -m hydra/launcher=<preset> ...` in a subprocess whose working
folder is a test's tmp_path, with a relative out_dir, as a user in a shared project folder
would; the jobs must then write their records and logs under that same folder.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# the smallest sweep that still crosses a grid extension: [2,1,1] KAN, grids 3 then 5
TINY = [
    "task=exp_sin_y2",
    "model.grid_schedule=[3,5]",
    "model.steps_per_grid=3",
    "data.n_train=64",
    "data.n_test=64",
    "progress=false",
    "out_dir=runs",
]


PLUGINS = ("hydra_plugins.hydra_joblib_launcher", "hydra_plugins.hydra_submitit_launcher")


def missing_plugins() -> str | None:
    """Why the launcher presets cannot work here, or None when their plugins are installed."""
    for plugin in PLUGINS:
        try:
            found = importlib.util.find_spec(plugin) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{plugin} is not installed (pip install -e '.[launchers]')"
    return None


@dataclass(frozen=True)
class Sweep:
    """What a finished multirun left: its output, its records and its sweep folder."""

    process: subprocess.CompletedProcess
    runs: list[dict]
    sweep_dir: Path | None


def sweep(folder: Path, preset: str, *overrides: str, timeout: float = 300) -> Sweep:
    """Run the multirun from folder; return its process, run files and sweep folder."""
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from kanbench.cli import train; train()",
            "-m",
            f"hydra/launcher={preset}",
            *TINY,
            *overrides,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    records = sorted((folder / "runs" / "records").glob("*.json"))
    sweeps = sorted((folder / "runs" / "logs").glob("multirun_*"))
    return Sweep(
        process=process,
        runs=[json.loads(path.read_text()) for path in records],
        sweep_dir=sweeps[-1] if sweeps else None,
    )


def assert_complete(result: Sweep, seeds: list[int]) -> None:
    """One complete run file per seed, each with the tiny schedule's two stages."""
    output = result.process.stdout + result.process.stderr
    assert result.process.returncode == 0, output[-3000:]
    assert sorted(run["config"]["seed"] for run in result.runs) == seeds, output[-3000:]
    for run in result.runs:
        assert run["status"] == "complete"
        assert [stage["grid_size"] for stage in run["stages"]] == [3, 5]
        assert all(stage["status"] == "complete" for stage in run["stages"])
        assert all(stage["threads"] == 1 for stage in run["stages"])
    # each job's Hydra folder (its resolved config and log) sits in the one sweep folder
    assert result.sweep_dir is not None
    for job in range(len(seeds)):
        assert (result.sweep_dir / str(job) / ".hydra" / "config.yaml").is_file()
