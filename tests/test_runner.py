"""kanbench-train: configs compose, runs record, resume, divergence and bad input."""

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
from omegaconf import OmegaConf

from kanbench import store
from kanbench.config import register_library_tasks, run_config
from kanbench.run import run
from kanbench.tasks import list_tasks

register_library_tasks()
DATA = ["data.n_train=64", "data.n_test=64", "progress=false"]
TINY = ["model.grid_schedule=[3,5]", "model.steps_per_grid=3", *DATA]


def _compose(overrides):
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        return OmegaConf.to_container(compose("train", overrides=overrides), resolve=True)


def _options(group):
    folder = Path(str(resources.files("kanbench.conf").joinpath(group)))
    return sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml"))


@pytest.mark.parametrize("group", ["model", "optim", "logger", "task"])
def test_every_config_file_composes_and_validates(group):
    options = _options(group)
    assert options
    for option in options:
        overrides = [f"{group}={option}"]
        if option.startswith("frontier/"):  # these arms take their depth from the sweep
            overrides.append("model.depth=3")
        run_config(_compose(overrides))


def test_every_library_task_composes_with_a_valid_kan_shape():
    for task in list_tasks():
        config = run_config(_compose([f"task={task.name}"]))
        assert config.model.shape[0] == task.input_dim and config.model.shape[-1] == 1


def test_unknown_keys_fail_at_composition_and_in_files():
    with pytest.raises(Exception, match="gird_eps"):
        _compose(["model.gird_eps=0.5"])
    cfg = _compose([])
    cfg["model"]["gird_eps"] = 0.5  # as a misspelt key in a config file would arrive
    with pytest.raises(ValueError, match="unknown key.*gird_eps"):
        run_config(cfg)


def _run_tiny(tmp_path, *overrides, base=TINY):
    return run(_compose([*base, f"out_dir={tmp_path}", *overrides]))


def test_kan_run_writes_one_record_per_stage(tmp_path):
    result = _run_tiny(tmp_path)
    stored = json.loads(result.path.read_text())
    assert stored["status"] == "complete" and stored["schema"] == 1
    assert [r["grid_size"] for r in stored["stages"]] == [3, 5]
    for record in stored["stages"]:
        assert record["family"] == "kan" and record["task"] == "exp_sin_y2"
        assert record["n_params"] == 3 * (record["grid_size"] + 5)  # [2,1,1]: 3 edges
        assert record["n_params_paper"] == 3 * record["grid_size"]
        assert 0 < record["train_rmse"] < 10 and 0 < record["test_median_rmse"]
        assert record["steps"] == 3 and record["iterations"] >= 3
        assert record["run_id"] == stored["run_id"] and record["status"] == "complete"
        for key in (
            "torch_version",
            "kanbench_version",
            "git_commit",
            "started_at",
            "wall_s",
            "peak_rss_mb",
            "dtype",
            "threads",
            "seed",
        ):
            assert key in record
    assert len(stored["history"]) == 6  # a point per step and stage


def test_mlp_ladder_is_matched_to_the_kan_counts(tmp_path):
    result = _run_tiny(tmp_path, "model=mlp", "model.kan_grids=[3,20]", "model.steps=2", base=DATA)
    targets = [3 * (3 + 5), 3 * (20 + 5)]
    assert [r["target_params"] for r in result.records] == targets
    for record, target in zip(result.records, targets, strict=True):
        assert abs(record["n_params"] - target) <= 0.25 * target
        assert record["family"] == "mlp" and record["depth"] == 3


def test_rerun_skips_a_finished_run(tmp_path):
    first = _run_tiny(tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = _run_tiny(tmp_path)
    assert again.skipped and again.path == first.path
    assert first.path.stat().st_mtime_ns == stamp


def test_a_divergent_run_is_recorded_not_raised(tmp_path):
    result = _run_tiny(tmp_path, "optim=adam", "optim.lr=1e300")
    assert result.status == "diverged"
    stored = json.loads(result.path.read_text())
    assert stored["status"] == "diverged" and stored["stages"][-1]["status"] == "diverged"
    assert "loss" in stored["stages"][-1]["message"]


def _cli(*args, tmp_path, timeout=60):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from kanbench.cli import train; train()",
            *args,
            f"out_dir={tmp_path}",
            "progress=false",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_tiny_run_through_hydra_writes_records(tmp_path):
    done = _cli(*TINY, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    files = list((tmp_path / "records").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["status"] == "complete"


def test_a_killed_run_is_redone_cleanly(tmp_path):
    args = [
        "model.grid_schedule=[3,5,10,20,50,100]",
        "model.steps_per_grid=40",
        "data.n_train=200",
        f"out_dir={tmp_path}",
        "progress=false",
    ]
    process = subprocess.Popen(
        [sys.executable, "-c", "from kanbench.cli import train; train()", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    record = None
    while time.monotonic() < deadline and record is None:
        for path in (tmp_path / "records").glob("*.json"):
            if json.loads(path.read_text())["stages"]:
                record = path
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert record is not None
    interrupted = json.loads(record.read_text())
    assert interrupted["status"] == "running" and len(interrupted["stages"]) < 6
    result = run(_compose(args))
    assert not result.skipped and result.status == "complete"
    stored = json.loads(record.read_text())
    assert [r["grid_size"] for r in stored["stages"]] == [3, 5, 10, 20, 50, 100]
    assert not list((tmp_path / "records").glob(".*.tmp"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.grid_schedule=[3,10,5]"], "strictly increasing"),
        (["model.shape=[3,1,1]"], "must start with the task's 2 inputs"),
        (["model.shape=[2,1,2]"], "end with 1 output"),
        (["data.n_train=-5"], "data.n_train"),
        (["dtype=float16"], "dtype"),
        (["model=mlp", "model.width=-3"], "model.width"),
        (["task.name=no_such_task"], "valid names"),
    ],
)
def test_bad_config_is_refused_before_anything_is_written(overrides, message, tmp_path):
    base = DATA if "model=mlp" in overrides else TINY
    with pytest.raises(ValueError, match=message):
        run(_compose([*base, f"out_dir={tmp_path}", *overrides]))
    assert not any(tmp_path.iterdir())


def test_cuda_without_a_gpu_is_refused(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="cuda"):
        run(_compose([*TINY, f"out_dir={tmp_path}", "device=cuda"]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task=no_such_task"], "unknown task 'no_such_task'; valid: "),
        (["model=transformer"], "unknown model 'transformer'; valid: "),
        (["model.grid_schedule=[5,3]"], "strictly increasing"),
        (["model.stps_per_grid=3"], "did you mean model.steps_per_grid?"),
        (["seeed=3"], "did you mean seed?"),
        (["optim.history_size=0"], "optim.history_size must be an integer >= 1"),
        (["optim.max_iter=0"], "optim.max_iter must be an integer >= 1"),
        (["optim.tolerance_change=-1"], "optim.tolerance_change must be a number >= 0"),
        (["optim=adam", "optim.betas=[0.9,1.5]"], "optim.betas must be a number in [0, 1)"),
        (["optim=adam", "optim.weight_decay=-1"], "optim.weight_decay must be a number >= 0"),
        (["data.noise=abc"], "data.noise must be a number, got 'abc'"),
        (["model.hidden_grid_margin=abc"], "model.hidden_grid_margin must be a number, got 'abc'"),
        (["model.grid_range=1"], "model.grid_range must be a list of 2 numbers, got 1"),
        (["model.grid_schedule=5"], "model.grid_schedule must be a list of integers, got 5"),
        (["model.noise_scale=-1"], "model.noise_scale must be a number >= 0"),
        (["logger=wandb", "logger.mode=bogus"], "logger.mode must be one of"),
        (["logger=wandb", "logger.tags=5"], "logger.tags must be a list of strings, got 5"),
    ],
)
def test_cli_bad_input_is_one_line_and_a_nonzero_exit(args, message, tmp_path):
    done = _cli(*args, tmp_path=tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and message in errors[0]
    assert not any(tmp_path.iterdir())  # not even Hydra's output folder


def test_restarts_keep_the_start_with_the_lowest_training_rmse(tmp_path):
    result = _run_tiny(tmp_path, "model.restarts=3", "model.restart_steps=2")
    first = result.records[0]
    assert first["restarts"] == 3 and len(first["restart_train_rmse"]) == 3
    assert first["restart_train_rmse"][first["chosen_restart"]] == min(first["restart_train_rmse"])
    assert first["steps"] == 3  # the probe's 2 steps and 1 more
    single = _run_tiny(tmp_path, "model.restarts=1")
    assert "restarts" not in single.records[0]


def test_wandb_is_not_imported_when_disabled(tmp_path):
    code = (
        "import sys\nfrom kanbench.cli import train\n"
        "try:\n    train()\nfinally:\n    print('WANDB' if 'wandb' in sys.modules else 'CLEAN')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *TINY, f"out_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("CLEAN")


def test_wandb_logger_gets_steps_and_stages(tmp_path, monkeypatch):
    """A stand-in wandb module records what the run sends (the real one is optional)."""
    import types

    calls = {"init": [], "log": [], "finish": 0}

    class FakeRun:
        def log(self, values):
            calls["log"].append(values)

        def finish(self):
            calls["finish"] += 1

    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: calls["init"].append(kwargs) or FakeRun()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    _run_tiny(tmp_path, "logger=wandb")
    (settings,) = calls["init"]
    assert settings["mode"] == "offline" and settings["project"] == "kanbench"
    steps = [v for v in calls["log"] if "train_rmse" in v]
    stages = [v for v in calls["log"] if "stage/test_rmse" in v]
    assert len(steps) >= 6 and len(stages) == 2 and calls["finish"] == 1


def test_a_wider_kan_trains_through_grid_extension(tmp_path):
    result = _run_tiny(tmp_path, "model.shape=[2,4,1]", "model.restarts=1")
    assert result.status == "complete" and len(result.records) == 2
    assert result.records[1]["n_params"] == 12 * (5 + 5)


def test_mlp_targets_that_round_to_one_width_train_it_once(tmp_path):
    # J0(20x)'s [1,1] KAN counts 8, 10 and 15 at G = 3, 5, 10: depth-3 widths 1, 2 and 2
    result = run(
        _compose(
            [
                "model=mlp",
                "task=bessel_j0_20x",
                "model.kan_grids=[3,5,10]",
                "model.steps=2",
                "model.restarts=1",
                *DATA,
                f"out_dir={tmp_path}",
            ]
        )
    )
    widths = [r["width"] for r in result.records]
    assert widths == sorted(set(widths)) and len(widths) == 2
    assert [r["target_params"] for r in result.records] == [8, 10]


def test_a_second_process_for_a_held_run_stops_with_one_line(tmp_path):
    first = _run_tiny(tmp_path)
    finished = first.path.read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from kanbench import store\n"
            "with store.run_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(first.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        done = _cli(*TINY, tmp_path=tmp_path)
        with pytest.raises(store.RunLocked, match=f"pid {holder.pid} "):
            run(_compose([*TINY, f"out_dir={tmp_path}"]))
    finally:
        holder.kill()
        holder.wait()
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 3 and len(errors) == 1
    assert f"pid {holder.pid} " in errors[0] and "not started" in errors[0]
    assert first.path.read_bytes() == finished
    assert _run_tiny(tmp_path).skipped  # the holder's death released the lock


def test_two_identical_commands_at_once_train_once(tmp_path):
    args = ["model.grid_schedule=[3,5,10,20,50]", "model.steps_per_grid=40", "data.n_train=200"]
    command = [sys.executable, "-c", "from kanbench.cli import train; train()", *args]
    command += [f"out_dir={tmp_path}", "progress=false"]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=120), p.stdout.read() + p.stderr.read()) for p in processes]
    trained = [out for code, out in outcomes if code == 0 and " complete: " in out]
    # the other found the lock held (exit 3) or, if it came after the first had finished,
    # skipped the complete run
    others = [out for code, out in outcomes if code == 3 or "skipped" in out]
    assert len(trained) == 1 and len(others) == 1, outcomes
    records = list((tmp_path / "records").glob("*.json"))
    assert len(records) == 1
    stored = json.loads(records[0].read_text())
    assert stored["status"] == "complete" and len(stored["stages"]) == 5


def test_records_are_readable_by_all(tmp_path):
    result = _run_tiny(tmp_path)
    assert result.path.stat().st_mode & 0o777 == store.FILE_MODE


@pytest.mark.parametrize(
    ("layout", "out", "message"),
    [
        ({"afile": "file"}, "afile", "'{d}/afile' is a file, not a folder"),
        ({"afile": "file"}, "afile/sub", "'{d}/afile' is a file, not a folder"),
        ({"run": "dir", "run/records": "file"}, "run", "'{d}/run/records' is a file"),
        ({"run": "dir", "run/logs": "file"}, "run", "'{d}/run/logs' is a file"),
    ],
)
def test_an_unusable_output_folder_is_one_line_before_anything_is_written(
    layout, out, message, tmp_path
):
    for name, kind in layout.items():
        (tmp_path / name).mkdir() if kind == "dir" else (tmp_path / name).write_text("x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = _cli(*TINY, tmp_path=tmp_path / out)
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert message.format(d=tmp_path) in errors[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_output_folder_is_one_line(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    done = _cli(*TINY, tmp_path=tmp_path / "locked" / "runs")
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(errors) == 1
    assert "is not writable" in errors[0]


def test_a_failing_write_is_one_line_and_the_last_record_stays_whole(tmp_path):
    first = _run_tiny(tmp_path)
    finished = first.path.read_bytes()
    script = (
        "import errno, os, sys\n"
        "from kanbench import store\n"
        "def full(*args, **kwargs):\n"
        "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), args[0].name)\n"
        "store.write_run = full\n"
        "from kanbench.cli import train; train()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *TINY, "seed=1", f"out_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert "cannot write" in errors[0] and "No space left on device" in errors[0]
    assert first.path.read_bytes() == finished


def test_a_finished_run_of_other_code_is_reported_and_kept_or_redone(tmp_path, caplog):
    first = _run_tiny(tmp_path)
    stored = json.loads(first.path.read_text())
    stored["provenance"]["git_commit"] = "0" * 40
    first.path.write_text(json.dumps(stored))
    if store.git_commit() is None:
        pytest.skip("not in a git checkout: no commit to compare with")
    with caplog.at_level("WARNING", logger="kanbench.run"):
        kept = _run_tiny(tmp_path)
    assert kept.skipped and f"made by commit {'0' * 40}" in caplog.text and "kept" in caplog.text
    redone = _run_tiny(tmp_path, "other_code=redo")
    assert not redone.skipped and redone.path == first.path  # same run id
    assert json.loads(first.path.read_text())["provenance"]["git_commit"] == store.git_commit()
    with pytest.raises(ValueError, match="other_code must be one of"):
        _run_tiny(tmp_path, "other_code=maybe")
