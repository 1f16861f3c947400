"""The cluster path against a real SLURM: a sweep through hydra/launcher=slurm.

Skipped when no SLURM answers here (sinfo missing, failing or showing no usable node, or
the launchers extra not installed), unless KANBENCH_REQUIRE_SLURM=1, which turns a
missing SLURM into a failure (as CI does after `.ci/slurm.sh start`). The sweep folder is
the test's tmp_path, so it must be a path every node sees: true on a single-node SLURM; on
a cluster, pass pytest a --basetemp on shared storage.
"""

import os
import shutil
import subprocess

import pytest
from sweeps import assert_complete, missing_plugins, sweep

USABLE = ("idle", "mixed", "allocated", "completing")


def slurm_problem() -> str | None:
    """Why no SLURM can take jobs here, or None when one can."""
    if missing_plugins():
        return missing_plugins()
    if shutil.which("sinfo") is None:
        return "sinfo is not on PATH"
    try:
        done = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if done.returncode != 0:
        return f"sinfo failed: {done.stderr.strip() or done.returncode}"
    states = done.stdout.split()
    if not any(state in USABLE for state in states):  # a trailing * marks a silent node
        return f"no node can take jobs (states: {states})"
    return None


@pytest.fixture
def slurm():
    problem = slurm_problem()
    if problem is not None:
        if os.environ.get("KANBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"KANBENCH_REQUIRE_SLURM=1 but the SLURM test cannot run: {problem}")
        pytest.skip(f"the SLURM test cannot run: {problem}")


@pytest.mark.slurm
@pytest.mark.slow
def test_a_slurm_sweep_runs_as_a_job_array_and_stores_every_job(slurm, tmp_path):
    limits = ["hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"]
    result = sweep(tmp_path, "slurm", "seed=0,1,2", *limits, timeout=300)
    assert_complete(result, [0, 1, 2])
    scripts = list((result.sweep_dir / ".submitit").glob("*/*_submission.sh"))
    assert len(scripts) == 1  # one sbatch script: the sweep went in as one job array
    script = scripts[0].read_text()
    for option in ("--array=0-2%3", "--cpus-per-task=1", "--mem=1GB", "--time=10"):
        assert f"#SBATCH {option}" in script
    assert len(list((result.sweep_dir / ".submitit").glob("*_*/*_result.pkl"))) == 3
