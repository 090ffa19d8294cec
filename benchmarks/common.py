"""What every benchmark shares: interleaved timed repetitions after a warm-up, their medians and paired ratios,
the machine they ran on, and one JSON of figures per benchmark under ``benchmarks/results/``."""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Callable

from replicate import fileio, provenance

#: Where the figures go; ``run_all.py --quick`` points it elsewhere so a check never replaces measured figures.
RESULTS = Path(os.environ.get("REPLICATE_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def parser(doc: str, repeats: int = 5) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--repeats", type=int, default=repeats, help=f"timed repetitions per contender (default {repeats})")
    return p


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def runner_epochs(cfgs, x_train, x_test, stamp: Callable[[], object] = time.perf_counter) -> list:
    """Train ``cfgs`` (the losses of one model and seed) with the runner (``train.train_side_by_side``) into a
    temporary folder; return ``stamp()`` taken before training and at the end of every epoch."""
    import tempfile

    from replicate import train

    train.clear_compiled()  # every call builds and traces its model, as a sweep's first seed does
    marks = [stamp()]
    with tempfile.TemporaryDirectory() as out:
        train.train_side_by_side(cfgs, [f"{out}/{c.loss}" for c in cfgs], f"{out}/state", x_train, x_test,
                                 lambda epoch, rows: marks.append(stamp()))
    return marks


def interleaved(contenders: dict[str, Callable[[], float]], repeats: int,
                warmup: Callable[[], object] | None = None) -> dict[str, list[float]]:
    """Seconds per repetition of each contender, run in turn (A B C A B C ...) so that drifting load on the machine
    hits all alike. Each contender returns its own seconds. ``warmup`` runs first, untimed."""
    if warmup:
        warmup()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(fn())
    return times


def ratio(times: dict[str, list[float]], num: str, den: str) -> dict:
    """``num / den``: the ratio of medians, and the median and range of the per-repetition (paired) ratios."""
    paired = [a / b for a, b in zip(times[num], times[den])]
    return {"of_medians": round(statistics.median(times[num]) / statistics.median(times[den]), 4),
            "paired_median": round(statistics.median(paired), 4),
            "paired_min": round(min(paired), 4), "paired_max": round(max(paired), 4)}


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: round(statistics.median(ts), 4) for name, ts in times.items()}


def machine() -> dict:
    """Where and with what the figures were measured."""
    import keras

    return {"date": provenance.now(), "device": provenance.device(), "cpu": provenance.cpu_name(),
            "backend": keras.backend.backend(), "versions": provenance.versions(),
            "git": provenance.git_state(Path(__file__).resolve().parent)}


def save(name: str, figures: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the figures and the machine, and say where."""
    path = fileio.write_json(RESULTS / f"{name}.json", {"benchmark": name, **figures, "machine": machine()})
    print(f"figures: {path}")
    return path
