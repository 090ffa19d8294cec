"""A sweep: which runs to train, grouped into units of work (the losses of a model and seed side by side), in
what order and on which backend, with progress lines, the sweep's own files (``sweep.json``, ``provenance.json``,
the targets) and each run's status, so that the same command resumes an interrupted sweep and never redoes a
finished run.

Each model trains on its own Keras backend (``config.backend_for``); a process can hold one backend only, so the
units of the other backend run in a child process (``python -m replicate.sweep``) on the same folder. Training one
unit is :mod:`replicate.train`'s job; metrics and the report come later, from the files.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from replicate import data, fileio, provenance
from replicate.config import RunConfig, SweepConfig, sweep_from_dict


def run_status(run_dir: Path) -> str:
    """'done', 'failed' or 'pending' (never started or interrupted)."""
    path = run_dir / "status.json"
    return fileio.read_json(path)["status"] if path.exists() else "pending"


def write_sweep(out: Path, sweep: SweepConfig) -> None:
    """The sweep index: its config and every run's path and status."""
    runs = [{"dataset": r.dataset, "model": r.model, "loss": r.loss, "seed": r.seed, "path": r.path,
             "status": run_status(out / r.path)} for r in sweep.runs()]
    fileio.write_json(out / "sweep.json", {"config": sweep.to_dict(), "runs": runs})


def run_sweep(sweep: SweepConfig, out: str | os.PathLike, *, data_dir=None, argv: list[str] | None = None,
              log: Callable[[str], None] = print, fuse: bool = True) -> dict[str, int]:
    """Train every run of ``sweep`` under ``out`` (skipping finished ones); return how many runs there are, how
    many failed and how many finished but were screened out (collapsed or diverged), as :func:`tally` counts.

    With ``fuse`` the losses of one model and seed train side by side in one model (``train.build_fused``), which
    gives each run the numbers it gets alone in less time; without it every run trains alone. Limits larger than
    the data are clamped to it, and the clamped values are what ``sweep.json`` records.
    """
    out = Path(out)
    train_u8, train_src = data.load_uint8(sweep.dataset, "train", data_dir=data_dir)
    test_u8, test_src = data.load_uint8(sweep.dataset, "test", data_dir=data_dir)
    sweep = _clamped(sweep, len(train_u8), len(test_u8), log)
    if (out / "sweep.json").exists() and fileio.read_json(out / "sweep.json")["config"] != sweep.to_dict():
        raise ValueError(f"{out} holds a sweep made with other settings; resuming it would mix protocols. Rerun "
                         "with the same options, or pass another --out (or delete the folder) to start afresh.")
    out.mkdir(parents=True, exist_ok=True)
    started_at = provenance.now()
    index = np.arange(len(test_u8))[: sweep.test_limit]
    fileio.write_npz(out / sweep.dataset / "targets.npz", images=test_u8[index], index=index)
    prov = provenance.collect(argv)
    prov["data"] = {"train": train_src.to_dict(), "test": test_src.to_dict()}
    for src in prov["data"].values():  # keep the tree free of absolute paths
        src["path"] = Path(src["path"]).name
    prov["started"] = started_at
    prov["fused"] = fuse
    fileio.write_json(out / "provenance.json", prov)
    write_sweep(out, sweep)

    runs = sweep.runs()
    todo = [r for r in runs if run_status(out / r.path) != "done"]
    backends = list(dict.fromkeys(r.backend for r in todo))
    log(f"sweep {sweep.profile}: {len(runs)} runs ({len(runs) - len(todo)} already done) on {sweep.dataset}, "
        f"device {prov['device']}, backend {' and '.join(backends) or sweep.backend}"
        + (", losses of a model and seed trained side by side" if fuse else ""))
    first = 1
    for backend in backends:
        mine = [r for r in todo if r.backend == backend]
        if _can_run_here(backend):
            os.environ["KERAS_BACKEND"] = backend
            train_units(mine, out, data_dir=data_dir, fuse=fuse, log=log, first=first, total=len(todo))
        else:
            _train_in_child(mine, out, backend, data_dir=data_dir, fuse=fuse, first=first, total=len(todo))
        first += len(mine)
    write_sweep(out, sweep)
    prov["finished"] = provenance.now()
    fileio.write_json(out / "provenance.json", prov)
    return tally(out, runs)


def tally(out: Path, runs: list[RunConfig]) -> dict[str, int]:
    """Counts of the sweep's runs: ``runs``, ``usable``, ``failed`` and ``screened`` (collapsed or diverged, as the
    runner's screening in ``status.json`` says)."""
    counts = {"runs": len(runs), "usable": 0, "failed": 0, "screened": 0, "pending": 0}
    for r in runs:
        path = out / r.path / "status.json"
        status = fileio.read_json(path) if path.exists() else {"status": "pending"}
        if status["status"] == "done":
            usable = status.get("screen", {}).get("verdict", "usable") == "usable"
            counts["usable" if usable else "screened"] += 1
        else:
            counts["failed" if status["status"] == "failed" else "pending"] += 1
    return counts


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


def train_units(todo: list[RunConfig], out: Path, *, data_dir=None, fuse: bool = True,
                log: Callable[[str], None] = print, first: int = 1, total: int | None = None) -> None:
    """Train the runs ``todo`` of the sweep in ``out``, unit by unit, in this process, printing a line per run."""
    from replicate.train import train_side_by_side

    sweep = sweep_from_dict(fileio.read_json(out / "sweep.json")["config"])
    train = data.to_unit(data.load_uint8(sweep.dataset, "train", data_dir=data_dir)[0])
    test = data.to_unit(data.load_uint8(sweep.dataset, "test", data_dir=data_dir)[0])
    total = total or len(todo)
    spent: list[float] = []
    i = first - 1
    for group in units_of_work(todo, fuse):
        start, i = i + 1, i + len(group)
        label = f"[{start}/{total}]" if len(group) == 1 else f"[{start}-{i}/{total}]"
        label += f" {group[0].model}/{'+'.join(c.loss for c in group)} seed {group[0].seed}"
        eta = _eta(spent, total - start + 1)

        def on_epoch(epoch, rows, label=label, eta=eta, epochs=group[0].epochs):
            if sys.stdout.isatty():
                row = next((r for r in rows if r), None) or {"loss": float("nan"), "val_loss": float("nan")}
                print(f"\r{label} epoch {epoch}/{epochs} loss {row['loss']:.4f} val {row['val_loss']:.4f}"
                      f" | sweep ETA {eta}", end="", flush=True)

        t0 = time.perf_counter()
        for cfg in group:
            if run_status(out / cfg.path) == "failed":
                clean_run(out / cfg.path)  # a failed run is redone from scratch
        dirs = [out / cfg.path for cfg in group]
        state = dirs[0] if len(group) == 1 else out / group[0].dataset / group[0].model / f"fused-seed{group[0].seed}"
        try:
            statuses = train_side_by_side(group, dirs, state, train, test, on_epoch)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # one broken run must not end the sweep; it is recorded and the rest go on
            statuses = [{"status": "failed", "reason": f"{type(err).__name__}: {err}", "epoch": None}] * len(group)
            for run_dir in dirs:
                fileio.write_json(run_dir / "status.json", statuses[0])
        took = time.perf_counter() - t0
        spent += [took / len(group)] * len(group)
        if sys.stdout.isatty():
            print("\r", end="")
        for j, (cfg, status) in enumerate(zip(group, statuses)):
            if status["status"] == "done":
                tail = (f"loss {status['final_loss']:.4f} val {status['final_val_loss']:.4f}"
                        f" ({status.get('stopped', 'done')})")
                if status.get("screen", {}).get("verdict", "usable") != "usable":
                    tail += f" SCREENED OUT: {status['screen']['verdict']}"
            else:
                tail = f"FAILED: {status['reason']}"
            log(f"[{start + j}/{total}] {cfg.model}/{cfg.loss} seed {cfg.seed} epoch {status.get('epoch')}/"
                f"{cfg.epochs} {tail} ({took:.1f}s{f' for {len(group)} losses' if len(group) > 1 else ''}) "
                f"| sweep ETA {_eta(spent, total - i)}")
        sys.stdout.flush()


def _train_in_child(todo: list[RunConfig], out: Path, backend: str, *, data_dir, fuse: bool, first: int,
                    total: int) -> None:
    """Train ``todo`` in a child process on ``backend`` (a process holds one Keras backend), in this folder."""
    argv = [sys.executable, "-m", "replicate.sweep", str(out), "--first", str(first), "--total", str(total),
            "--paths", *[r.path for r in todo]]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    if not fuse:
        argv.append("--one-by-one")
    sys.stdout.flush()
    code = subprocess.run(argv, env={**os.environ, "KERAS_BACKEND": backend}).returncode
    if code == 130:
        raise KeyboardInterrupt
    if code != 0:
        raise RuntimeError(f"the {backend} worker for {len(todo)} run(s) stopped with exit status {code}; run the "
                           "same command again to resume")


def units_of_work(todo: list[RunConfig], fuse: bool) -> list[list[RunConfig]]:
    """The runs trained together, in sweep order: with ``fuse``, every fusable loss of one model and seed;
    otherwise one run each."""
    from replicate.train import fusable

    groups: dict[tuple, list[RunConfig]] = {}
    for cfg in todo:
        key = (cfg.model, cfg.seed) if fuse and fusable(cfg) else (cfg.model, cfg.seed, cfg.loss)
        groups.setdefault(key, []).append(cfg)
    return list(groups.values())


def _eta(spent: list[float], remaining: int) -> str:
    if not spent:
        return "estimating"
    seconds = int(np.mean(spent) * remaining)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def clean_run(run_dir: Path) -> None:
    """Remove a run's directory (used to redo a failed run from scratch)."""
    shutil.rmtree(run_dir, ignore_errors=True)


def _worker(argv: list[str] | None = None) -> int:
    """Entry point of a child process: train the listed runs of the sweep in a folder on this process's backend."""
    p = argparse.ArgumentParser(prog="python -m replicate.sweep", description=_worker.__doc__)
    p.add_argument("out")
    p.add_argument("--paths", nargs="+", required=True)
    p.add_argument("--first", type=int, default=1)
    p.add_argument("--total", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--one-by-one", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    sweep = sweep_from_dict(fileio.read_json(out / "sweep.json")["config"])
    wanted = set(args.paths)
    todo = [r for r in sweep.runs() if r.path in wanted]
    try:
        train_units(todo, out, data_dir=args.data_dir, fuse=not args.one_by_one, first=args.first, total=args.total)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
