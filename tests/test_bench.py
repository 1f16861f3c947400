"""kanbench-bench: presets compose, well-formed records, the report, CUDA and pykan paths,
the registry's families, the Hydra command (--cfg job, -m) and bad input.

No timing is asserted (the machine is shared and noisy); only that numbers are there and
consistent with each other.
"""

import dataclasses
import json
import math
import re
import sys
from importlib import resources
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from kanbench import analysis, bench, families, memory, plots, report, store
from kanbench.flops import kan_flops
from kanbench.models import count_trainable, kan_size
from kanbench.sweep import config_module

FAST = ["bench.min_time=0.01", "bench.rounds=2"]
TINY = ["bench=custom", "bench.custom.shapes=[[3,4,1]]", "bench.custom.batch=16", *FAST]


def _presets():
    folder = Path(str(resources.files("kanbench.conf").joinpath("bench")))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _config(tmp_path, *overrides):
    """The composed kanbench-bench config (as its Hydra job gets it), out_dir in tmp_path."""
    with config_module():
        cfg = compose("bench", overrides=[*overrides, f"out_dir={tmp_path}"])
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("preset", _presets())
def test_every_preset_composes_into_valid_cases(preset, tmp_path):
    cases = bench.bench_cases(_config(tmp_path, f"bench={preset}"))
    assert len({c.bench_id for c in cases}) == len(cases)
    for case in cases:
        assert bench.check_case(case) is case and "mlp" in case.families
    if preset in ("quick", "full"):
        assert {c.ladder for c in cases} == {"n", "grid", "batch"}


def test_full_preset_spans_the_ladders_the_study_needs(tmp_path):
    cases = bench.bench_cases(_config(tmp_path, "bench=full"))
    n = [kan_size(c.widths, c.grid_size, c.spline_order) for c in cases if c.ladder == "n"]
    assert min(n) < 1e3 and max(n) > 5e6
    grids = [c.grid_size for c in cases if c.ladder == "grid"]
    assert min(grids) <= 3 and max(grids) >= 1000
    batches = [c.batch for c in cases if c.ladder == "batch"]
    assert min(batches) == 1 and max(batches) == 65536


def test_overrides_change_the_presets_cases(tmp_path):
    cases = bench.bench_cases(_config(tmp_path, "bench=full", "bench.threads=2", "ladders=[grid]"))
    assert {c.ladder for c in cases} == {"grid"} and {c.threads for c in cases} == {2}
    as_text = _config(tmp_path, *TINY, 'bench.custom.shapes=["3,4,1"]')
    assert bench.bench_cases(as_text) == bench.bench_cases(_config(tmp_path, *TINY))


def test_tiny_bench_writes_well_formed_records(tmp_path, capsys):
    config = _config(tmp_path, *TINY, "bench.custom.families=[kan,kan_sparse,mlp]")
    (returned,) = bench.run_bench(config)
    printed = capsys.readouterr().out
    assert "3,4,1" in printed and "f+b/MLP" in printed
    (path,) = (tmp_path / "bench").glob("*.json")
    run = json.loads(path.read_text())
    assert run["bench_id"] == returned["bench_id"]
    assert run["schema"] == store.SCHEMA_VERSION and run["status"] == "complete"
    assert run["kind"] == "bench" and path.stem == run["bench_id"]
    assert run["provenance"]["torch_version"] == torch.__version__
    rows = {row["family"]: row for row in run["rows"]}
    assert set(rows) == {"kan", "kan_sparse", "mlp"}
    assert rows["kan"]["n_params"] == 3 * 4 * 10 + 4 * 10
    assert rows["kan_sparse"]["form"] == "sparse"
    assert abs(rows["mlp"]["n_params"] - rows["kan"]["n_params"]) < 0.2 * rows["kan"]["n_params"]
    assert rows["kan"]["flops_sparse"] == kan_flops([3, 4, 1], 5, 3, "sparse")
    for row in rows.values():
        for metric in bench.METRICS:
            assert row[f"{metric}_ms"] > 0 and row[f"{metric}_spread"] >= 0
        assert row["samples_per_s"] == pytest.approx(16 / (row["fwd_bwd_ms"] / 1e3))
        if memory.available():
            assert row["peak_mb"] >= 0
    frame = analysis.load_bench(tmp_path)
    kan = frame[frame["family"] == "kan"].iloc[0]
    assert kan["fwd_bwd_ms_ratio"] == pytest.approx(kan["fwd_bwd_ms"] / rows["mlp"]["fwd_bwd_ms"])


def test_a_rerun_keeps_stored_cases_and_fresh_remeasures(tmp_path):
    config = _config(tmp_path, *TINY, "bench.custom.metrics=[fwd]", "bench.custom.memory=false")
    bench.run_bench(config)
    (path,) = (tmp_path / "bench").glob("*.json")
    first = path.read_text()
    bench.run_bench(config)
    assert path.read_text() == first
    bench.run_bench({**config, "fresh": True})
    assert json.loads(path.read_text())["finished"] >= json.loads(first)["finished"]


def test_report_draws_bench_records(tmp_path):
    records = tmp_path / "runs"
    quick = {"min_time": 0.01, "rounds": 2, "metrics": ("fwd_bwd",)}
    cases = [bench.Case("n", w, 5, 3, 16, memory=False, **quick) for w in ((2, 3, 1), (2, 8, 1))]
    cases += [bench.Case("grid", (2, 3, 1), g, 3, 16, memory=False, **quick) for g in (5, 1000)]
    cases.append(bench.Case("batch", (2, 3, 1), 5, 3, 65536, **quick))
    bench.run_study(cases, records)
    out = tmp_path / "report"
    assert report.main([str(records), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    for stem, *_ in plots.BENCH_FIGURES:
        assert (out / f"{stem}.png").is_file() and f"({stem}.png)" in text
    assert "fwd_bwd_ratio_hidden64" in text and "N ladder" in text
    goals = analysis.bench_goals(analysis.load_bench(records)).set_index("goal")
    assert goals.loc["fwd_bwd_ratio_hidden64", "verdict"] == "not measured"  # widths < 64
    for goal in ("grid1000_over_grid5", "memory_ratio_batch65536"):
        assert math.isfinite(goals.loc[goal, "value"])
    csv = (out / "bench.csv").read_text().splitlines()
    assert len(csv) == 1 + 2 * len(cases)


def test_a_staged_family_added_to_the_registry_is_benched_without_a_bench_edit(
    tmp_path, monkeypatch
):
    """A new matchable staged family (here the Chebyshev entry under another name) is a
    family a case may list, built at the KAN's count and described by its size knob."""
    entry = dataclasses.replace(families.FAMILIES["chebykan"], name="fourierkan")
    monkeypatch.setitem(families.FAMILIES, "fourierkan", entry)
    assert "fourierkan" in bench.variant_families()
    config = _config(tmp_path, *TINY, "bench.custom.metrics=[fwd]", "bench.custom.memory=false")
    config["bench"]["custom"]["families"] = ["kan", "fourierkan", "mlp"]
    (run,) = bench.run_study(bench.bench_cases(config), tmp_path)
    rows = {row["family"]: row for row in run["rows"]}
    assert rows["fourierkan"]["n_params"] == rows["kan"]["n_params"]  # degree G + k + 1
    assert rows["fourierkan"]["form"] == "D=9" and rows["fourierkan"]["fwd_ms"] > 0


def test_the_variants_are_matched_to_the_kans_count_through_the_registry():
    widths = (3, 5, 1)
    for name in ("rbfkan", "chebykan"):  # exactly the KAN's count at G + k + 1
        match = bench.match_variant(name, widths, 7, 3)
        assert match.size == 7 + 3 + 1 and match.form == families.family(name).size_label(11)
    grouped = bench.match_variant("grouped", widths, 7, 3)
    assert grouped.size == 7 and grouped.config.groups == 1
    assert grouped.form == f"1 group R={grouped.config.rank}"
    model = bench.build_variant("grouped", widths, 7, 3, torch.float64)
    assert count_trainable(model) == families.family("grouped").count(grouped.config, widths, 7)


def _pykan_rows(tmp_path) -> dict:
    case = bench.Case(
        "custom", (2, 3, 1), 3, 3, 8, families=("kan", "mlp", "pykan", "pykan_speed"),
        metrics=("fwd_bwd",),
        memory=False, min_time=0.01, rounds=2,
    )  # fmt: skip
    (run,) = bench.run_study([case], tmp_path)
    return {row["family"]: row for row in run["rows"]}


def test_pykan_is_skipped_with_a_note_when_it_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.models, "pykan_available", lambda: False)
    rows = _pykan_rows(tmp_path)
    for family in ("pykan", "pykan_speed"):
        assert rows[family]["status"] == "skipped" and "not installed" in rows[family]["note"]
    assert rows["kan"]["status"] == "ok"


@pytest.mark.skipif(not bench.pykan_available(), reason="pykan (the reference extra) missing")
def test_pykan_is_measured_when_installed(tmp_path):
    rows = _pykan_rows(tmp_path)
    for family in ("pykan", "pykan_speed"):
        assert rows[family]["status"] == "ok" and rows[family]["fwd_bwd_ms"] > 0


def test_cpu_peak_memory_sees_a_large_allocation():
    if not memory.available():
        pytest.skip("needs /proc and glibc")
    peak = bench.peak_memory_mb(lambda: torch.empty(10_000_000).fill_(1.0), "cpu")
    assert 0.9 * 40e6 / 2**20 < peak < 1.3 * 40e6 / 2**20


def test_cuda_cases_are_skipped_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.run_bench(_config(tmp_path, *TINY, "bench.device=cuda")) == []
    assert not (tmp_path / "bench").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_case_is_timed_with_events_and_probed(tmp_path):
    peak = bench.peak_memory_mb(lambda: torch.empty(10_000_000, device="cuda").fill_(1), "cuda")
    assert 0.9 * 40e6 / 2**20 < peak < 1.3 * 40e6 / 2**20
    families_ = ("kan", "rbfkan", "chebykan", "grouped", "mlp")
    case = bench.Case("custom", (3, 4, 1), 5, 3, 64, device="cuda", families=families_,
                      min_time=0.01, rounds=2)  # fmt: skip
    (run,) = bench.run_study([case], tmp_path)
    assert run["provenance"]["device_name"]
    for row in run["rows"]:
        assert row["fwd_bwd_ms"] > 0 and row["peak_mb"] > 0


# --------------------------------------------------------------------------- command


def _command(monkeypatch, tmp_path, *args):
    """kanbench-bench *args in process, from tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["kanbench-bench", *args])
    GlobalHydra.instance().clear()
    bench.main()


def test_cfg_job_prints_the_composed_config_and_runs_nothing(monkeypatch, tmp_path, capsys):
    _command(monkeypatch, tmp_path, "bench=full", "bench.threads=2", "ladders=[grid]", "--cfg",
             "job")  # fmt: skip
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["bench"]["threads"] == 2 and printed["ladders"] == ["grid"]
    assert printed["bench"]["grid"]["grids"][-1] == 1000  # full's G ladder
    assert not list(tmp_path.iterdir())


def test_a_multirun_sweeps_a_bench_study(monkeypatch, tmp_path):
    args = [*TINY, "bench.custom.metrics=[fwd]", "bench.custom.memory=false", "out_dir=runs"]
    _command(monkeypatch, tmp_path, "-m", *args, "bench.dtype=float32,float64")
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "bench").glob("*.json")]
    assert sorted(r["case"]["dtype"] for r in records) == ["float32", "float64"]
    (log,) = (tmp_path / "runs" / "logs").glob("bench_multirun_*/sweep.log")
    assert len(log.read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench.custom.shapes=[[3]]"], "bench.custom.shapes needs at least 2"),
        (["bench.custom.shapes=[[3,x]]"], "bench.custom.shapes must be comma-separated"),
        (["bench.custom.batch=0"], "bench.custom.batch must be an integer >= 1"),
        (["bench.custom.grid=0"], "bench.custom.grid must be an integer >= 1"),
        (["bench.custom.families=[kan,resnet]"], "bench.custom.families must be one of"),
        (["bench.custom.families=[kan]"], "must include mlp"),
        (["bench.custom.metrics=[backward]"], "bench.custom.metrics must be one of"),
        (["bench.dtype=float16"], "bench.dtype must be one of"),
        (["bench.device=tpu"], "bench.device must be one of"),
        (["bench.min_time=0"], "bench.min_time must be a positive number"),
        (["bench.threads=two"], "bench.threads must be an integer >= 1, got 'two'"),
        (["bench.custom.gird=3"], "key 'bench.custom.gird' does not exist; did you mean"),
        (["bench=huge"], "unknown bench 'huge'; valid: custom, full, quick"),
        (["ladders=[depth]"], "ladders must be one of"),
        (["fresh=maybe"], "fresh must be true or false"),
        (["-m", "bench.dtype=float32,float16"], r"job \[bench.dtype=float16 .*: bench.dtype must"),
        (["--preset", "quick"], "unknown option '--preset'"),
        (["-m", "--cfg", "job"], "give only one of --multirun, --cfg"),
        (["bench=full", "-m", "bench.threads=1,2"], "'bench.threads=1,2' is apart from the others"),
    ],
)
def test_a_bad_command_is_one_line_exit_2_and_writes_nothing(
    args, message, monkeypatch, tmp_path, capsys
):
    with pytest.raises(SystemExit) as exit_:
        _command(monkeypatch, tmp_path, *args, "bench=custom")
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kanbench-bench: error:")
    assert re.search(message, lines[0]), lines[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ({"n": {"grid": 5, "batch": 8, "shapes": ["2,1"], "gird": 3}}, r"\['gird'\] in bench.n"),
        ({"grid": {"shape": "2,1", "grids": [3]}}, "bench.grid lacks the key 'batch'"),
        ({"colour": 1}, r"\['colour'\] in bench"),
        ({"dtype": "float32"}, "bench has none of the ladders"),
        ({"n": {"grid": 5, "batch": 8, "shapes": "2,1"}}, "bench.n.shapes must be a non-empty"),
    ],
)
def test_a_bad_key_in_a_preset_file_is_named(preset, message):
    with pytest.raises(ValueError, match=message) as error:
        bench.preset_cases(preset)
    assert "\n" not in str(error.value)


def test_report_of_a_runs_folder_and_a_bench_folder_reports_both(tmp_path):
    from synthetic_runs import law, write_run

    quick = {"min_time": 0.01, "rounds": 2, "metrics": ("fwd_bwd",), "memory": False}
    bench.run_study([bench.Case("n", (2, 3, 1), 5, 3, 16, **quick)], tmp_path / "bench_runs")
    write_run(tmp_path / "study", "kan", lambda n: law(n, 4.0))
    out = tmp_path / "report"
    folders = [str(tmp_path / "study"), str(tmp_path / "bench_runs")]
    assert report.main([*folders, "--out", str(out)]) == 0
    assert (out / "fits.csv").is_file() and (out / "report.md").is_file()
    assert (out / "bench" / "report.md").is_file()
    (tmp_path / "empty").mkdir()  # a folder with neither runs nor bench cases is refused
    assert report.main([folders[0], str(tmp_path / "empty"), "--out", str(out)]) == 2
