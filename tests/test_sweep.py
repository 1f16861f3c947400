"""Multirun sweeps: experiments compose, bad sweeps stop before work, failures and kills."""

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import kanbench.train
from kanbench import analysis, cli
from kanbench.config import register_library_tasks
from kanbench.sweep import check_sweep, job_overrides, progress_line

register_library_tasks()
TINY = [
    "model.grid_schedule=[3,5]",
    "model.steps_per_grid=3",
    "model.restarts=1",
    "data.n_train=64",
    "data.n_test=64",
    "progress=false",
]
# jobs per experiment: tasks x model arms x seeds (x depths for the §3.2 / §3.3 protocol)
EXPERIMENT_JOBS = {
    "fig2_3": 2 * 5,
    "fig3_1": 5 * 5 * 3,
    "special": 15 * 3 * 5 * 3,
    "feynman": 33 * 3 * 5 * 3,
    "quick": 2 * 2,
    "ci": 2 * 2,
}


def _experiments():
    folder = Path(str(resources.files("kanbench.conf").joinpath("experiment")))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def test_the_paper_experiments_exist():
    assert set(EXPERIMENT_JOBS) <= set(_experiments())


@pytest.mark.parametrize("name", _experiments())
def test_every_job_of_every_experiment_composes_and_validates(name):
    jobs = check_sweep([f"experiment={name}"])
    assert jobs >= 2
    if EXPERIMENT_JOBS.get(name):
        assert jobs == EXPERIMENT_JOBS[name]


def test_command_line_values_replace_the_experiments_sweep():
    assert check_sweep(["experiment=fig3_1", "seed=0"]) == 25
    jobs = job_overrides({"seed": "0,1,2", "task": "a,b"}, ["seed=7"])
    assert sorted(sorted(job) for job in jobs) == [["seed=7", "task=a"], ["seed=7", "task=b"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seed=0,1", "data.n_train=0"], r"job \[seed=0 data.n_train=0.*\]: data.n_train must be"),
        (["log_every=1,2"], "are the same run"),
        (["seed=0,1", "model.gird=3"], "gird"),
    ],
)
def test_a_bad_sweep_is_refused_in_one_line_before_any_job(args, message, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "from kanbench.cli import train; train()", "-m", *args,
         f"out_dir={tmp_path}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kanbench-train: error:")
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "records").exists()


def test_progress_line_estimates_the_time_left():
    line = progress_line(done=2, total=5, elapsed=60.0, job="1", status="complete")
    assert line == "job 1 (complete): 2/5 done, 1m00s elapsed, about 1m30s left"


def _multirun_in_process(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["kanbench-train", "-m", *args])
    GlobalHydra.instance().clear()
    cli.train()


def test_a_crashing_job_is_recorded_and_the_others_complete(tmp_path, monkeypatch):
    real = kanbench.train.train_staged

    def crash_on_seed_1(config, *args, **kwargs):
        if config.seed == 1:
            raise RuntimeError("injected crash")
        yield from real(config, *args, **kwargs)

    monkeypatch.setattr(kanbench.train, "train_staged", crash_on_seed_1)
    _multirun_in_process(monkeypatch, *TINY, "seed=0,1,2", f"out_dir={tmp_path}")
    runs = [json.loads(p.read_text()) for p in (tmp_path / "records").glob("*.json")]
    by_seed = {r["config"]["seed"]: r for r in runs}
    assert sorted(by_seed) == [0, 1, 2]
    assert by_seed[1]["status"] == "failed" and "injected crash" in by_seed[1]["message"]
    assert by_seed[0]["status"] == by_seed[2]["status"] == "complete"
    (log,) = (tmp_path / "logs").glob("multirun_*/sweep.log")
    lines = log.read_text().splitlines()
    assert [line.split(": ")[1].split(" done")[0] for line in lines] == ["1/3", "2/3", "3/3"]
    assert sum("(failed)" in line for line in lines) == 1


def test_a_killed_sweep_rerun_completes_only_what_is_missing(tmp_path):
    command = [
        sys.executable, "-c", "from kanbench.cli import train; train()", "-m", *TINY,
        "model.grid_schedule=[3,5,10,20]", "model.steps_per_grid=20", "data.n_train=200",
        "seed=0,1,2", f"out_dir={tmp_path}",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = tmp_path / "records"
    deadline = time.monotonic() + 120
    finished = []
    while time.monotonic() < deadline and not finished:
        for path in records.glob("*.json"):
            if json.loads(path.read_text())["status"] == "complete":
                finished.append(path)
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(finished) == 1, "the sweep ended before it could be killed mid-way"
    first_written = finished[0].stat().st_mtime_ns
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    runs = [json.loads(p.read_text()) for p in records.glob("*.json")]
    assert len(runs) == 3 and {r["status"] for r in runs} == {"complete"}
    assert finished[0].stat().st_mtime_ns == first_written  # the finished job was skipped
    frame = analysis.load_records([tmp_path])
    assert len(frame) == 3 * 4
    assert not frame.duplicated(["run_id", "stage"]).any()


def test_a_sweep_killed_at_random_points_again_and_again_ends_whole(tmp_path):
    """Fault injection: kill -9 at three random moments (start-up, training, writing),
    then a rerun: one complete, readable record per job, no temporary file, no duplicate."""
    command = [
        sys.executable, "-c", "from kanbench.cli import train; train()", "-m", *TINY,
        "model.grid_schedule=[3,5,10,20]", "model.steps_per_grid=20", "data.n_train=200",
        "seed=0,1,2", f"out_dir={tmp_path}",
    ]  # fmt: skip
    delays = random.Random(17).sample([x / 10 for x in range(5, 60)], 3)
    for delay in delays:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        for path in (tmp_path / "records").glob("*.json"):
            json.loads(path.read_text())  # readable after every kill
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    records = tmp_path / "records"
    runs = [json.loads(p.read_text()) for p in records.glob("*.json")]
    assert len(runs) == 3 and {r["status"] for r in runs} == {"complete"}
    assert all([s["grid_size"] for s in r["stages"]] == [3, 5, 10, 20] for r in runs)
    assert not list(records.glob(".*.tmp"))
    frame = analysis.load_records([tmp_path])
    assert len(frame) == 3 * 4 and not frame.duplicated(["run_id", "stage"]).any()


def test_a_write_that_fails_half_way_leaves_the_last_record_whole(tmp_path, monkeypatch):
    """Fault injection: the disk fills while a stage's record is being written."""
    from kanbench import store

    config = [*TINY, "model.grid_schedule=[3,5,10]", "seed=0", f"out_dir={tmp_path}"]
    writes = []
    real_dump = json.dump

    def dump_then_fail(content, stream, **kwargs):
        writes.append(len(content["stages"]))
        if len(content["stages"]) == 2:  # the second stage's record: half of it, then ENOSPC
            text = json.dumps(content, **kwargs)
            stream.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_dump(content, stream, **kwargs)

    monkeypatch.setattr(store.json, "dump", dump_then_fail)
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = OmegaConf.to_container(compose("train", overrides=config), resolve=True)
    with pytest.raises(OSError, match="No space left"):
        kanbench.run.run(cfg)
    (path,) = (tmp_path / "records").glob("*.json")
    kept = json.loads(path.read_text())  # whole: the state after the first stage
    assert kept["status"] == "running" and len(kept["stages"]) == 1
    assert not list((tmp_path / "records").glob(".*.tmp"))
    monkeypatch.setattr(store.json, "dump", real_dump)
    again = kanbench.run.run(cfg)  # the disk has room again: the same call redoes the run
    assert again.status == "complete" and len(again.records) == 3
