"""kanbench-bench on tiny cases: well-formed rows and clear errors (no timing asserted)."""

import csv

import pytest

from kanbench import bench, memory


def test_tiny_bench_writes_well_formed_rows(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    code = bench.main(
        [
            "--shape",
            "3,4,1",
            "--batch",
            "16",
            "--memory-batch",
            "64",
            "--min-time",
            "0.01",
            "--csv",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "3,4,1" in printed and "t ratio" in printed
    timed, probed = csv.DictReader(out.open())
    assert int(timed["batch"]) == 16 and int(probed["batch"]) == 64
    for row in (timed, probed):
        assert int(row["kan_params"]) == 3 * 4 * 10 + 4 * 10
        assert abs(int(row["mlp_params"]) - int(row["kan_params"])) < 0.2 * int(row["kan_params"])
    assert float(timed["kan_ms"]) > 0 and float(timed["mlp_ms"]) > 0
    assert float(timed["time_ratio"]) == pytest.approx(
        float(timed["kan_ms"]) / float(timed["mlp_ms"])
    )
    assert timed["kan_peak_mb"] == ""  # timing rows are not probed, probed rows not timed
    if memory.available():
        assert float(probed["kan_peak_mb"]) >= 0 and float(probed["mlp_peak_mb"]) >= 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shape", "3"], "at least 2"),
        (["--shape", "3,x"], "comma-separated"),
        (["--shape", "3,1", "--batch", "0"], "--batch"),
        (["--shape", "3,1", "--grid", "0"], "grid_size"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert bench.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
