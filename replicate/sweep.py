"""A sweep: which runs to train, grouped into units of work (the losses of a model and seed side by side), split
into shards, in what order and on which backend, with progress lines, the sweep's own files (``sweep.json``, the
provenance, the targets) and each run's status, so that the same command resumes an interrupted sweep and never
redoes a finished run.

The folder is a store that is trusted only as far as it checks out: a writer holds a lock (:mod:`replicate.lock`);
a finished run is reused only if its recorded config equals the requested one; a damaged status or checkpoint is
named and its run trained again. Each model trains on its own Keras backend (``config.backend_for``); a process can
hold one backend only, so the units of the other backend run in a child process (``python -m replicate.sweep``) on
the same folder, under the parent's lock, at the same time as the parent's own. Training one unit is
:mod:`replicate.train`'s job; metrics and the report come later, from the files.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from replicate import data, fileio, provenance
from replicate.config import RunConfig, SweepConfig, settings_digest, sweep_from_dict
from replicate.lock import SweepLock

#: The flag that lets a sweep replace finished runs made with other settings.
DISCARD_FLAG = "--discard-changed"
#: Seconds a child may take to stop on the terminal's Ctrl-C before the parent sends it one more.
CHILD_GRACE_S = 5.0


def run_status(run_dir: Path) -> str:
    """'done', 'failed', 'pending' (never started or interrupted) or 'damaged' (status.json unreadable)."""
    path = run_dir / "status.json"
    if not path.exists():
        return "pending"
    try:
        return str(fileio.read_json(path)["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return "damaged"


def write_sweep(out: Path, sweep: SweepConfig) -> None:
    """The sweep index: its config and every run's identity and path (each run's status is in its status.json)."""
    runs = [{"dataset": r.dataset, "model": r.model, "loss": r.loss, "seed": r.seed, "path": r.path}
            for r in sweep.runs()]
    fileio.write_json(out / "sweep.json", {"config": sweep.to_dict(), "runs": runs})


def provenance_path(out: Path, shard: tuple[int, int]) -> Path:
    """Where a shard records its provenance: ``provenance.json`` for a whole sweep."""
    return out / ("provenance.json" if shard == (1, 1) else f"provenance-shard-{shard[0]}-of-{shard[1]}.json")


def run_sweep(sweep: SweepConfig, out: str | os.PathLike, *, data_dir=None, argv: list[str] | None = None,
              log: Callable[[str], None] = print, fuse: bool = True, discard_changed: bool = False,
              shard: tuple[int, int] = (1, 1)) -> dict[str, int]:
    """Train every run of ``sweep`` (of shard ``i/n`` of it) under ``out``, skipping finished ones; return the
    :func:`tally` of the shard's runs.

    With ``fuse`` the losses of one model and seed train side by side in one model (``train.build_fused``), which
    gives each run the numbers it gets alone in less time; without it every run trains alone. Limits larger than
    the data are clamped to it, and the clamped values are what ``sweep.json`` records. A folder made with other
    settings is refused unless ``discard_changed``, which deletes the runs whose settings differ.
    """
    out = Path(out)
    train_u8, train_src = data.load_uint8(sweep.dataset, "train", data_dir=data_dir)
    test_u8, test_src = data.load_uint8(sweep.dataset, "test", data_dir=data_dir)
    sweep = _clamped(sweep, len(train_u8), len(test_u8), log)
    out.mkdir(parents=True, exist_ok=True)
    with SweepLock(out, *shard, log=log):
        units = units_of_shard(sweep.runs(), *shard, fuse=fuse)
        mine = [r for unit in units for r in unit]
        _check_settings(out, sweep, units, discard_changed, log)
        started_at = provenance.now()
        index = np.arange(len(test_u8))[: sweep.test_limit]
        fileio.write_npz(out / sweep.dataset / "targets.npz", images=test_u8[index], index=index)
        pending = pending_units(units, out)
        todo = [r for unit in pending for r in unit if run_status(out / r.path) != "done"]
        backends = list(dict.fromkeys(unit[0].backend for unit in pending))
        planned = list(dict.fromkeys(r.backend for r in mine))
        here = next((b for b in backends or planned if _can_run_here(b)), None)
        if here is not None:
            os.environ["KERAS_BACKEND"] = here  # before provenance, which asks this backend for the device
        for name, value in _GROW_GPU_MEMORY.items():  # this process and its children, which inherit them
            os.environ.setdefault(name, value)
        prov = provenance.collect(argv, " and ".join(planned))
        prov["data"] = {"train": train_src.to_dict(), "test": test_src.to_dict()}
        for src in prov["data"].values():  # keep the tree free of absolute paths
            src["path"] = Path(src["path"]).name
        prov.update(started=started_at, fused=fuse, shard=f"{shard[0]}/{shard[1]}",
                    settings_sha256=settings_digest(sweep.to_dict()), process=uuid.uuid4().hex)
        prov_path = provenance_path(out, shard)
        earlier = _earlier(prov_path, log)
        last = (earlier.get("earlier") or [{}])[-1]
        # A process with nothing to train leaves a finished record of these settings as it is.
        same = last.get("settings_sha256") == prov["settings_sha256"]
        write_record = bool(todo) or not (last.get("finished") and same)
        if write_record:
            prov.update(earlier)
            fileio.write_json(prov_path, prov)
        write_sweep(out, sweep)
        where = f" (shard {shard[0]}/{shard[1]}: {len(mine)} of {len(sweep.runs())})" if shard != (1, 1) else ""
        log(f"sweep {sweep.profile}: {len(mine)} runs{where} ({len(mine) - len(todo)} already done) on "
            f"{sweep.dataset}, device {prov['device']}, backend {' and '.join(backends) or sweep.backend}"
            + (", losses of a model and seed trained side by side" if fuse else ""))
        blocks, first = {}, 1
        for backend in backends:
            theirs = [unit for unit in pending if unit[0].backend == backend]
            count = sum(1 for unit in theirs for r in unit if r in todo)
            blocks[backend], first = (theirs, first, first + count - 1), first + count
        # The backends train at the same time, one process each: a small model leaves much of a core idle
        # (tracing, Python between steps), and the results do not depend on what else runs. The first child draws
        # the progress line: its backend (TensorFlow, the convolutional models) usually trains longest.
        children: list[tuple[subprocess.Popen, str]] = []
        previous = os.environ.get(provenance.PROCESS_ENV)
        os.environ[provenance.PROCESS_ENV] = prov["process"]  # each run's status.json names it; children inherit it
        try:
            for backend, (theirs, start, last) in blocks.items():
                if backend != here:
                    children.append(_start_child(theirs, out, backend, data_dir=data_dir, first=start, last=last,
                                                 total=len(todo), progress=not children))
            if here in blocks:
                theirs, start, last = blocks[here]
                train_units(theirs, out, data_dir=data_dir, log=log, first=start, last=last, total=len(todo),
                            progress=not children)
        except BaseException as err:
            _interrupt(children, already=isinstance(err, KeyboardInterrupt))
            raise
        finally:
            if previous is None:  # first: the children hold their own copy, and _wait may raise on a Ctrl-C
                os.environ.pop(provenance.PROCESS_ENV, None)
            else:
                os.environ[provenance.PROCESS_ENV] = previous
            codes = _wait(children)
        for code, backend in codes:
            _check_child(code, backend)
        if write_record:
            prov["finished"] = provenance.now()
            fileio.write_json(prov_path, prov)
        return tally(out, mine)


def _earlier(path: Path, log: Callable[[str], None]) -> dict:
    """``{"earlier": [...]}``: the records of the processes that wrote ``path`` before this one (a sweep interrupted
    and resumed, a requeued job, one run again with other settings), oldest first, so that no process's record is
    lost; {} if none."""
    if not path.exists():
        return {}
    try:
        old = fileio.read_json(path)
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        log(f"note: {path} is unreadable ({err}); the earlier processes' records in it are lost")
        return {}
    earlier = old.pop("earlier", None)
    return {"earlier": [*(earlier if isinstance(earlier, list) else []), old]}


def _check_registration(out: Path, recorded: dict, sweep: SweepConfig) -> None:
    """Refuse to change a folder's pre-registered endpoint or margin once any of its runs has finished: the finished
    runs would be judged by a rule chosen after them (``--discard-changed`` retrains runs, not the rule)."""
    asked = sweep.to_dict()
    changed = [k for k in ("endpoint", "margin") if k in recorded and recorded[k] != asked[k]]
    done = changed and sum(run_status(p.parent) == "done" for p in out.glob("*/*/*/seed*/status.json"))
    if done:
        was = " and ".join(f"{k} {recorded[k]}" for k in changed)
        flags = " ".join(f"--{k} {recorded[k]}" for k in changed)
        raise ValueError(f"{out} registered {was} before its runs trained, and {done} run(s) in it have finished; "
                         f"{DISCARD_FLAG} retrains runs but does not change the pre-registered judgement, which "
                         f"would then be chosen after the results. Rerun with {flags}, or train into another --out.")


def _check_settings(out: Path, sweep: SweepConfig, units: list[list[RunConfig]], discard: bool,
                    log: Callable[[str], None]) -> None:
    """Refuse a folder whose sweep or finished runs were made with other settings (or, with ``discard``, delete the
    runs whose recorded config differs); train again runs whose status.json is damaged."""
    index = out / "sweep.json"
    if index.exists():
        try:
            recorded = fileio.read_json(index)["config"]
            if not isinstance(recorded, dict):
                raise TypeError("not a JSON object")
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None
            log(f"note: {index} is unreadable; it is written again")
        if recorded is not None:
            _check_registration(out, recorded, sweep)
        if recorded is not None and recorded != sweep.to_dict() and not discard:
            fields = sorted(k for k in set(recorded) | set(sweep.to_dict()) if recorded.get(k) != sweep.to_dict().get(k))
            raise ValueError(f"{out} holds a sweep made with other settings ({', '.join(fields)} differ); resuming it "
                             f"would mix protocols. Rerun with the same options, pass another --out, or pass "
                             f"{DISCARD_FLAG} to delete the runs made with other settings and train them again.")
    changed = []
    for unit, cfg in ((u, c) for u in units for c in u):
        run_dir = out / cfg.path
        if run_status(run_dir) == "damaged":
            log(f"note: {run_dir / 'status.json'} is unreadable; the run is trained again")
            clean_run(run_dir)
            continue
        if not (run_dir / "config.json").exists():
            continue
        try:
            made = fileio.read_json(run_dir / "config.json")
        except (OSError, ValueError):
            made = {}
        if made != cfg.to_dict():
            fields = sorted(k for k in set(made) | set(cfg.to_dict()) if made.get(k) != cfg.to_dict().get(k))
            changed.append((cfg, fields, unit))
    if changed and not discard:
        shown = "; ".join(f"{c.path}: {', '.join(f)}" for c, f, _ in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ValueError(f"{len(changed)} run(s) in {out} were made with other settings ({shown}{more} differ); "
                         f"rerun with the same options, or pass {DISCARD_FLAG} to delete them and train them again.")
    for cfg, _, unit in changed:
        log(f"note: {cfg.path} was made with other settings; it is deleted and trained again")
        clean_run(out / cfg.path)
        if len(unit) > 1:
            shutil.rmtree(fuse_state(out, unit), ignore_errors=True)  # its checkpoint holds the old settings too


def _clamped(sweep: SweepConfig, n_train: int, n_test: int, log: Callable[[str], None]) -> SweepConfig:
    """The sweep with training and test limits no larger than the data (saying so when one is cut)."""
    limits = {m: (None if v is None or v >= n_train else v) for m, v in sweep.train_limit.items()}
    test = None if sweep.test_limit is None or sweep.test_limit >= n_test else sweep.test_limit
    cut = sorted({v for m, v in sweep.train_limit.items() if v is not None and v > n_train})
    if cut:
        log(f"note: --train-limit {', '.join(map(str, cut))} exceeds the {n_train:,} training images; all are used")
    if sweep.test_limit is not None and sweep.test_limit > n_test:
        log(f"note: --test-limit {sweep.test_limit} exceeds the {n_test:,} test images; all are used")
    return dataclasses.replace(sweep, train_limit=limits, test_limit=test)


def _can_run_here(backend: str) -> bool:
    """Whether this process can train on ``backend``: Keras is not loaded yet, or loaded with that backend."""
    if "keras" not in sys.modules:
        return True
    import keras

    return keras.backend.backend() == backend


@contextlib.contextmanager
def _compilation_cache(out: Path, backend: str = "jax"):
    """Keep JAX's compiled steps in the sweep folder (``.cache/jax``) while this process trains the sweep's units
    on JAX, so a model's later units (its other seeds, a resumed or sharded sweep) load them instead of compiling
    again: the same executable, so the same numbers. A cache the user configured (``JAX_COMPILATION_CACHE_DIR``)
    wins; afterwards the process has no cache again, so its next sweep keeps its steps in its own folder."""
    if backend != "jax":
        yield
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cache

    ours = jax.config.jax_compilation_cache_dir is None
    if ours:
        cache.set_cache_dir(str(out / ".cache" / "jax"))
        cache.reset_cache()  # JAX opens its cache at the first compilation, in the folder set then, and keeps it
    try:
        yield
    finally:
        if ours:
            cache.set_cache_dir(None)
            cache.reset_cache()


#: Both backends may share one GPU: each takes memory as it needs it instead of most of it up front (settings
#: the user made win).
_GROW_GPU_MEMORY = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


@contextlib.contextmanager
def _backend_only(backend: str):
    """Keep TensorFlow out of a process that trains on another backend and has not imported it: Keras would load
    it only to seed its generator and to check types when it saves a model, at 7 s of CPU and 0.5 GB per process
    (benchmarks/RESULTS.md); what the process computes and saves is the same. Keras remembers TensorFlow as absent
    for the rest of the process, and nothing inside may ask whether it is installed (``config.backend_for``)."""
    block = backend != "tensorflow" and "tensorflow" not in sys.modules
    if block:
        sys.modules["tensorflow"] = None  # `import tensorflow` now fails fast; Keras reads that as not installed
    try:
        yield
    finally:
        if block and sys.modules.get("tensorflow", False) is None:
            del sys.modules["tensorflow"]


def units_of_work(runs: list[RunConfig], fuse: bool) -> list[list[RunConfig]]:
    """The runs trained together, in sweep order: with ``fuse``, every fusable loss of one model and seed;
    otherwise one run each."""
    from replicate.train import fusable

    groups: dict[tuple, list[RunConfig]] = {}
    for cfg in runs:
        key = (cfg.model, cfg.seed) if fuse and fusable(cfg) else (cfg.model, cfg.seed, cfg.loss)
        groups.setdefault(key, []).append(cfg)
    return list(groups.values())


def shard_units(units: list[list[RunConfig]], index: int, count: int) -> list[list[RunConfig]]:
    """Shard ``index`` of ``count`` (1-based): every ``count``-th unit of work from the ``index``-th on, so a unit's
    side-by-side losses stay together and the split depends on the sweep alone."""
    if not 1 <= index <= count:
        raise ValueError(f"a shard is i/n with 1 <= i <= n, got {index}/{count}")
    return [unit for k, unit in enumerate(units) if k % count == index - 1]


def units_of_shard(runs: list[RunConfig], index: int, count: int, *, fuse: bool) -> list[list[RunConfig]]:
    """Shard ``index`` of ``count`` as units to train. The split is made on the side-by-side units whether or not
    ``fuse`` is set, so shards started with and without ``--one-by-one`` divide the sweep alike; without ``fuse``
    each run of a unit then trains alone."""
    units = shard_units(units_of_work(runs, fuse=True), index, count)
    return units if fuse else [[cfg] for unit in units for cfg in unit]


def fuse_state(out: Path, unit: list[RunConfig]) -> Path:
    """Where a unit keeps its checkpoint: the run's own folder, or one folder for losses trained side by side."""
    first = unit[0]
    return out / first.path if len(unit) == 1 else out / first.dataset / first.model / f"fused-seed{first.seed}"


def pending_units(units: list[list[RunConfig]], out: Path) -> list[list[RunConfig]]:
    """The units with runs left to train, each with the members to train together: those not done, or, where a
    checkpoint of the unit exists, the runs it holds (finished ones included), so that an interrupted unit resumes
    as it was and ends bit-identical to an uninterrupted one."""
    pending = []
    for unit in units:
        todo = [c for c in unit if run_status(out / c.path) != "done"]
        if not todo:
            continue
        members = todo
        ckpt = fuse_state(out, unit) / "checkpoint.json"
        if len(unit) > 1 and ckpt.exists():
            try:
                held = set(fileio.read_json(ckpt)["losses"])
            except (OSError, ValueError, KeyError, TypeError):
                held = set()  # unreadable: train.py removes it and starts these runs again
            if {c.loss for c in todo} <= held <= {c.loss for c in unit}:
                members = [c for c in unit if c.loss in held]
        pending.append(members)
    return pending


def train_units(units: list[list[RunConfig]], out: Path, *, data_dir=None, log: Callable[[str], None] = print,
                first: int = 1, last: int | None = None, total: int | None = None, progress: bool = True) -> None:
    """Train these units of the sweep in ``out``, in this process, printing a line per run: they are runs
    ``first`` to ``last`` of ``total``. ``progress``: draw a progress line on a terminal (one process at a time).
    Units on JAX keep TensorFlow out of the process and their compiled steps in the folder."""
    from replicate.train import not_the_runs_fault, train_side_by_side

    sweep = sweep_from_dict(fileio.read_json(out / "sweep.json")["config"])
    train = data.to_unit(data.load_uint8(sweep.dataset, "train", data_dir=data_dir)[0])
    test = data.to_unit(data.load_uint8(sweep.dataset, "test", data_dir=data_dir)[0])
    total = total or sum(len(u) for u in units)
    last = last or total
    backend = units[0][0].backend if units else ""  # the ETA is this process's: its backend's runs left
    tty = sys.stdout.isatty()
    lead = "\r\x1b[K" if tty and not progress else ""  # first clear the progress line another process draws
    progress = progress and tty
    spent: list[float] = []
    i = first - 1
    with _backend_only(backend), _compilation_cache(out, backend):
        for group in units:
            todo = [c for c in group if run_status(out / c.path) != "done"]
            start, i = i + 1, i + len(todo)
            label = f"[{start}/{total}]" if len(todo) == 1 else f"[{start}-{i}/{total}]"
            label += f" {group[0].model}/{'+'.join(c.loss for c in todo)} seed {group[0].seed}"
            eta = _eta(spent, last - start + 1)

            def on_epoch(epoch, rows, label=label, eta=eta, epochs=group[0].epochs):
                if progress:
                    row = next((r for r in rows if r), None) or {"loss": float("nan"), "val_loss": float("nan")}
                    print(f"\r{label} epoch {epoch}/{epochs} loss {row['loss']:.4f} val {row['val_loss']:.4f}"
                          f" | {backend} ETA {eta}", end="", flush=True)

            t0 = time.perf_counter()
            for cfg in todo:
                if run_status(out / cfg.path) == "failed":
                    clean_run(out / cfg.path)  # a failed run is redone from scratch
            dirs = [out / cfg.path for cfg in group]
            try:
                statuses = train_side_by_side(group, dirs, fuse_state(out, group), train, test, on_epoch)
            except Exception as err:  # one broken unit must not end the sweep; it is recorded and the rest go on
                if not_the_runs_fault(err):
                    raise  # its epochs are kept for the next command (a failed run is trained again from scratch)
                reason = fileio.relative(f"{type(err).__name__}: {err}", out)
                statuses = [{"status": "failed", "reason": reason, "epoch": None}] * len(group)
                for cfg, run_dir in zip(group, dirs):
                    if cfg in todo:
                        fileio.write_json(run_dir / "status.json", statuses[0])
            took = time.perf_counter() - t0
            spent += [took / len(todo)] * len(todo)
            if progress:
                print("\r", end="")
            for j, (cfg, status) in enumerate((c, s) for c, s in zip(group, statuses) if c in todo):
                if status["status"] == "done":
                    tail = (f"loss {status['final_loss']:.4f} val {status['final_val_loss']:.4f}"
                            f" ({status.get('stopped', 'done')})")
                    if status.get("screen", {}).get("verdict", "usable") != "usable":
                        tail += f" SCREENED OUT: {status['screen']['verdict']}"
                else:
                    tail = f"FAILED: {status['reason']}"
                log(f"{lead}[{start + j}/{total}] {cfg.model}/{cfg.loss} seed {cfg.seed} epoch "
                    f"{status.get('epoch')}/{cfg.epochs} {tail} "
                    f"({took:.1f}s{f' for {len(group)} losses' if len(group) > 1 else ''}) "
                    f"| {backend} ETA {_eta(spent, last - i)}")
            sys.stdout.flush()


def _start_child(units: list[list[RunConfig]], out: Path, backend: str, *, data_dir, first: int, last: int,
                 total: int, progress: bool) -> tuple[subprocess.Popen, str]:
    """Start training ``units`` in a child process on ``backend`` (a process holds one Keras backend), in this
    folder; ``progress``: it may draw the terminal's progress line (one process at a time does)."""
    spec = json.dumps([[c.path for c in unit] for unit in units])
    argv = [sys.executable, "-m", "replicate.sweep", str(out), "--first", str(first), "--last", str(last),
            "--total", str(total), "--units", spec, "--parent", str(os.getpid())]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    if not progress:
        argv.append("--no-progress")
    sys.stdout.flush()
    return subprocess.Popen(argv, env={**os.environ, "KERAS_BACKEND": backend}), backend


def _die_with_parent(parent: int) -> None:
    """In a child: be killed when the parent dies (Linux), or stop now if it already has. The sweep's lock is the
    parent's, so a child left behind would write to a folder that looks free. Runs survive a kill at any instant."""
    if sys.platform.startswith("linux") and os.getppid() == parent:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # checked after, as the parent may die before
        sys.exit(f"error: the sweep process {parent} that started this worker is gone; run the sweep again")


def _interrupt(children: list[tuple[subprocess.Popen, str]], already: bool) -> None:
    """Stop the children as Ctrl-C does (each saves nothing half-written; the same command resumes). ``already``:
    the stop was a Ctrl-C, which on a terminal reached them too, so only those still running after
    ``CHILD_GRACE_S`` get one more."""
    if already:
        deadline = time.monotonic() + CHILD_GRACE_S
        for child, _ in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for child, _ in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)


def _wait(children: list[tuple[subprocess.Popen, str]]) -> list[tuple[int, str]]:
    """Each child's exit status, once every child has exited, so that none outlives the sweep's lock. A stop
    meanwhile (Ctrl-C, a job's time limit) is passed on to them, a second one kills them; the first is raised
    once they are gone."""
    stop = None
    for child, _ in children:
        while child.returncode is None:
            try:
                child.wait()
            except BaseException as err:
                if stop is None:
                    stop = err
                    try:
                        _interrupt(children, already=isinstance(err, KeyboardInterrupt))
                        continue
                    except BaseException:  # a second stop while passing on the first
                        pass
                for other, _ in children:
                    if other.poll() is None:
                        other.kill()
    if stop is not None:
        raise stop
    return [(child.returncode, backend) for child, backend in children]


class WorkerError(RuntimeError):
    """A child process training one backend's units stopped with an error (its own output says which)."""


def _check_child(code: int, backend: str) -> None:
    if code == 130:
        raise KeyboardInterrupt
    if code != 0:
        raise WorkerError(f"the {backend} worker stopped with exit status {code}; run the same command again to "
                           "resume")


def tally(out: Path, runs: list[RunConfig]) -> dict[str, int]:
    """Counts of the sweep's runs: ``runs``, ``usable``, ``failed``, ``screened`` (collapsed or diverged, as the
    runner's screening in ``status.json`` says) and ``pending``."""
    counts = {"runs": len(runs), "usable": 0, "failed": 0, "screened": 0, "pending": 0}
    for r in runs:
        path = out / r.path / "status.json"
        try:
            status = fileio.read_json(path) if path.exists() else {"status": "pending"}
        except (OSError, ValueError):
            status = {"status": "failed"}
        if status.get("status") == "done":
            usable = status.get("screen", {}).get("verdict", "usable") == "usable"
            counts["usable" if usable else "screened"] += 1
        else:
            counts["failed" if status.get("status") == "failed" else "pending"] += 1
    return counts


def _eta(spent: list[float], remaining: int) -> str:
    if not spent:
        return "estimating"
    seconds = int(np.mean(spent) * remaining)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def clean_run(run_dir: Path) -> None:
    """Remove a run's directory (used to redo a failed run from scratch)."""
    shutil.rmtree(run_dir, ignore_errors=True)


def _worker(argv: list[str] | None = None) -> int:
    """Entry point of a child process: train the listed units of the sweep in a folder on this process's backend."""
    p = argparse.ArgumentParser(prog="python -m replicate.sweep", description=_worker.__doc__)
    p.add_argument("out")
    p.add_argument("--units", required=True, help="JSON list of units, each a list of run paths")
    p.add_argument("--first", type=int, default=1)
    p.add_argument("--last", type=int)
    p.add_argument("--total", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--no-progress", action="store_true", help="another process draws the progress line")
    p.add_argument("--parent", type=int, help="the sweep's process: this worker stops when it does")
    args = p.parse_args(argv)
    if args.parent is not None:
        _die_with_parent(args.parent)
    out = Path(args.out)
    runs = {r.path: r for r in sweep_from_dict(fileio.read_json(out / "sweep.json")["config"]).runs()}
    units = [[runs[path] for path in unit] for unit in json.loads(args.units)]
    try:
        train_units(units, out, data_dir=args.data_dir, first=args.first, last=args.last, total=args.total,
                    progress=not args.no_progress)
    except KeyboardInterrupt:
        return 130
    except OSError as err:  # a full disk, say: said once, without a traceback; the parent names this worker
        print(f"replicate run: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
