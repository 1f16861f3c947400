"""The committed baseline of kanbench-regress: folder/baseline.json, written with the
suite, the command, the machine and every metric, and read back checked."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from kanbench import store
from kanbench.regress.metrics import Metric
from kanbench.train import now_utc

if TYPE_CHECKING:
    from kanbench.regress.suite import Suite

BASELINE_FILE = "baseline.json"
BASELINE_KIND = "regress-baseline"


def machine() -> dict:
    """The CPU model and core count, beside store.provenance()'s versions and host."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform()}


def write_baseline(
    folder: str | os.PathLike, suite: Suite, metrics: Sequence[Metric], command: str
) -> Path:
    """Write folder/baseline.json; ValueError (nothing written) if a value is not finite."""
    bad = [m.label for m in metrics if not math.isfinite(m.value)]
    if bad:
        raise ValueError(f"baseline not written: {len(bad)} value(s) not finite, first {bad[0]!r}")
    if not metrics:
        raise ValueError("baseline not written: the run produced no metric")
    content = {
        "schema": store.SCHEMA_VERSION,
        "kind": BASELINE_KIND,
        "suite": suite.name,
        "experiment": suite.experiment,
        "overrides": list(suite.overrides),
        "created": now_utc(),
        "command": command,
        "provenance": {**store.provenance(), **machine()},
        "tolerances_at_creation": asdict(suite.tolerances),
        "metrics": [asdict(m) for m in metrics],
    }
    path = Path(folder) / BASELINE_FILE
    store.write_run(path, content)
    return path


def read_baseline(folder: str | os.PathLike) -> list[Metric]:
    """The metrics of folder/baseline.json (ValueError naming the problem)."""
    path = Path(folder) / BASELINE_FILE
    if not path.is_file():
        raise ValueError(
            f"baseline {str(path)!r} does not exist; make one with kanbench-regress update=true"
        )
    try:
        content = json.loads(path.read_text())
        if content.get("kind") != BASELINE_KIND or content.get("schema") != store.SCHEMA_VERSION:
            raise ValueError("not a kanbench-regress baseline of schema 1")
        metrics = [Metric(**m) for m in content["metrics"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"baseline {str(path)!r} cannot be read: {error}") from None
    for metric in metrics:
        value = metric.value
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError(
                f"baseline {str(path)!r} cannot be read: metric {metric.label!r} "
                f"has value {value!r}, not a finite number"
            )
    return metrics
