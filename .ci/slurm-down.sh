#!/usr/bin/env bash
# Stop the daemons that .ci/slurm-up.sh started, by the PIDs it recorded (and only those).
set -uo pipefail

DIR=${METPOT_SLURM_DIR:-/var/spool/metpot-slurm}
PIDS="$DIR/pids"
[ -s "$PIDS" ] || { echo "slurm-down: nothing recorded in $PIDS"; exit 0; }

# slurmd first, munged last (the others authenticate through it).
for name in slurmd slurmctld munged; do
    while read -r n pid; do
        [ "$n" = "$name" ] || continue
        # only a process that is still this daemon (a PID may have been reused)
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            kill -TERM "$pid"
            for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
            echo "slurm-down: stopped $name (pid $pid)"
        fi
    done <"$PIDS"
done
rm -f "$PIDS"
