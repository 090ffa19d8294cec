#!/usr/bin/env bash
# A one-node Slurm cluster on this host, on loopback, for trying `replicate run --executor slurm` and for the
# slow test tests/test_slurm.py. Debian's slurm-wlm and munge; no accounting database, no cgroups.
#
# Usage (as root):
#   scripts/slurm-local.sh up      install slurm-wlm and munge if missing, write /etc/slurm/slurm.conf for this
#                                  host (partition "local", every CPU and most of the memory), start munged,
#                                  slurmctld and slurmd, and wait until `sinfo` shows the node idle
#   scripts/slurm-local.sh down    stop the three daemons and remove the slurm.conf this script wrote
#   scripts/slurm-local.sh status  sinfo and squeue
#
# Not as root, it prints the commands to run instead. An /etc/slurm/slurm.conf that this script did not write is
# never touched: `up` refuses to run beside a real cluster's configuration.
set -euo pipefail

PARTITION=${SLURM_LOCAL_PARTITION:-local}
STATE=${SLURM_LOCAL_STATE:-/var/tmp/slurm-local}
CONF=/etc/slurm/slurm.conf
MARK="# written by replicate scripts/slurm-local.sh"
HOST=$(hostname -s)

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-local: this needs root; run: sudo $0 ${1:-up}" >&2
  echo "  (it runs: apt-get install -y slurm-wlm munge; writes $CONF; starts munged, slurmctld and slurmd)" >&2
  exit 2
fi

ours() { [ -f "$CONF" ] && head -1 "$CONF" | grep -qxF "$MARK"; }

stop_daemon() {  # stop_daemon NAME PIDFILE: end the daemon whose pid the file holds, and wait for it
  local pid
  [ -f "$2" ] || return 0
  pid=$(cat "$2")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "stopped $1 (pid $pid)"
  fi
  rm -f "$2"
}

up() {
  local missing=()
  for pkg in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    # No init system starts the daemons here: this script does.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ -f "$CONF" ] && ! ours; then
    die "$CONF exists and was not written by this script; this host already has a Slurm configuration"
  fi

  # munge: a key, then the daemon as the munge user.
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
      || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged did not start (see /var/log/munge/munged.log)"
    mkdir -p "$STATE" && touch "$STATE/munged.ours"
    say "munged started"
  fi

  # slurm.conf: this node as slurmd sees it (CPUs, sockets, memory), on 127.0.0.1.
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  local node memory
  node=$(slurmd -C | head -1)
  memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  node=$(sed "s/RealMemory=[0-9]*/RealMemory=$((memory * 9 / 10))/" <<<"$node")
  cat >"$CONF" <<EOF
$MARK
ClusterName=replicate-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  say "wrote $CONF ($node)"

  if ! { [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; }; then
    slurmctld -i
    say "slurmctld started"
  fi
  if ! { [ -f "$STATE/slurmd.pid" ] && kill -0 "$(cat "$STATE/slurmd.pid")" 2>/dev/null; }; then
    slurmd
    say "slurmd started"
  fi
  for _ in $(seq 120); do
    if [ "$(sinfo -h -n "$HOST" -o %t 2>/dev/null)" = "idle" ]; then
      say "node $HOST idle in partition $PARTITION"
      sinfo
      return 0
    fi
    sleep 0.5
  done
  sinfo || true
  die "the node did not become idle within 60 s; see $STATE/slurmctld.log and $STATE/slurmd.log"
}

down() {
  if ours && command -v scancel >/dev/null; then
    scancel --partition="$PARTITION" 2>/dev/null || true
  fi
  stop_daemon slurmd "$STATE/slurmd.pid"
  stop_daemon slurmctld "$STATE/slurmctld.pid"
  if [ -f "$STATE/munged.ours" ]; then  # only a munged that `up` started
    stop_daemon munged /run/munge/munged.pid
    rm -f "$STATE/munged.ours"
  fi
  if ours; then
    rm -f "$CONF"
    say "removed $CONF"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
