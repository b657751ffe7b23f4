#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine (for tests/test_slurm.py and CI).
#
#   sudo .ci/slurm-up.sh        # installs Debian's slurmctld slurmd slurm-client munge if missing
#   .ci/slurm-down.sh           # stops the daemons this script started (by their recorded PIDs)
#
# Needs root (it writes /etc/slurm/slurm.conf and starts daemons). The cluster: one node
# `localhost` (127.0.0.1) with this machine's CPUs and memory, one partition `debug` (the
# default), no accounting (no slurmdbd: sacct has nothing to report), no cgroups
# (proctrack/linuxproc, task/none: works inside a container). Daemons run as root.
#
# State, logs and the PID file are in $METPOT_SLURM_DIR (default /var/spool/metpot-slurm):
#   pids             "<name> <pid>" for every daemon this script started (read by slurm-down.sh)
#   slurmctld.log    the controller's log (every sbatch submission is logged there)
#   slurmd.log       (munged logs to /var/log/munge/munged.log)
# If a SLURM cluster already answers (`sinfo` shows an idle node), nothing is changed.
# Exit status: 0 cluster up; 1 failure (the reason is printed); 2 not root.
set -uo pipefail

DIR=${METPOT_SLURM_DIR:-/var/spool/metpot-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by metpot .ci/slurm-up.sh"
WAIT=${METPOT_SLURM_WAIT:-60}

say() { echo "slurm-up: $*"; }
fail() {
    say "FAILED: $*"
    for f in "$DIR"/slurmctld.log "$DIR"/slurmd.log "$DIR"/munged.err /var/log/munge/munged.log; do
        [ -s "$f" ] && { echo "--- last lines of $f"; tail -n 15 "$f"; }
    done
    exit 1
}

node_idle() { timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null | grep -Eq '^localhost (idle|mixed|allocated)'; }

if command -v sinfo >/dev/null && node_idle; then
    say "a SLURM cluster is already up:"
    sinfo
    exit 0
fi

[ "$(id -u)" -eq 0 ] || { say "must run as root (it writes $CONF and starts daemons)"; exit 2; }

# --- packages -------------------------------------------------------------------------
need=()
for cmd in slurmctld slurmd sbatch munged; do command -v "$cmd" >/dev/null || need+=("$cmd"); done
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || fail "missing ${need[*]} and there is no apt-get"
    say "installing slurmctld slurmd slurm-client munge (missing: ${need[*]})"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q >/tmp/metpot-slurm-apt.log 2>&1 \
        || { tail -n 20 /tmp/metpot-slurm-apt.log; fail "apt-get update failed"; }
    # policy-rc.d may forbid starting services here: that is fine, this script starts them.
    timeout 600 apt-get install -y -q --no-install-recommends \
        slurmctld slurmd slurm-client munge >>/tmp/metpot-slurm-apt.log 2>&1 \
        || { tail -n 20 /tmp/metpot-slurm-apt.log; fail "apt-get install failed"; }
fi

# --- configuration ------------------------------------------------------------------------
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    fail "$CONF exists and was not written by this script: not overwriting a real cluster's config"
fi
mkdir -p "$DIR/ctld" "$DIR/d" /etc/slurm || fail "cannot create $DIR"

# This node's real CPUs and memory, as slurmd detects them (a node configured with more
# than it has is drained as "Low RealMemory"/"Low socket*core*thread count").
hw=$(slurmd -C 2>/dev/null | head -n 1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
if [ -n "$cpus" ] && [ -n "$mem" ]; then
    node=$(sed -e 's/^NodeName=[^ ]* //' <<<"$hw")
else
    node="CPUs=$(nproc) RealMemory=$(free -m | awk '/^Mem:/ {print $2}')"
fi

cat >"$CONF" <<EOF
$MARK: a one-node test cluster. Safe to delete.
ClusterName=metpot
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups in a container: track processes by parent PID, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# No accounting (no slurmdbd): sacct/sacctmgr have nothing; jobs are followed with squeue.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Keep finished jobs visible to squeue for 5 minutes: the snakemake SLURM plugin reads
# their final state there when there is no sacct (it needs MinJobAge >= 3 x its first
# status-check delay).
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
Waittime=0
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
say "wrote $CONF (node: $node)"

: >"$DIR/pids.new"
record() { echo "$1 $2" >>"$DIR/pids.new"; }

# --- munge --------------------------------------------------------------------------------
if ! (munge -n 2>/dev/null | unmunge >/dev/null 2>&1); then
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating a munge key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key || fail "mungekey failed"
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
        fi
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    # munged refuses a log file it does not own: its log stays in /var/log/munge.
    runuser -u munge -- munged --force --pid-file=/run/munge/munged.pid \
        2>"$DIR/munged.err" || true
    for _ in $(seq 20); do
        (munge -n | unmunge) >/dev/null 2>&1 && break
        sleep 0.5
    done
    (munge -n | unmunge) >/dev/null 2>&1 || fail "munged does not answer"
    record munged "$(cat /run/munge/munged.pid)"
    say "munged started (pid $(cat /run/munge/munged.pid))"
else
    say "munged already running: left alone"
fi

# --- slurmctld, slurmd ----------------------------------------------------------------------
start() { # name pidfile command...
    local name=$1 pidfile=$2
    shift 2
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        say "$name already running (pid $(cat "$pidfile")): left alone"
        return
    fi
    rm -f "$pidfile"
    "$@" || fail "$name did not start: $*"
    for _ in $(seq 40); do [ -s "$pidfile" ] && break; sleep 0.25; done
    [ -s "$pidfile" ] || fail "$name wrote no PID file $pidfile"
    record "$name" "$(cat "$pidfile")"
    say "$name started (pid $(cat "$pidfile"))"
}
# -c: clear any old job/node state (a fresh cluster each time); slurmd -N: the node name.
start slurmctld "$DIR/slurmctld.pid" slurmctld -c
start slurmd "$DIR/slurmd.pid" slurmd -N localhost
cat "$DIR/pids.new" >>"$DIR/pids" && rm -f "$DIR/pids.new"

# --- wait until the node takes jobs -----------------------------------------------------------
deadline=$((SECONDS + WAIT))
until node_idle; do
    if [ $SECONDS -ge $deadline ]; then
        sinfo -N -l 2>&1 | sed 's/^/  /'
        scontrol show node localhost 2>&1 | grep -E 'State|Reason' | sed 's/^/  /'
        fail "the node is not idle after ${WAIT}s"
    fi
    # a node left DOWN/DRAINED by an earlier run: bring it back
    scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
    sleep 1
done
say "up:"
sinfo
