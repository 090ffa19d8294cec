"""A sweep: which runs to train, grouped into units of work (the losses of a model and seed side by side), in
what order, with progress lines, the sweep's own files (``sweep.json``, ``provenance.json``, the targets) and
each run's status, so that the same command resumes an interrupted sweep and never redoes a finished run.

Training one unit is :mod:`replicate.train`'s job; metrics and the report come later, from the files.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from replicate import data, fileio, provenance
from replicate.config import RunConfig, SweepConfig
from replicate.train import fusable, train_side_by_side


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
              log: Callable[[str], None] = print, fuse: bool = True) -> int:
    """Train every run of ``sweep`` under ``out`` (skipping finished ones); return how many failed.

    With ``fuse`` the losses of one model and seed train side by side in one model (``train.build_fused``), which
    gives each run the numbers it gets alone in less time; without it every run trains alone.
    """
    out = Path(out)
    if (out / "sweep.json").exists() and fileio.read_json(out / "sweep.json")["config"] != sweep.to_dict():
        raise ValueError(f"{out} holds a sweep made with other settings; resuming it would mix protocols. Rerun "
                         "with the same options, or pass another --out (or delete the folder) to start afresh.")
    out.mkdir(parents=True, exist_ok=True)
    started_at = provenance.now()
    train_u8, train_src = data.load_uint8(sweep.dataset, "train", data_dir=data_dir)
    test_u8, test_src = data.load_uint8(sweep.dataset, "test", data_dir=data_dir)
    train, test = data.to_unit(train_u8), data.to_unit(test_u8)
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
    log(f"sweep {sweep.profile}: {len(runs)} runs ({len(runs) - len(todo)} already done) on {sweep.dataset}, "
        f"device {prov['device']}" + (", losses of a model and seed trained side by side" if fuse else ""))
    failed, spent, i = 0, [], 0
    for group in units_of_work(todo, fuse):
        first, i = i + 1, i + len(group)
        label = f"[{first}/{len(todo)}]" if len(group) == 1 else f"[{first}-{i}/{len(todo)}]"
        label += f" {group[0].model}/{'+'.join(c.loss for c in group)} seed {group[0].seed}"
        eta = _eta(spent, len(todo) - first + 1)

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
        state = dirs[0] if len(group) == 1 else out / sweep.dataset / group[0].model / f"fused-seed{group[0].seed}"
        try:
            statuses = train_side_by_side(group, dirs, state, train, test, on_epoch)
        except KeyboardInterrupt:
            write_sweep(out, sweep)
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
            failed += status["status"] == "failed"
            tail = (f"loss {status['final_loss']:.4f} val {status['final_val_loss']:.4f}"
                    if status["status"] == "done" else f"FAILED: {status['reason']}")
            log(f"[{first + j}/{len(todo)}] {cfg.model}/{cfg.loss} seed {cfg.seed} epoch {status.get('epoch')}/"
                f"{cfg.epochs} {tail} ({took:.1f}s{f' for {len(group)} losses' if len(group) > 1 else ''}) "
                f"| sweep ETA {_eta(spent, len(todo) - i)}")
        write_sweep(out, sweep)
    prov["finished"] = provenance.now()
    fileio.write_json(out / "provenance.json", prov)
    return failed


def units_of_work(todo: list[RunConfig], fuse: bool) -> list[list[RunConfig]]:
    """The runs trained together, in sweep order: with ``fuse``, every fusable loss of one model and seed;
    otherwise one run each."""
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
