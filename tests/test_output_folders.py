"""Every command checks its output folder before any work: a file in the way is one line,
exit 2, and the file is left as it was."""

import pytest

from kanbench import bench, regress, store
from kanbench.interpret import bench as symbolic


@pytest.mark.parametrize(
    ("main", "args"),
    [
        (bench.main, ["--shape", "2,5,1", "--families", "kan", "mlp", "--metrics", "fwd"]),
        (regress.main, []),
        (symbolic.main, ["--tasks", "exp_sin_y2"]),
    ],
)
@pytest.mark.parametrize("below", ["", "/sub"])
def test_an_output_folder_that_is_a_file_is_one_line_and_exit_2(
    tmp_path, capsys, main, args, below
):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    assert main([*args, "--out", f"{blocker}{below}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"'{blocker}' is a file, not a folder" in err
    assert blocker.read_text() == "keep me"


def test_a_write_failure_is_one_line_naming_the_path():
    import errno

    error = OSError(errno.ENOSPC, "No space left on device", "/data/runs/records/x.json")
    assert store.write_failure(error) == (
        "cannot write /data/runs/records/x.json: No space left on device"
    )
