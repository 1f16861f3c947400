#!/usr/bin/env bash
# A single-node SLURM on this machine, for kanbench's cluster-path tests (needs root, Debian).
#
#   .ci/slurm.sh start    install slurm-wlm and munge if missing, start munged, slurmctld and
#                         slurmd, and wait until `sinfo` shows the node idle
#   .ci/slurm.sh stop     stop the daemons this script started, by their pid files
#   .ci/slurm.sh status   print `sinfo` if the daemons answer
#
# State, spool, logs, pid files and munge's socket live in one scratch folder,
# $KANBENCH_SLURM_DIR (default /tmp/kanbench-slurm). The config goes to
# /etc/slurm/slurm.conf (where sinfo, sbatch and submitit look without further setup); an
# existing one that this script did not write is left alone and start stops with an error.
# Starting twice is harmless: daemons that are already running are kept. There is one such
# SLURM per machine (its ports and config are global), so `stop` ends it for every user.
set -euo pipefail

scratch="${KANBENCH_SLURM_DIR:-/tmp/kanbench-slurm}"
conf=/etc/slurm/slurm.conf
marker="# written by kanbench .ci/slurm.sh"
ready_timeout="${KANBENCH_SLURM_TIMEOUT:-60}"

die() {
    echo "slurm.sh: error: $*" >&2
    exit 1
}

running() {  # running PIDFILE: the process named in PIDFILE is alive
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sinfo >/dev/null && command -v munged >/dev/null; then
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "slurm-wlm and munge are missing and installing them needs root"
    echo "slurm.sh: installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    if [ -e "$conf" ] && ! grep -qF "$marker" "$conf"; then
        die "$conf exists and was not written by this script; not touching it"
    fi
    local cpus mem_mb
    cpus="$(nproc)"
    # the node offers 90% of the machine's memory: slurmd refuses a node that claims more
    mem_mb="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
    mkdir -p /etc/slurm
    cat >"$conf" <<EOF
$marker (state under $scratch)
ClusterName=kanbench
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$scratch/munge/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/log/slurmctld.log
SlurmdLogFile=$scratch/log/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    local dir="$scratch/munge"
    if running "$dir/munged.pid"; then
        return
    fi
    mkdir -p "$dir"
    chown munge:munge "$dir"
    chmod 711 "$dir"  # munged wants others to reach its socket
    if [ ! -s "$dir/munge.key" ]; then
        if [ -s /etc/munge/munge.key ]; then
            cp /etc/munge/munge.key "$dir/munge.key"
        else
            dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
        fi
        chown munge:munge "$dir/munge.key"
        chmod 400 "$dir/munge.key"
    fi
    runuser -u munge -- munged \
        --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
        --seed-file="$dir/munged.seed"
    munge -n --socket="$dir/munge.socket" | unmunge --socket="$dir/munge.socket" >/dev/null ||
        die "munge does not answer; see $dir/munged.log"
}

wait_idle() {
    local waited=0 state
    while :; do
        state="$(sinfo --noheader --nodes=localhost --format=%T 2>/dev/null || true)"
        case "$state" in
        idle | mixed | allocated) break ;;
        esac
        if [ "$waited" -ge "$ready_timeout" ]; then
            die "the node is not idle after ${ready_timeout}s (sinfo: '${state:-no answer}');" \
                "see $scratch/log/"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "slurm.sh: SLURM is up after ${waited}s (state under $scratch)"
    sinfo
}

start() {
    install_packages
    mkdir -p "$scratch/state" "$scratch/spool" "$scratch/log"
    write_config
    start_munge
    # a fresh controller forgets old jobs and node states (-c): the node counts as up only
    # once its slurmd has registered
    running "$scratch/slurmctld.pid" || slurmctld -c
    running "$scratch/slurmd.pid" || slurmd
    wait_idle
}

stop() {
    local name pidfile pid
    for name in slurmd slurmctld munge/munged; do
        pidfile="$scratch/$name.pid"
        if running "$pidfile"; then
            pid="$(cat "$pidfile")"
            kill "$pid"
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                echo "slurm.sh: $name (pid $pid) did not stop; killing it" >&2
                kill -9 "$pid" 2>/dev/null || true
            fi
            echo "slurm.sh: stopped $name (pid $pid)"
        fi
        rm -f "$pidfile"
    done
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) sinfo ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
