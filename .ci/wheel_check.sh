#!/usr/bin/env bash
# The package as a user gets it: the wheel built from this tree, installed (not editable)
# into a fresh environment, then, from a folder outside the repository, a user's own task
# run as `--config-dir DIR` (DIR/task/<name>.yaml) and as `task=path/to/file.yaml`, in
# single runs and in a sweep with a library task, a bad task file refused, and the report
# made after the task files are deleted. Prints one line; exits 1 with the reason on a
# failure (the log stays in the folder it names). About 1.5 minutes on 2 cores, most of it
# installing torch and the dependencies.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
log="$work/wheel_check.log"
start=$SECONDS

fail() {
    echo "wheel check: FAILED: $1 (log: $log)"
    exit 1
}

# run a step, its output to the log; fail with the reason when it exits non-zero
step() {
    local reason="$1"
    shift
    echo "+ $*" >>"$log"
    "$@" >>"$log" 2>&1 || fail "$reason"
}

unset PYTHONPATH  # the installed package only, never this tree

# a clean copy of the tree (what git tracks or would, as it is now): a build/ left in the
# tree by an earlier in-place build could put stale modules into the wheel
mkdir -p "$work/src"
(
    cd "$repo" &&
        git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done |
            tar --null -T - -cf - | tar -xf - -C "$work/src"
) || fail "cannot copy the tree with git ls-files"

step "cannot create a virtual environment" python3 -m venv "$work/venv"
py="$work/venv/bin/python"
step "pip wheel failed" "$py" -m pip wheel "$work/src" --no-deps --quiet -w "$work/dist"
wheel=("$work"/dist/kanbench-*.whl)
[ -f "${wheel[0]}" ] || fail "no wheel was built"
# the CPU wheel on this machine's disk; a bare 'torch' would pull a multi-GB CUDA build
step "cannot install torch==2.13.0" "$py" -m pip install --quiet torch==2.13.0
step "cannot install the wheel" "$py" -m pip install --quiet "${wheel[0]}"

user="$work/user"
mkdir -p "$user/mine/task" "$user/defs"
cd "$user" || fail "no user folder"
cat >mine/task/decay.yaml <<'EOF'
name: decay
formula: "exp(-x**2) * sin(pi*y)"
variables: {x: [-1, 1], y: [0, 2]}
EOF
cat >defs/ripple.yaml <<'EOF'
name: ripple
formula: "sin(3*x) + 0*y"
variables: {x: [-1, 1], y: [0, pi]}
kan_shape: [2, 1]
intrinsic_dim: 1
EOF
printf 'name: typo\nformula: x\nvariables: {x: [0, 1]}\nformla: x\n' >defs/typo.yaml

bin="$work/venv/bin"
location="$("$py" -c 'import kanbench; print(kanbench.__file__)')"
case "$location" in
"$work/venv/"*) ;;
*) fail "kanbench is imported from $location, not from the installed wheel" ;;
esac
tiny=(model.grid_schedule=[3] model.steps_per_grid=2 model.restarts=1 data.n_train=32
    data.n_test=32 progress=false out_dir=runs)
step "a --config-dir task failed" "$bin/kanbench-train" --config-dir mine task=decay "${tiny[@]}"
step "a task=path.yaml run failed" "$bin/kanbench-train" task=defs/ripple.yaml "${tiny[@]}"
step "a sweep of a --config-dir task, a task file and a library task failed" \
    "$bin/kanbench-train" -m --config-dir mine task=decay,defs/ripple.yaml,exp_sin_y2 "${tiny[@]}"

"$bin/kanbench-train" task=defs/typo.yaml "${tiny[@]}" >"$work/typo.out" 2>&1
status=$?
cat "$work/typo.out" >>"$log"
[ "$status" -eq 2 ] || fail "a task file with an unknown key exited $status, not 2"
[ "$(wc -l <"$work/typo.out")" -eq 1 ] || fail "a task file with an unknown key: not one line"
grep -q "unknown keys \['formla'\]" "$work/typo.out" || fail "a bad task file: wrong message"

rm -r mine defs  # the report must not need the task files
step "kanbench-report failed without the task files" "$bin/kanbench-report" runs --out report

check='
import json, pathlib, sys
runs = [json.loads(p.read_text()) for p in pathlib.Path("runs/records").glob("*.json")]
tasks = {run["stages"][0]["task"]: run for run in runs}
assert sorted(tasks) == ["decay", "exp_sin_y2", "ripple"], f"records of {sorted(tasks)}"
assert all(run["status"] == "complete" for run in runs), "a run did not complete"
assert tasks["exp_sin_y2"]["config"]["task"] == {"name": "exp_sin_y2"}, "library task config"
for name in ("decay", "ripple"):
    task = tasks[name]["config"]["task"]
    assert task["formula"] and task["variables"], f"{name}: the record lacks its definition"
theory = pathlib.Path("report/report.md").read_text()
assert "| ripple | 1 |" in theory, "the report lacks the file task'"'"'s dimension"
'
"$py" -c "$check" >>"$log" 2>&1 || fail "$(tail -n 1 "$log")"
echo "wheel check: ok: a user's own task from the installed wheel, as --config-dir and as" \
    "task=path.yaml, single runs and a sweep, reported without its files ($((SECONDS - start)) s)"
rm -rf "$work"
