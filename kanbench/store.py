"""The record store: one JSON file per run, written atomically, read back for resume.

A run's file <out_dir>/records/<run_id>.json holds its schema version, run id, status,
resolved config, provenance and one record per stage. It is rewritten after every stage
through a temporary file in the same folder and os.replace, so a reader (or a rerun) sees
either the previous complete state or the new one, never half a file. Status "running"
marks a run that has not finished (it was killed, or is still going): a rerun redoes it
from the start. Statuses "complete", "diverged" and "failed" are final: a rerun skips it.
A process trains a run only while it holds the run's lock, <run_id>.lock beside its file
(run_lock): a second process for the same run (a duplicate command, an overlapping sweep)
stops at once with one line naming the holder, so a finished file is never rewritten by
a second training of it. Files are written readable by all (mode 0644), for shared
cluster storage, and the folder is synced after each rename.
kanbench-bench stores each benchmark case the same way, as <out_dir>/bench/<bench_id>.json.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import functools
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

import kanbench

SCHEMA_VERSION = 1
FINAL_STATUSES = ("complete", "diverged", "failed")
FILE_MODE = 0o644


class RunLocked(Exception):
    """Another process holds the lock of a run (its message names the holder)."""


def record_path(out_dir: str | os.PathLike, run_id: str) -> Path:
    """Where the run with this id keeps its records."""
    return Path(out_dir) / "records" / f"{run_id}.json"


def bench_path(out_dir: str | os.PathLike, bench_id: str) -> Path:
    """Where kanbench-bench keeps the record of one benchmark case."""
    return Path(out_dir) / "bench" / f"{bench_id}.json"


def check_output_folders(key: str, folder: str, subfolders: Sequence[str] = ()) -> None:
    """ValueError (one line) unless folder and its subfolders are writable folders, or can
    be made: none of them or their parents is a file, and the nearest existing one is
    writable. Checked before anything is written, so a run never stops half-way on them."""
    root = Path(folder)
    for path in (root, *(root / name for name in subfolders)):
        existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
        if not existing.is_dir():
            raise ValueError(f"{key} {folder!r}: {str(existing)!r} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{key} {folder!r}: {str(existing)!r} is not writable")


def write_failure(error: OSError) -> str:
    """One line for a write that failed (a full disk, a lost mount, permissions)."""
    where = f" {error.filename}" if error.filename else ""
    return f"cannot write{where}: {error.strerror or error}"


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
            os.fchmod(stream.fileno(), FILE_MODE)  # mkstemp makes it 0600
            json.dump(run, stream, indent=1, default=_plain)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a crash of the machine."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold the lock of the run stored at path for the block, or raise RunLocked at once.

    The lock is a POSIX record lock (fcntl.lockf, which NFS and Lustre mounts honour) on
    <run_id>.lock beside the run's file; the file names its holder (pid, host, start). The
    operating system drops the lock when the holder's process ends, however it ends, so a
    killed run never leaves a stale lock; the file itself stays. Taking the lock removes
    the temporary files a killed holder left half-written.
    """
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip()
            raise RunLocked(
                f"run {path.stem} is held by {holder or 'another process'} "
                f"(lock {lock}): not started"
            ) from None
        # a process killed inside write_run leaves its temporary file; only the lock's
        # holder writes this run, so what is there now is such a leftover
        for leftover in lock.parent.glob(f".{path.stem}.*.tmp"):
            leftover.unlink(missing_ok=True)
        since = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {platform.node()} since {since}".encode(), 0)
        yield
    finally:
        os.close(descriptor)


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
