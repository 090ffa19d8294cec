"""Locks on a sweep folder: while a process writes to a folder it holds a lock file naming its host, process id and
start time (and, on Linux, what tells it from a later process with the same id), so a second writer is refused with a
message that says who holds it. A lock left by a process that is no longer running on this host, or by an earlier run
of the same Slurm job (requeued, perhaps onto another node: Slurm counts the restarts), is stale and taken over,
saying so. A lock from another host, or from another PID namespace with this host name (another container), is taken
to be live. Processes of one run of a job (shards started in one allocation) are told apart like any others. Shards
of one sweep (``i/n``) lock separately and may write to the same folder at once; any other overlap is refused."""
from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

from replicate import provenance

LOCKS = ".locks"


class LockedError(ValueError):
    """Another live process writes to the folder (the message names it)."""


class SweepLock:
    """The lock of shard ``index`` of ``count`` (1/1: the whole sweep) on folder ``out``; a context manager."""

    def __init__(self, out: str | os.PathLike, index: int = 1, count: int = 1, log=print):
        self.dir = Path(out) / LOCKS
        self.path = self.dir / f"shard-{index}-of-{count}.json"
        self.index, self.count, self.log = index, count, log

    def __enter__(self) -> "SweepLock":
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": provenance.now(),
              "shard": f"{self.index}/{self.count}"}
        identity = _identity(os.getpid())
        if identity:
            me["process"], me["pid_namespace"] = identity, _pid_namespace()
        if os.environ.get("SLURM_JOB_ID"):
            me["slurm_job"], me["slurm_restart"] = os.environ["SLURM_JOB_ID"], _restarts()
        for _ in range(3):
            if self._create(me):
                break
            holder = _read(self.path)
            if _alive(holder):
                raise LockedError(f"{self.path.parent.parent} is being written by {_who(holder)} (shard "
                                  f"{holder.get('shard', '?')}); wait for it to finish, or stop it first. If it "
                                  f"is no longer running on its host, delete {self.path}.")
            if _take_away(self.path, holder):
                self.log(f"note: removed a stale lock of {_who(holder)}, which is no longer running")
        else:
            raise LockedError(f"could not take the lock {self.path}; another process keeps taking it")
        for other in self.dir.glob("shard-*.json"):
            holder = _read(other)
            if other == self.path:
                continue
            if not _alive(holder):
                if _take_away(other, holder):
                    self.log(f"note: removed a stale lock of {_who(holder)} (shard {holder.get('shard', '?')}), "
                             "which is no longer running")
                continue
            if self.count == 1 or holder.get("shard", "").split("/")[-1] != str(self.count):
                self.path.unlink(missing_ok=True)
                raise LockedError(f"{self.path.parent.parent} is being written by {_who(holder)} as shard "
                                  f"{holder.get('shard')}, which overlaps shard {self.index}/{self.count}; run all "
                                  "shards of a sweep with the same count, or wait for it to finish. If it is no "
                                  f"longer running on its host, delete {other}.")
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass  # other shards still hold locks here

    def _create(self, me: dict) -> bool:
        """Write the lock whole, then link it into place: False if one is there already."""
        for _ in range(10):
            self.dir.mkdir(parents=True, exist_ok=True)
            try:  # the folder stays once our file is in it; before that, a shard that finishes may remove it
                fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".lock.", suffix=".tmp")
                break
            except FileNotFoundError:
                continue
        else:
            raise LockedError(f"could not write a lock into {self.dir}: other processes keep removing the folder")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)


def writers(out: str | os.PathLike) -> list[str]:
    """Who writes to folder ``out`` now: each live lock's holder, shard and file, in words."""
    held = ((p, _read(p)) for p in sorted((Path(out) / LOCKS).glob("shard-*.json")))
    return [f"{_who(h)} as shard {h.get('shard', '?')} (lock {p})" for p, h in held if _alive(h)]


def _take_away(path: Path, stale: dict) -> bool:
    """Remove the lock at ``path`` if it is still the one judged ``stale``: renamed first (one process wins), then
    read; a lock another process wrote there in the meantime is put back. Whether this call removed it."""
    moved = path.with_name(f".stale.{socket.gethostname()}.{os.getpid()}.{path.name}")
    try:
        os.replace(path, moved)
    except FileNotFoundError:
        return False  # another process took it away first
    try:
        if _read(moved) == stale:
            return True
        try:
            os.link(moved, path)  # a live lock written after ours was judged stale: put it back
        except FileExistsError:
            pass
        return False
    finally:
        moved.unlink(missing_ok=True)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _alive(holder: dict) -> bool:
    """Whether the lock's process still runs (on another host it is assumed to, unless it was an earlier run of this
    very Slurm job: Slurm runs one instance of a job at a time, and a requeued one has a higher restart count)."""
    if not holder:
        return False
    same_job = holder.get("slurm_job") and holder["slurm_job"] == os.environ.get("SLURM_JOB_ID")
    if same_job and str(holder.get("slurm_restart", "0")) != _restarts():
        return False
    if holder.get("host") != socket.gethostname():
        return True
    if holder.get("pid_namespace", _pid_namespace()) != _pid_namespace():
        return True  # another container with this host name (or this one before a restart): not ours to look up
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    now = _identity(int(holder["pid"]))  # the id may have been reused (after a reboot, say)
    return not (holder.get("process") and now and now != holder["process"])


def _pid_namespace() -> str | None:
    """This process's PID namespace (Linux), within which process ids are unique; None where it cannot be read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _identity(pid: int) -> str | None:
    """What tells process ``pid`` from a later one with the same id: the boot and its start time since boot (Linux's
    /proc); None where that cannot be read."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, starttime; the name may hold spaces
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _restarts() -> str:
    """How often Slurm restarted (requeued) this job; it sets the variable only once it has."""
    return os.environ.get("SLURM_RESTART_COUNT", "0")


def _who(holder: dict) -> str:
    return f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} (since {holder.get('started', '?')})"
