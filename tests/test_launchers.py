"""Launcher presets (conf/hydra/launcher/): each composes, and local sweeps store every job."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sweeps import assert_complete, missing_plugins, sweep

from kanbench.config import register_library_tasks

if missing_plugins():
    pytest.skip(missing_plugins(), allow_module_level=True)
register_library_tasks()
PRESETS = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("kanbench.conf").joinpath("hydra", "launcher").iterdir()
    if p.name.endswith(".yaml")
)
PLUGINS = {
    "local_parallel": "hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "slurm": "hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    "local_submitit": "hydra_submitit_launcher.submitit_launcher.LocalLauncher",
}


def _launcher(preset, *overrides):
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"hydra/launcher={preset}", *overrides],
            return_hydra_config=True,
        )
        return cfg.hydra.launcher


def test_the_presets_are_the_documented_ones():
    assert PRESETS == sorted(PLUGINS)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_launcher_preset_composes_and_builds_its_launcher(preset):
    launcher = _launcher(preset)
    assert launcher._target_.endswith(PLUGINS[preset])
    built = instantiate(launcher)  # imports the plugin and takes every key; runs nothing
    assert type(built).__name__ == PLUGINS[preset].rsplit(".", 1)[1]


@pytest.mark.parametrize("preset", ["slurm", "local_submitit"])
def test_submitit_presets_reserve_one_core_per_torch_thread(preset):
    assert OmegaConf.to_container(_launcher(preset), resolve=True)["cpus_per_task"] == 1
    launcher = _launcher(preset, "threads=4")
    assert OmegaConf.to_container(launcher, resolve=True)["cpus_per_task"] == 4


def test_slurm_preset_exposes_the_cluster_keys():
    overrides = {
        "partition": "gpu",
        "timeout_min": 30,
        "cpus_per_task": 2,
        "gpus_per_task": 1,
        "mem_gb": 8,
        "array_parallelism": 10,
        "account": "kan",
    }
    launcher = _launcher("slurm", *(f"hydra.launcher.{k}={v}" for k, v in overrides.items()))
    resolved = OmegaConf.to_container(launcher, resolve=True)
    assert {k: resolved[k] for k in overrides} == overrides
    # submitit's pickles and logs go inside the sweep folder, so they are where out_dir is
    assert OmegaConf.to_container(launcher)["submitit_folder"].startswith("${hydra.sweep.dir}/")


def test_a_misspelt_launcher_key_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="partiton"):
        _launcher("slurm", "hydra.launcher.partiton=gpu")


@pytest.mark.slow
def test_a_joblib_sweep_stores_every_job(tmp_path):
    result = sweep(tmp_path, "local_parallel", "seed=0,1,2")
    assert_complete(result, [0, 1, 2])
    assert "Joblib.Parallel(" in result.process.stdout + result.process.stderr


@pytest.mark.slow
def test_a_submitit_local_sweep_stores_every_job(tmp_path):
    result = sweep(tmp_path, "local_submitit", "seed=0,1")
    assert_complete(result, [0, 1])
    results = list((result.sweep_dir / ".submitit").glob("*/*_result.pkl"))
    assert len(results) == 2  # each job went through submitit's pickled round trip


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_joblib_workers_end_when_the_sweep_process_is_killed(tmp_path):
    command = [
        sys.executable,
        "-c",
        "from kanbench.cli import train; train()",
        "-m",
        "hydra/launcher=local_parallel",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "model.grid_schedule=[3,5,10,20,50,100,200]",
        "progress=false",
        "out_dir=runs",
    ]
    parent = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    locks = tmp_path / "runs" / "records"
    deadline = time.monotonic() + 90
    pids = set()
    while time.monotonic() < deadline and len(pids) < 2:
        for lock in locks.glob("*.lock"):
            text = lock.read_text()
            if text.startswith("pid "):
                pids.add(int(text.split()[1]))
        time.sleep(0.2)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert len(pids) == 2, "the two jobs did not start"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:  # clean up before asserting, so that a failure leaves no workers
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert not any(_alive(pid) for pid in pids)
    runs = [json.loads(p.read_text()) for p in locks.glob("*.json")]
    assert runs and all(run["status"] == "running" for run in runs)  # redone by a rerun


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["local_parallel", "local_submitit"])
def test_task_files_reach_the_launchers_workers(preset, tmp_path):
    # each file's task is stored in Hydra's ConfigStore before the sweep starts; the
    # workers (a joblib process, a pickled submitit job) get it with Hydra's other state
    (tmp_path / "decay.yaml").write_text(
        "name: decay\nformula: exp(-x**2) * sin(pi*y)\nvariables: {x: [-1, 1], y: [0, 2]}\n"
    )
    (tmp_path / "ripple.yml").write_text(
        "name: ripple\nformula: sin(3*x) + y\nvariables: {x: [-1, 1], y: [0, 1]}\n"
    )
    result = sweep(tmp_path, preset, "task=decay.yaml,ripple.yml")
    assert result.process.returncode == 0, (result.process.stdout + result.process.stderr)[-3000:]
    assert sorted(run["config"]["task"]["name"] for run in result.runs) == ["decay", "ripple"]
    assert all(run["status"] == "complete" for run in result.runs)
