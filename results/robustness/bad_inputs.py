"""Every bad input we know of, through the commands a user types: exit status, the error
line, and whether anything was written. Writes bad_inputs.md beside this file.

Each case runs in a fresh temporary folder (the command's working folder and out_dir), so
"written" means: any file or folder appeared there that was not set up beforehand.

    python results/robustness/bad_inputs.py        # about 3 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
TRAIN = ["kanbench-train", "progress=false", "model.grid_schedule=[3]", "model.steps_per_grid=2"]
MLP = ["kanbench-train", "progress=false", "model=mlp", "model.steps=2"]
TASK = ["task.name=mine", "+task.variables={x:[-1,1],y:[-1,1]}"]


def formula(text: str) -> list[str]:
    return [*TASK, f"+task.formula='{text}'"]


# (what, command after the program's defaults, setup of the folder)
CASES = [
    ("unknown task", [*TRAIN, "task=no_such_task"], None),
    ("unknown model", [*TRAIN, "model=transformer"], None),
    ("unknown optimiser group", [*TRAIN, "optim=sgd"], None),
    ("unknown launcher", [*TRAIN, "-m", "hydra/launcher=nope", "seed=0,1"], None),
    ("misspelt model key", [*TRAIN, "model.stps_per_grid=3"], None),
    ("misspelt top-level key", [*TRAIN, "seeed=3"], None),
    ("misspelt optimiser key", [*TRAIN, "optim.histroy_size=3"], None),
    ("misspelt key in a sweep", [*TRAIN, "-m", "seed=0,1", "model.gird=3"], None),
    ("decreasing grid schedule", [*TRAIN, "model.grid_schedule=[5,3]"], None),
    ("empty grid schedule", [*TRAIN, "model.grid_schedule=[]"], None),
    ("shape with wrong inputs", [*TRAIN, "model.shape=[3,1,1]"], None),
    ("shape with 2 outputs", [*TRAIN, "model.shape=[2,1,2]"], None),
    ("negative n_train", [*TRAIN, "data.n_train=-5"], None),
    ("text n_train", [*TRAIN, "data.n_train=abc"], None),
    ("zero n_test", [*TRAIN, "data.n_test=0"], None),
    ("text noise", [*TRAIN, "data.noise=abc"], None),
    ("negative noise", [*TRAIN, "data.noise=-0.1"], None),
    ("float16", [*TRAIN, "dtype=float16"], None),
    ("unknown device", [*TRAIN, "device=tpu"], None),
    ("zero threads", [*TRAIN, "threads=0"], None),
    ("negative seed", [*TRAIN, "seed=-1"], None),
    ("history_size 0", [*TRAIN, "optim.history_size=0"], None),
    ("max_iter 0", [*TRAIN, "optim.max_iter=0"], None),
    ("zero learning rate", [*TRAIN, "optim.lr=0"], None),
    ("negative tolerance_change", [*TRAIN, "optim.tolerance_change=-1"], None),
    ("unknown line search", [*TRAIN, "optim.line_search=armijo"], None),
    ("Adam beta 1.5", [*TRAIN, "optim=adam", "optim.betas=[0.9,1.5]"], None),
    ("Adam negative weight decay", [*TRAIN, "optim=adam", "optim.weight_decay=-1"], None),
    ("stop_rtol 2", [*TRAIN, "optim.stop_rtol=2"], None),
    ("stop_patience 0", [*TRAIN, "optim.stop_patience=0"], None),
    ("steps_per_grid 0", [*TRAIN, "model.steps_per_grid=0"], None),
    ("restarts 0", [*TRAIN, "model.restarts=0"], None),
    ("grid_eps 2", [*TRAIN, "model.grid_eps=2"], None),
    ("spline order 0", [*TRAIN, "model.spline_order=0"], None),
    ("negative noise_scale", [*TRAIN, "model.noise_scale=-1"], None),
    ("MLP width -3", [*MLP, "model.width=-3"], None),
    ("MLP depth 1", [*MLP, "model.depth=1"], None),
    ("MLP unknown activation", [*MLP, "model.activation=gelu"], None),
    ("unknown logger", [*TRAIN, "logger=nope"], None),
    ("other_code maybe", [*TRAIN, "other_code=maybe"], None),
    ("bad value in one job of a sweep", [*TRAIN, "-m", "seed=0,-1"], None),
    ("two sweep jobs that are one run", [*TRAIN, "-m", "progress=true,false"], None),
    ("out_dir is a file", [*TRAIN, "out_dir=afile"], "afile"),
    ("out_dir under a file", [*TRAIN, "out_dir=afile/runs"], "afile"),
    ("records/ is a file", [*TRAIN, "out_dir=runs"], "records"),
    ("formula with a pole", [*TRAIN, *formula("x/(y-0.3)")], None),
    ("formula 1/x", [*TRAIN, *formula("1/x")], None),
    ("formula with log of negatives", [*TRAIN, *formula("log(x)")], None),
    ("formula syntax error", [*TRAIN, *formula("sin(x")], None),
    ("formula calling Python", [*TRAIN, *formula("__import__(os)")], None),
    ("formula literal 1e999", [*TRAIN, *formula("1e999*x")], None),
    ("formula 400-digit literal", [*TRAIN, *formula("1" + "0" * 400 + "*x")], None),
    ("formula lpmv degree 1e7", [*TRAIN, *formula("lpmv(2, 1e7, x)")], None),
    ("formula unknown variable", [*TRAIN, *formula("x + z")], None),
    (
        "reversed variable range",
        [*TRAIN, "task.name=mine", "+task.formula=x", "+task.variables={x:[1,-1]}"],
        None,
    ),  # fmt: skip
    ("task file missing", [*TRAIN, "task=nope.yaml"], None),
    ("task file not YAML", [*TRAIN, "task=mine/task/broken.yaml"], "taskfiles"),
    ("task file with a misspelt key", [*TRAIN, "task=mine/task/typo.yaml"], "taskfiles"),
    ("task file with a pole", [*TRAIN, "task=mine/task/pole.yaml"], "taskfiles"),
    ("--config-dir not a folder", ["kanbench-train", "--config-dir", "afile", "task=x"], "afile"),
    (
        "--config-dir task misspelt",
        ["kanbench-train", "--config-dir", "mine", "task=dcay"],
        "taskfiles",
    ),
    ("report: folder missing", ["kanbench-report", "nope", "--out", "rep"], None),
    ("report: --out is a file", ["kanbench-report", "study", "--out", "afile"], "study"),
    ("report: bad threshold", ["kanbench-report", "study", "--thresholds", "0"], "study"),
    ("regress: unknown suite", ["kanbench-regress", "regress=nope"], None),
    ("regress: bad tolerance", ["kanbench-regress", "regress.tolerances.rmse_factor=-1"], None),
    ("regress: a sweep", ["kanbench-regress", "-m", "seed=0,1"], None),
    (
        "regress: baseline value not a number",
        ["kanbench-regress", "from=study", "regress.baseline=base"],
        "baseline",
    ),  # fmt: skip
    ("bench: bad shape", ["kanbench-bench", "bench=custom", "bench.custom.shapes=[[2,x]]"], None),
    ("bench: unknown preset", ["kanbench-bench", "bench=huge"], None),
    ("bench: misspelt preset key", ["kanbench-bench", "bench.gird=3"], None),
    ("bench: no threads", ["kanbench-bench", "bench.threads=0"], None),
    (
        "bench: unknown family",
        ["kanbench-bench", "bench=custom", "bench.custom.families=[kan,x]"],
        None,
    ),
    (
        "bench: out_dir is a file",
        ["kanbench-bench", "bench=custom", "bench.custom.shapes=[[2,5,1]]", "out_dir=afile"],
        "afile",
    ),  # fmt: skip
    ("regress: out_dir is a file", ["kanbench-regress", "out_dir=afile"], "afile"),
    ("symbolic: --out under a file", ["kanbench-symbolic", "--out", "afile/sym"], "afile"),
    ("symbolic: task without a formula", ["kanbench-symbolic", "--tasks", "jv"], None),
]


TASK_FILES = {
    "decay.yaml": "name: decay\nformula: exp(-x**2)\nvariables: {x: [-1, 1]}\n",
    "broken.yaml": "name: broken\nvariables: [x: [-1, 1\n",
    "typo.yaml": "name: typo\nformla: x\nvariables: {x: [-1, 1]}\n",
    "pole.yaml": "name: pole\nformula: 1/x\nvariables: {x: [-1, 1]}\n",
}


def setup(folder: Path, kind: str | None) -> None:
    if kind == "taskfiles":
        (folder / "mine" / "task").mkdir(parents=True)
        for name, text in TASK_FILES.items():
            (folder / "mine" / "task" / name).write_text(text)
    if kind in ("afile", "study"):
        (folder / "afile").write_text("not a folder")
    if kind == "records":
        (folder / "runs").mkdir()
        (folder / "runs" / "records").write_text("not a folder")
    if kind in ("study", "baseline"):
        subprocess.run([*TRAIN, "out_dir=study"], cwd=folder, capture_output=True, check=True)
    if kind == "baseline":
        subprocess.run(
            ["kanbench-regress", "update=true", "from=study", "regress.baseline=base"],
            cwd=folder,
            capture_output=True,
            check=True,
        )
        path = folder / "base" / "baseline.json"
        content = json.loads(path.read_text())
        content["metrics"][0]["value"] = "fast"
        path.write_text(json.dumps(content))


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def main() -> int:
    rows = []
    for what, command, kind in CASES:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            setup(folder, kind)
            before = snapshot(folder)
            if command[0] == "kanbench-train" and not any(
                a.startswith("out_dir=") for a in command
            ):
                command = [*command, "out_dir=runs"]
            done = subprocess.run(
                command, cwd=folder, capture_output=True, text=True, timeout=300,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )  # fmt: skip
            written = sorted(snapshot(folder) - before)
            errors = [line for line in done.stderr.splitlines() if line.strip()]
            line = errors[0] if len(errors) == 1 else f"{len(errors)} lines: {errors[-1:]}"
            ok = done.returncode != 0 and len(errors) == 1 and not written
            rows.append((what, command, done.returncode, line, written, ok))
            print(f"{'pass' if ok else 'FAIL'} {done.returncode} {what}: {line[:120]}", flush=True)
    lines = [
        "# Bad inputs: exit status, the one line, and what was written",
        "",
        "`python results/robustness/bad_inputs.py`; pass = non-zero exit, exactly one line on",
        "stderr, and nothing written.",
        "",
        "| # | input | exit | stderr | written | pass |",
        "|---|---|---|---|---|---|",
    ]
    for i, (what, _command, code, line, written, ok) in enumerate(rows, 1):
        shown = line.replace("|", "\\|")
        lines.append(
            f"| {i} | {what} | {code} | {shown} | {', '.join(written) or '-'} | "
            f"{'yes' if ok else 'NO'} |"
        )
    passed = sum(r[-1] for r in rows)
    lines += ["", f"{passed} of {len(rows)} pass."]
    (HERE / "bad_inputs.md").write_text("\n".join(lines) + "\n")
    print(f"{passed} of {len(rows)} pass")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
