"""Every command checks its output folder before any work: a file in the way is one line,
exit 2, and the file is left as it was."""

import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from kanbench import bench, regress, store
from kanbench.interpret import bench as symbolic


def _hydra_app(main):
    """A Hydra app's main called as its command; its exit status."""

    def call(argv):
        sys.argv = [main.__module__, *argv]
        GlobalHydra.instance().clear()
        try:
            main()
        except SystemExit as exit_:
            return exit_.code
        return 0

    return call


def _out(folder):
    return [f"out_dir={folder}"]


@pytest.mark.parametrize(
    ("main", "args", "out"),
    [
        (_hydra_app(bench.main), ["bench=custom", "bench.custom.metrics=[fwd]"], _out),
        (_hydra_app(regress.main), ["update=true"], _out),
        (symbolic.main, ["--tasks", "exp_sin_y2"], lambda folder: ["--out", folder]),
    ],
)
@pytest.mark.parametrize("below", ["", "/sub"])
def test_an_output_folder_that_is_a_file_is_one_line_and_exit_2(
    tmp_path, capsys, monkeypatch, main, args, out, below
):
    monkeypatch.setattr(sys, "argv", sys.argv)  # restored after the test
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    assert main([*args, *out(f"{blocker}{below}")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"'{blocker}' is a file, not a folder" in err
    assert blocker.read_text() == "keep me"


def test_a_write_failure_is_one_line_naming_the_path():
    import errno

    error = OSError(errno.ENOSPC, "No space left on device", "/data/runs/records/x.json")
    assert store.write_failure(error) == (
        "cannot write /data/runs/records/x.json: No space left on device"
    )


def test_taking_a_runs_lock_removes_what_a_killed_writer_left(tmp_path):
    from kanbench import store

    records = tmp_path / "records"
    records.mkdir()
    (records / ".abc.k3j2.tmp").write_text("{half")  # a writer of run abc, killed
    (records / ".other.x1.tmp").write_text("{")  # another run's, possibly being written
    with store.run_lock(records / "abc.json"):
        assert not (records / ".abc.k3j2.tmp").exists()
    assert (records / ".other.x1.tmp").exists()
