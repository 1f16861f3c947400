"""Training cost in the stage records (kanbench.cost) and in the loaded frame
(kanbench.analysis.costs): recorded by a run, derived for records made before the fields."""

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from synthetic_runs import law, write_run

from kanbench import analysis as an
from kanbench.config import register_library_tasks
from kanbench.cost import COST_FIELDS, FLOPS_CONVENTION
from kanbench.flops import kan_count, mlp_count, train_flops
from kanbench.run import run

register_library_tasks()
DATA = ["data.n_train=64", "data.n_test=64", "progress=false"]


def _run(tmp_path, *overrides):
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*DATA, f"out_dir={tmp_path}", *overrides])
    return run(OmegaConf.to_container(cfg, resolve=True))


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A [2,1,1] KAN through G = 3, 5, 10 whose first stage is the best of 3 starts."""
    folder = tmp_path_factory.mktemp("staged")
    overrides = ["model.grid_schedule=[3,5,10]", "model.steps_per_grid=3", "model.restarts=3"]
    return folder, _run(folder, *overrides, "model.restart_steps=2")


def test_a_staged_run_records_its_cost_per_stage_and_cumulatively(staged):
    _, result = staged
    records = result.records
    for record in records:
        assert set(COST_FIELDS) <= set(record)
        forward = kan_count([2, 1, 1], record["grid_size"], 3).total
        assert record["flops_forward_per_sample"] == forward
        assert record["flops_backward_per_sample"] == 2 * forward
        assert record["flops_convention"] == FLOPS_CONVENTION
        assert record["samples_per_evaluation"] == 64
        assert record["train_flops"] == train_flops(forward, 64, record["train_evaluations"])
    # the first stage's evaluations are the chosen start's; the other probes' are added
    first = records[0]
    probes = first["restart_probe_evaluations"]
    assert len(probes) == 3 and all(p > 0 for p in probes)
    left_behind = sum(p for r, p in enumerate(probes) if r != first["chosen_restart"])
    assert first["train_evaluations"] == first["evaluations"] + left_behind
    assert all(r["train_evaluations"] == r["evaluations"] for r in records[1:])
    # grid extension builds on the stages before: cumulative = running sums, non-decreasing
    flops = np.array([r["train_flops"] for r in records])
    seconds = np.array([r["wall_s"] for r in records])
    cum_flops = np.array([r["cum_train_flops"] for r in records])
    cum_seconds = np.array([r["cum_wall_s"] for r in records])
    assert cum_flops == pytest.approx(np.cumsum(flops), rel=1e-12)
    assert cum_seconds == pytest.approx(np.cumsum(seconds), rel=1e-12)
    assert np.all(np.diff(cum_flops) > 0) and np.all(np.diff(cum_seconds) >= 0)


def test_each_mlp_size_is_trained_from_scratch_so_its_cost_is_its_own(tmp_path):
    overrides = ["model=mlp", "model.target_params=[20,60]", "model.steps=3", "model.restarts=1"]
    records = _run(tmp_path, *overrides).records
    assert len(records) == 2
    for record in records:
        forward = mlp_count(2, 3, record["width"], 1).total  # exp_sin_y2: 2 inputs, depth 3
        assert record["flops_forward_per_sample"] == forward
        assert record["train_evaluations"] == record["evaluations"]
        assert record["cum_train_flops"] == record["train_flops"]
        assert record["cum_wall_s"] == record["wall_s"]


def test_a_record_made_now_loads_with_its_recorded_cost(staged):
    folder, result = staged
    stages = an.load_records(folder).sort_values("stage")
    assert not stages["cost_derived"].any()
    for column in ("train_flops", "cum_train_flops", "cum_wall_s", "train_evaluations"):
        recorded = [r[column] for r in result.records]
        assert stages[column].tolist() == pytest.approx(recorded, rel=1e-12)


def test_records_from_before_the_cost_fields_get_it_derived_from_their_evaluations(tmp_path):
    kan = write_run(tmp_path, "kan", lambda n: law(n, 2.0), grids=(3, 5, 10), steps=4)
    write_run(tmp_path, "mlp", lambda n: law(n, 1.0), grids=(3, 5, 10), steps=4, depth=2)
    stored = json.loads(kan.read_text())  # a first stage with 3 starts of 2 probe steps
    stored["stages"][0].update(restarts=3, restart_probe_steps=2, chosen_restart=1)
    kan.write_text(json.dumps(stored))
    assert not set(COST_FIELDS) & set(stored["stages"][0])  # synthetic records predate them
    stages = an.load_records(tmp_path)
    assert stages["cost_derived"].all()
    assert (stages["flops_convention"] == FLOPS_CONVENTION).all()

    kans = stages[stages["family"] == "kan"].sort_values("stage")
    evaluations = kans["evaluations"].to_numpy(dtype=float)  # 12 per step, 4 steps
    probes = np.array([2 * 2 * 48 / 4, 0, 0])  # (restarts - 1) x probe steps x evaluations/step
    assert kans["train_evaluations"].tolist() == pytest.approx(evaluations + probes)
    forward = [kan_count([2, 1, 1], g, 3).total for g in (3, 5, 10)]
    own = [train_flops(f, 1000, e) for f, e in zip(forward, evaluations + probes, strict=True)]
    assert kans["flops_forward_per_sample"].tolist() == forward
    assert kans["train_flops"].tolist() == pytest.approx(own, rel=1e-12)
    assert kans["cum_train_flops"].tolist() == pytest.approx(np.cumsum(own), rel=1e-12)
    assert kans["cum_wall_s"].tolist() == pytest.approx(np.cumsum(kans["wall_s"]), rel=1e-12)

    mlps = stages[stages["family"] == "mlp"]
    widths = mlps["width"].astype(int)
    assert mlps["flops_forward_per_sample"].tolist() == [mlp_count(2, 2, w).total for w in widths]
    assert mlps["cum_train_flops"].tolist() == mlps["train_flops"].tolist()
    assert mlps["cum_wall_s"].tolist() == mlps["wall_s"].tolist()


def test_a_cost_that_cannot_be_derived_is_nan_and_not_marked(tmp_path):
    path = write_run(tmp_path, "kan", lambda n: law(n, 2.0), grids=(3, 5))
    stored = json.loads(path.read_text())
    for stage in stored["stages"]:
        del stage["evaluations"], stage["wall_s"]
    path.write_text(json.dumps(stored))
    stages = an.load_records(tmp_path)
    assert stages["train_flops"].isna().all() and stages["cum_wall_s"].isna().all()
    assert not stages["cost_derived"].any()
    assert stages["flops_forward_per_sample"].notna().all()  # the model is still known
