"""A user's own task on kanbench-train: `--config-dir DIR` with DIR/task/<name>.yaml, and
`task=path/to/file.yaml`, in single runs and sweeps; the record holds the task whole."""

import json
import math
import re
import sys

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from kanbench import analysis, cli
from kanbench.config import register_library_tasks, run_config
from kanbench.tasks import task_from_config

register_library_tasks()
TINY = [
    "model.grid_schedule=[3]",
    "model.steps_per_grid=2",
    "model.restarts=1",
    "data.n_train=32",
    "data.n_test=32",
    "progress=false",
    "out_dir=runs",
]
DECAY = "name: decay\nformula: exp(-x**2) * sin(pi*y)\nvariables: {x: [-1, 1], y: [0, 2]}\n"
# a task whose intrinsic dimension (1) is not its number of inputs (2): a report can only
# know it from the record
RIPPLE = (
    "name: ripple\nformula: sin(3*x) + 0*y\nvariables: {x: [-1, 1], y: [0, pi]}\n"
    "kan_shape: [2, 1]\nintrinsic_dim: 1\n"
)


def _train(monkeypatch, *args):
    """kanbench-train in this process, as its console script runs it."""
    monkeypatch.setattr(sys, "argv", ["kanbench-train", *args])
    GlobalHydra.instance().clear()
    cli.train()


def _records(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("runs/records/*.json"))]


def _compose(overrides):
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        return OmegaConf.to_container(compose("train", overrides=overrides), resolve=True)


def test_a_config_dir_task_and_a_file_anywhere_are_one_run_holding_the_task(tmp_path, monkeypatch):
    defs = tmp_path / "defs"
    (defs / "task").mkdir(parents=True)
    (defs / "task" / "decay.yaml").write_text(DECAY)
    # the same task written otherwise: keys reordered, variables as a list, a comment
    (defs / "copy.yaml").write_text(
        "# decay again\nvariables: [{x: [-1, 1.0]}, {y: [0, 2]}]\nname: decay\n"
        "formula: exp(-x**2) * sin(pi*y)\nkan_shape: null\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _train(monkeypatch, "--config-dir", str(defs), "task=decay", *TINY)
    _train(monkeypatch, "task=../defs/copy.yaml", *TINY)  # relative to the working folder
    _train(monkeypatch, f"task='{defs / 'copy.yaml'}'", *TINY)
    (stored,) = _records(work)  # one run: the same task is the same run, wherever its file
    assert stored["status"] == "complete" and stored["stages"][0]["task"] == "decay"
    task = task_from_config(stored["config"]["task"])
    assert task == task_from_config(yaml.safe_load(DECAY))
    assert stored["config"]["task"] == task.definition()


def test_a_sweep_mixes_files_config_dir_tasks_and_library_names_and_reports_without_them(
    tmp_path, monkeypatch
):
    (tmp_path / "mine" / "task").mkdir(parents=True)
    (tmp_path / "mine" / "task" / "decay.yaml").write_text(DECAY)
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "ripple.yml").write_text(RIPPLE)
    monkeypatch.chdir(tmp_path)
    tasks = "task=defs/ripple.yml,decay,exp_sin_y2"
    _train(monkeypatch, "-m", "--config-dir", "mine", tasks, *TINY)
    runs = {run["stages"][0]["task"]: run for run in _records(tmp_path)}
    assert sorted(runs) == ["decay", "exp_sin_y2", "ripple"]
    assert all(run["status"] == "complete" for run in runs.values())
    assert runs["exp_sin_y2"]["config"]["task"] == {"name": "exp_sin_y2"}
    assert runs["ripple"]["stages"][0]["shape"] == [2, 1]  # the file's kan_shape
    # the report reads each task from its record: the files are gone
    for path in (tmp_path / "mine" / "task" / "decay.yaml", tmp_path / "defs" / "ripple.yml"):
        path.unlink()
    theory = analysis.theory_table(analysis.load_records(tmp_path / "runs"))
    assert theory.set_index("task")["d"].to_dict() == {"decay": 2, "exp_sin_y2": 2, "ripple": 1}


def test_a_library_tasks_config_is_left_as_composed_so_its_run_id_is_unchanged(tmp_path):
    composed = _compose(["task=bessel_j0_20x", f"out_dir={tmp_path}"])
    config = run_config(composed)
    assert config.resolved["task"] == {"name": "bessel_j0_20x"}
    assert config.resolved == json.loads(json.dumps(composed))


def test_a_user_tasks_run_id_follows_its_content_not_how_it_is_written(tmp_path):
    base = _compose(["task=my_formula_example", f"out_dir={tmp_path}"])

    def run_id(task):
        return run_config({**base, "task": task}).run_id

    written = {"name": "t", "formula": "x*sin(y)", "variables": {"x": [0, 1], "y": [0, "pi"]}}
    rewritten = {
        "formula": "x*sin(y)",
        "variables": [{"x": [0.0, 1]}, {"y": [0, math.pi]}],
        "name": "t",
        "kan_shape": None,
        "intrinsic_dim": 2,
    }
    swapped = {**written, "variables": {"y": [0, "pi"], "x": [0, 1]}}  # other data
    assert run_id(written) == run_id(rewritten) != run_id(swapped)


def _inputs(folder):
    (folder / "task").mkdir(parents=True)
    files = {
        "decay.yaml": DECAY,
        "decay2.yaml": DECAY.replace("[0, 2]", "[0, 3]"),
        "list.yaml": "- name\n- formula\n",
        "typo.yaml": DECAY + "formla: x\n",
        "task/typo.yaml": DECAY + "formla: x\n",
        "formula.yaml": DECAY.replace("sin(pi*y)", "sin(pi*y"),
        "range.yaml": DECAY.replace("[0, 2]", "[2, 0]"),
        "task/range.yaml": DECAY.replace("[0, 2]", "[2, 0]"),
        "broken.yaml": "name: [decay\nformula: x\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task=missing.yaml"], "task file 'missing.yaml' not found in "),
        (["task=list.yaml"], "task file 'list.yaml' must hold a mapping .*, got a list"),
        (["task=typo.yaml"], r"task file 'typo.yaml': task 'decay': unknown keys \['formla'\]"),
        (["task=formula.yaml"], "task file 'formula.yaml': task 'decay': formula .* syntax"),
        (["task=range.yaml"], "range of 'y' must have lo < hi, got \\[2, 0\\]"),
        (["task=broken.yaml"], "task file 'broken.yaml' is not valid YAML: .* \\(line 2"),
        (["--config-dir", ".", "task=typo"], r"task 'decay': unknown keys \['formla'\]"),
        (["--config-dir", ".", "task=ypo"], "unknown task 'ypo'; valid: .*, typo, "),
        (["--config-dir", "nowhere", "task=typo"], "--config-dir 'nowhere' is not a folder"),
        (["-m", "task=exp_sin_y2,range.yaml"], "task file 'range.yaml': .* lo < hi"),
        (["-m", "--config-dir", ".", "task=exp_sin_y2,range"], r"job \[task=range .* lo < hi"),
        (["-m", "--config-dir", ".", "task=exp_sin_y2,ypo"], "unknown task 'ypo'; valid: .*typo"),
        (["-m", "task=decay.yaml,decay2.yaml"], "define task 'decay' differently"),
    ],
)
def test_a_bad_task_file_is_one_line_exit_2_and_nothing_written(
    args, message, tmp_path, monkeypatch, capsys
):
    _inputs(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        _train(monkeypatch, *args, *TINY)
    assert exit.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kanbench-train: error: "), lines
    assert re.search(message, lines[0]), lines[0]
    assert sorted(tmp_path.rglob("*")) == before
