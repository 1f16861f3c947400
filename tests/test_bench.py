"""kanbench-bench: presets, well-formed records, the report, CUDA and pykan paths, bad input.

No timing is asserted (the machine is shared and noisy); only that numbers are there and
consistent with each other.
"""

import json
import math

import pytest
import torch

from kanbench import analysis, bench, memory, plots, report, store
from kanbench.flops import kan_flops

TINY = ["--shape", "3,4,1", "--batch", "16", "--min-time", "0.01", "--rounds", "2"]


@pytest.mark.parametrize("preset", bench.PRESETS)
def test_every_preset_loads_into_valid_cases(preset):
    cases = bench.load_preset(preset)
    assert {c.ladder for c in cases} == set(bench.LADDERS)
    assert len({c.bench_id for c in cases}) == len(cases)
    for case in cases:
        assert bench.check_case(case) is case and "mlp" in case.families


def test_full_preset_spans_the_ladders_the_study_needs():
    cases = bench.load_preset("full")
    n = [bench.kan_size(c.widths, c.grid_size, c.spline_order) for c in cases if c.ladder == "n"]
    assert min(n) < 1e3 and max(n) > 5e6
    grids = [c.grid_size for c in cases if c.ladder == "grid"]
    assert min(grids) <= 3 and max(grids) >= 1000
    batches = [c.batch for c in cases if c.ladder == "batch"]
    assert min(batches) == 1 and max(batches) == 65536


def test_tiny_bench_writes_well_formed_records(tmp_path, capsys):
    argv = [*TINY, "--families", "kan", "kan_sparse", "mlp", "--out", str(tmp_path)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "3,4,1" in printed and "f+b/MLP" in printed
    (path,) = (tmp_path / "bench").glob("*.json")
    run = json.loads(path.read_text())
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
    argv = [*TINY, "--metrics", "fwd", "--out", str(tmp_path)]
    assert bench.main(argv) == 0
    (path,) = (tmp_path / "bench").glob("*.json")
    first = path.read_text()
    assert bench.main(argv) == 0
    assert path.read_text() == first
    assert bench.main([*argv, "--fresh"]) == 0
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


def _pykan_rows(tmp_path) -> dict:
    case = bench.Case(
        "custom", (2, 3, 1), 3, 3, 8, families=("kan", "mlp", "pykan", "pykan_speed"),
        metrics=("fwd_bwd",),
        memory=False, min_time=0.01, rounds=2,
    )  # fmt: skip
    (run,) = bench.run_study([case], tmp_path)
    return {row["family"]: row for row in run["rows"]}


def test_pykan_is_skipped_with_a_note_when_it_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "pykan_available", lambda: False)
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
    assert bench.main([*TINY, "--device", "cuda", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "bench").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_case_is_timed_with_events_and_probed(tmp_path):
    peak = bench.peak_memory_mb(lambda: torch.empty(10_000_000, device="cuda").fill_(1), "cuda")
    assert 0.9 * 40e6 / 2**20 < peak < 1.3 * 40e6 / 2**20
    case = bench.Case("custom", (3, 4, 1), 5, 3, 64, device="cuda", min_time=0.01, rounds=2)
    (run,) = bench.run_study([case], tmp_path)
    assert run["provenance"]["device_name"]
    for row in run["rows"]:
        assert row["fwd_bwd_ms"] > 0 and row["peak_mb"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shape", "3"], "at least 2"),
        (["--shape", "3,x"], "comma-separated"),
        (["--shape", "3,1", "--batch", "0"], "batch must be a positive integer"),
        (["--shape", "3,1", "--grid", "0"], "grid_size must be a positive integer"),
        (["--shape", "3,1", "--families", "kan", "resnet"], "families must be among"),
        (["--shape", "3,1", "--families", "kan"], "must include mlp"),
        (["--shape", "3,1", "--dtype", "float16"], "dtype must be among"),
        (["--shape", "3,1", "--device", "tpu"], "device must be among"),
        (["--shape", "3,1", "--min-time", "0"], "min_time must be a positive"),
        (["--shape", "3,1", "--threads", "0"], "threads must be a positive integer"),
        (["--shape", "3,1", "--preset", "quick"], "without --preset"),
        (["--preset", "huge"], "preset must be one of"),
        (["--preset", "quick", "--ladder", "depth"], "ladders must be among"),
        (["--shape", "3,1", "--metrics", "backward"], "metrics must be among"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert bench.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "bench").exists()


def test_unknown_key_in_a_preset_file_is_named(tmp_path, capsys):
    preset = tmp_path / "mine.yaml"
    preset.write_text("n:\n  grid: 5\n  batch: 8\n  shapes: ['2,1']\n  gird: 3\n")
    assert bench.main(["--preset", str(preset), "--out", str(tmp_path)]) == 2
    assert "unknown keys ['gird']" in capsys.readouterr().err


def test_missing_key_in_a_preset_file_is_named(tmp_path, capsys):
    preset = tmp_path / "mine.yaml"
    preset.write_text("grid:\n  shape: '2,1'\n  grids: [3]\n")
    assert bench.main(["--preset", str(preset), "--out", str(tmp_path)]) == 2
    assert "ladder grid lacks the key 'batch'" in capsys.readouterr().err
