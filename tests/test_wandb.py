"""logger=wandb with the real wandb, offline: what a run logs is read back from the files
wandb writes and must be what the run's record file holds.

Skipped when wandb (the `wandb` extra) is not installed. Nothing reaches the network:
WANDB_MODE=offline, and every folder wandb writes to lies in tmp_path.
"""

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from kanbench.monitor import WandbRun

TINY = [
    "model.grid_schedule=[3,5]",
    "model.steps_per_grid=4",
    "data.n_train=64",
    "data.n_test=64",
    "progress=false",
]


def _offline_env(tmp_path: Path) -> dict[str, str]:
    folders = {
        name: tmp_path / "wandb_home" / name.lower()
        for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR")
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **{name: str(folder) for name, folder in folders.items()},
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }


# The .wandb file is a LevelDB-style log (the format `wandb sync` uploads): a 7-byte file
# header (":W&B", magic 0xBEE1, version), then 32 KiB blocks of chunks, each a 7-byte
# header (CRC-32 of type + data, length, type: 1 full, 2 first, 3 middle, 4 last) and its
# data; a record's data is a serialised wandb.proto Record.
_BLOCK = 32768
_CHUNK = struct.Struct("<IHB")


def read_wandb_records(path: Path) -> list:
    """Every Record of a .wandb file, in the order written, checksums checked."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, magic, _version = struct.unpack_from("<4sHB", data)
    assert (ident, magic) == (b":W&B", 0xBEE1), f"{path} is not a .wandb log"
    records, parts, offset = [], [], 7
    while offset + _CHUNK.size <= len(data):
        room = _BLOCK - offset % _BLOCK
        if room < _CHUNK.size:  # a block's tail too short for a chunk header is padding
            offset += room
            continue
        crc, length, kind = _CHUNK.unpack_from(data, offset)
        chunk = data[offset + _CHUNK.size : offset + _CHUNK.size + length]
        offset += _CHUNK.size + length
        if kind == 0 and length == 0:  # zero padding to the end of the block
            offset += _BLOCK - offset % _BLOCK if offset % _BLOCK else 0
            continue
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == crc, f"bad checksum in {path}"
        parts.append(chunk)
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            records.append(record)
            parts = []
    return records


def _value(item):
    if item.value_json:
        return json.loads(item.value_json)
    kind = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    return getattr(item, kind) if kind else None


def history_rows(path: Path) -> list[dict]:
    """The rows the run logged (run.log), wandb's own keys (_step, _runtime...) left out."""
    rows = []
    for record in read_wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            row = {"/".join(i.nested_key) or i.key: _value(i) for i in record.history.item}
            rows.append({k: v for k, v in row.items() if not k.startswith("_")})
    return rows


def test_an_offline_wandb_run_logs_what_the_record_file_holds(tmp_path):
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from kanbench.cli import train; train()",
            *TINY,
            "logger=wandb",
            f"out_dir={out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_offline_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    (run_file,) = (out / "records").glob("*.json")
    stored = json.loads(run_file.read_text())
    (wandb_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.display_name == stored["run_id"] and run.project == "kanbench"
    config = {i.key: json.loads(i.value_json) for i in run.config.update if i.key != "_wandb"}
    assert config == stored["config"]

    rows = history_rows(wandb_file)
    steps = [r for r in rows if "train_rmse" in r]
    stages = [r for r in rows if "stage/test_rmse" in r]
    # each stage's training steps, then its record
    kinds = [("step", r["stage"]) if r in steps else ("record", r["stage/stage"]) for r in rows]
    expected = []
    for record in stored["stages"]:
        n = sum(1 for point in stored["history"] if point[0] == record["stage"])
        expected += [("step", record["stage"])] * n + [("record", record["stage"])]
    assert kinds == expected
    # every training step the record file keeps, in its order, and no other
    assert [(r["stage"], r["step"], r["train_rmse"], r.get("test_rmse")) for r in steps] == [
        tuple(point) for point in stored["history"]
    ]
    assert [r["cum_step"] for r in steps] == list(range(1, len(steps) + 1))
    # every number of every stage record
    assert len(stages) == len(stored["stages"]) == 2
    for row, record in zip(stages, stored["stages"], strict=True):
        assert row == {f"stage/{k}": v for k, v in record.items() if isinstance(v, int | float)}


class _FakeRun:
    def __init__(self):
        self.rows = []

    def log(self, values):
        self.rows.append(values)

    def finish(self):
        pass


@pytest.fixture
def fake_wandb(monkeypatch):
    """A stand-in wandb module whose run keeps the rows logged (wandb need not be here)."""
    import types

    fake = types.ModuleType("wandb")
    fake.run = _FakeRun()
    fake.init = lambda **kwargs: fake.run
    monkeypatch.setitem(sys.modules, "wandb", fake)
    return fake


def test_a_stage_logs_the_history_it_is_given_not_the_probes_seen(fake_wandb):
    logger = WandbRun({"name": "wandb"}, {}, "run", "out")
    for step, train in ((0, 3.0), (1, 2.0), (0, 4.0), (1, 1.0), (2, 0.5)):  # two starts
        logger.log_step({"step": step, "train_rmse": train, "test_rmse": None})
    logger.log_stage({"stage": 0, "test_rmse": 0.6}, [(0, 4.0, 0.9), (1, 1.0, None), (2, 0.5, 0.6)])
    logger.log_step({"step": 0, "train_rmse": 0.4, "test_rmse": 0.5})
    logger.log_stage({"stage": 1, "test_rmse": 0.5, "status": "complete"}, [(0, 0.4, 0.5)])
    assert fake_wandb.run.rows == [
        {"stage": 0, "step": 0, "cum_step": 1, "train_rmse": 4.0, "test_rmse": 0.9},
        {"stage": 0, "step": 1, "cum_step": 2, "train_rmse": 1.0},
        {"stage": 0, "step": 2, "cum_step": 3, "train_rmse": 0.5, "test_rmse": 0.6},
        {"stage/stage": 0, "stage/test_rmse": 0.6},
        {"stage": 1, "step": 0, "cum_step": 4, "train_rmse": 0.4, "test_rmse": 0.5},
        {"stage/stage": 1, "stage/test_rmse": 0.5},
    ]


def test_without_a_history_a_stage_logs_the_steps_seen(fake_wandb):
    logger = WandbRun({"name": "wandb"}, {}, "run", "out")
    for step in range(2):
        logger.log_step({"step": step, "train_rmse": 1.0 / (step + 1), "test_rmse": None})
    logger.log_stage({"stage": 0})
    assert [row.get("cum_step") for row in fake_wandb.run.rows] == [1, 2, None]
