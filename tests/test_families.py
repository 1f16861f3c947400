"""The family registry: every entry builds models whose size its count formula gives,
grows them without changing their function, has a conf/model file, and trains through
kanbench-train's runner; a new family is covered here by its entry alone."""

from pathlib import Path

import pytest
import torch
import yaml

from kanbench.families import FAMILIES, family, matchable_families, staged_families
from kanbench.models import count_trainable

CONF_MODEL = Path(__file__).resolve().parents[1] / "conf" / "model"
STAGED = staged_families()
COMMON = {"grid_range": (-1.0, 1.0), "bias": False, "dtype": torch.float64, "device": "cpu"}


def _model(name, shape, size):
    entry = family(name)
    torch.manual_seed(0)
    return entry.build(entry.schema(), shape, size, COMMON)


@pytest.mark.parametrize("name", STAGED)
@pytest.mark.parametrize("shape", [[2, 1], [3, 4, 1], [2, 3, 2, 1]])
def test_count_formula_is_the_built_models_trainable_count(name, shape):
    entry = family(name)
    for size in (entry.min_size, entry.min_size + 3, 17):
        model = _model(name, shape, size)
        assert count_trainable(model) == entry.count(entry.schema(), shape, size)
        assert model.size == size


@pytest.mark.parametrize("name", STAGED)
def test_growing_keeps_the_function_on_the_samples(name):
    entry = family(name)
    size = entry.min_size + 2
    model = _model(name, [2, 3, 1], size)
    x = torch.rand(200, 2, dtype=torch.float64) * 2 - 1
    model.update_grid(x, refit=False)
    before = model(x)
    model.refine(2 * size)  # nested, where the family's basis nests
    assert model.size == 2 * size
    if entry.grows_exactly:
        assert torch.allclose(model(x), before, rtol=1e-7, atol=1e-9)
    else:  # refitted by least squares: close, not equal
        assert (model(x) - before).norm() < 0.2 * before.norm()


@pytest.mark.parametrize("name", STAGED)
def test_nearest_size_is_nearest(name):
    entry = family(name)
    shape = [3, 5, 1]
    for target in (50, 400, 2000):
        chosen = entry.nearest_size(shape, target)
        gaps = {
            size: abs(entry.count(entry.schema(), shape, size) - target)
            for size in range(entry.min_size, chosen + 30)
        }
        assert gaps[chosen] == min(gaps.values())


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_has_its_conf_model_file(name):
    config = yaml.safe_load((CONF_MODEL / f"{name}.yaml").read_text())
    assert config["family"] == name
    assert family(name).label and family(name).colour.startswith("C")


def test_unknown_family_is_one_line():
    with pytest.raises(ValueError, match="model family must be one of .*'kan'.*got 'kann'"):
        family("kann")


def test_matchable_families_are_staged_and_counted():
    for name in matchable_families():
        assert family(name).staged and family(name).count is not None


@pytest.mark.parametrize("name", STAGED)
def test_each_staged_family_trains_through_the_runner(name, tmp_path):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from kanbench.config import register_library_tasks
    from kanbench.run import run

    entry = family(name)
    sizes = f"[{entry.min_size + 1},{entry.min_size + 3}]"
    register_library_tasks()
    with initialize_config_module("kanbench.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"model={name}",
                "task=exp_sin_y2",
                "model.shape=[2,1,1]",
                f"model.grid_schedule={sizes}",
                "model.steps_per_grid=3",
                "model.restarts=1",
                "data.n_train=64",
                "data.n_test=64",
                f"out_dir={tmp_path}",
            ],
        )
    result = run(OmegaConf.to_container(cfg, resolve=True))
    assert result.status == "complete"
    staged = [r for r in result.records if r.get("stage_name", "train") == "train"]
    assert [r["grid_size"] for r in staged] == [entry.min_size + 1, entry.min_size + 3]
    assert all(r["family"] == name for r in result.records)
    assert all(r["n_params_paper"] > 0 for r in staged)


def test_reported_families_and_bench_forms_have_colours_of_their_own():
    from kanbench.plots.bench import bench_styles

    reported = [f.colour for f in FAMILIES.values() if f.reported]
    assert len(set(reported)) == len(reported)
    drawn = [style["color"] for style in bench_styles().values()]
    assert len(set(drawn)) == len(drawn)
