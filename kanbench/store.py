"""The record store: one JSON file per run, written atomically, read back for resume.

A run's file <out_dir>/records/<run_id>.json holds its schema version, run id, status,
resolved config, provenance and one record per stage. It is rewritten after every stage
through a temporary file in the same folder and os.replace, so a reader (or a rerun) sees
either the previous complete state or the new one, never half a file. Status "running"
marks a run that has not finished (it was killed, or is still going): a rerun redoes it
from the start. Statuses "complete", "diverged" and "failed" are final: a rerun skips it.
kanbench-bench stores each benchmark case the same way, as <out_dir>/bench/<bench_id>.json.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

import kanbench

SCHEMA_VERSION = 1
FINAL_STATUSES = ("complete", "diverged", "failed")


def record_path(out_dir: str | os.PathLike, run_id: str) -> Path:
    """Where the run with this id keeps its records."""
    return Path(out_dir) / "records" / f"{run_id}.json"


def bench_path(out_dir: str | os.PathLike, bench_id: str) -> Path:
    """Where kanbench-bench keeps the record of one benchmark case."""
    return Path(out_dir) / "bench" / f"{bench_id}.json"


def read_run(path: Path) -> dict | None:
    """The stored run at path, or None if there is none or it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_finished(run: dict | None) -> bool:
    """Whether a stored run reached a final status (complete, diverged or failed)."""
    return (
        bool(run) and run.get("schema") == SCHEMA_VERSION and run.get("status") in (FINAL_STATUSES)
    )


def write_run(path: Path, run: dict[str, Any]) -> None:
    """Write a run's file atomically (temporary file + rename in the same folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(run, stream, indent=1, default=_plain)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """JSON for the few non-JSON values in records: numpy and torch scalars, else text."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@functools.cache
def git_commit() -> str | None:
    """The commit of the kanbench checkout in use, with '+dirty' if it has local changes."""
    root = Path(kanbench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty.strip() else "")


def provenance() -> dict[str, Any]:
    """Versions and machine that produced a record."""
    return {
        "kanbench_version": kanbench.__version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "hostname": platform.node(),
    }
