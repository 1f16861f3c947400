"""Peak memory of a piece of work on the CPU, as the process's resident set sees it.

glibc serves large blocks with mmap once they exceed a threshold that it raises on its
own; with the threshold pinned low, every tensor of 64 KiB or more is its own mapping,
returned to the system when freed, and with the heap's free memory trimmed before each
measurement, the resident set follows live tensors. The peak
is read from VmHWM after resetting it (writing 5 to /proc/self/clear_refs). On systems
without those files the probe reports None.

Timings want the opposite: reusing_malloc keeps freed memory in the heap (blocks up to
glibc's largest mmap threshold, 32 MiB, come from it, and it is never trimmed), so that a
buffer freed in one step is reused without page faults in the next, as a caching
allocator (jemalloc, tcmalloc, CUDA's) would. With glibc's adaptive defaults a
[16, 64, 1] KAN at G = 1000 (1.1e6 parameters) took about 2000 page faults (8 MB of
fresh pages) per forward + backward.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
from pathlib import Path

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's largest on 64-bit systems
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def set_malloc_thresholds(mmap_bytes: int, trim_bytes: int) -> bool:
    """Pin glibc's mmap and trim thresholds (which also stops their adaptation)."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_bytes)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, trim_bytes)
    )


@contextlib.contextmanager
def _pinned_malloc(mmap_bytes: int, trim_bytes: int) -> Iterator[bool]:
    """glibc's thresholds pinned for a while, then pinned back to its default values
    (which keeps their adaptation off, as timings prefer)."""
    ok = set_malloc_thresholds(mmap_bytes, trim_bytes)
    try:
        yield ok
    finally:
        set_malloc_thresholds(128 * 1024, 128 * 1024) if ok else None


def tracking_malloc():
    """Make the resident set follow live allocations (small mmap threshold) for a while."""
    return _pinned_malloc(64 * 1024, 128 * 1024)


def reusing_malloc():
    """Keep freed memory for reuse (module docstring) for a while, as timings want."""
    return _pinned_malloc(_MMAP_THRESHOLD_MAX, _NEVER_TRIM)


def release_free_memory() -> None:
    """Hand the heap's free memory back to the system (glibc malloc_trim), so that a later
    peak counts memory that is reused too."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def available() -> bool:
    """Whether this system lets the probe reset and read the peak resident set."""
    return _STATUS.exists() and _CLEAR_REFS.exists() and _libc() is not None


def peak_bytes(work: Callable[[], object], repeats: int = 3) -> int | None:
    """Peak resident memory added while work() runs: the median over repeats, in bytes.

    The first call of work() warms up caches and is not counted.
    """
    if not available():
        return None
    with tracking_malloc() as ok:
        if not ok:
            return None
        work()
        peaks = []
        for _ in range(repeats):
            gc.collect()
            release_free_memory()
            _CLEAR_REFS.write_text("5")
            before = _status_kib("VmRSS")
            work()
            peaks.append(max(0, _status_kib("VmHWM") - before) * 1024)
    peaks.sort()
    return peaks[len(peaks) // 2]


def reset_peak() -> None:
    """Reset the process's peak resident set (VmHWM) to its current size, where possible."""
    if available():
        _CLEAR_REFS.write_text("5")


def peak_resident_mb() -> float | None:
    """The process's peak resident set since the last reset_peak, in MiB (None if unknown)."""
    if not _STATUS.exists():
        return None
    return _status_kib("VmHWM") / 1024
