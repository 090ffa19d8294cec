"""Reading a sweep folder into run records: each run's status, learning curve, per-image metrics (cached as
``metrics.npz``), screening verdict and training facts; then the seed aggregates and the paired comparisons with
BCE, over the usable runs only. Files that fail to parse are reported by name, never as tracebacks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from replicate import config, convergence, metrics, theory, vocabulary
from replicate.analysis import screening
from replicate.analysis.stats import paired_test, t_interval, wilcoxon_test
from replicate.fileio import read_json, read_npz, relative, write_npz
from replicate.vocabulary import BASELINE

#: Summary metric -> per-image metric used for its image-level test (None: no per-image version).
COMPARED = {
    "ssim": "ssim",
    "psnr_mean_of_images": "psnr",
    "rmse": None,
    "rmse_midtone": "rmse_midtone",
    "rmse_extreme": "rmse_extreme",
    "midtone_extreme_rmse_ratio": None,
    "midtone_zero_rmse_ratio": None,
    "midtone_open_extreme_rmse_ratio": None,
    "midtone_one_rmse_ratio": None,
    "ssim_midtone": "ssim_midtone",
    "sharpness": "sharpness",
    "sharpness_midtone": "sharpness_midtone",
    "edge_transfer": "edge_transfer",
    "edge_transfer_midtone": "edge_transfer_midtone",
    "hf_energy_ratio": "hf_energy_ratio",
}
BAND_QUANTITIES = ("rmse", "bias", "pixel_share", "sq_error_share")
IDENTITY = ("dataset", "model", "loss", "seed")


class ArtifactError(ValueError):
    """A sweep file that cannot be read or makes no sense; the message names it and says what to do."""


def read_artifact(path: Path, what: str, keys: tuple[str, ...] = ()) -> dict:
    """A JSON artifact as a dict with ``keys``, or an :class:`ArtifactError` naming the file."""
    try:
        value = read_json(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path} ({what}) cannot be read: {err}") from err
    missing = [k for k in keys if not isinstance(value, dict) or k not in value]
    if not isinstance(value, dict) or missing:
        raise ArtifactError(f"{path} ({what}) lacks {', '.join(missing) or 'its fields'}")
    return value


def collect(sweep: Path, spec: dict, targets: dict[str, np.ndarray], force: bool,
            progress=None) -> tuple[dict, dict]:
    """The sweep's runs: usable ones (records), screened-out ones, and those that did not finish; plus each usable
    run's per-image values for the image-level tests. ``targets``: each dataset's uint8 test images (read by
    :func:`load_targets`); ``progress(done, total)`` is called after each run."""
    out = {"runs": [], "screened": [], "missing": []}
    images = {}
    planned = _planned(spec)
    computed = _compute_metrics_in_parallel(sweep, spec, targets, force, progress)
    for i, entry in enumerate(spec["runs"]):
        if progress and i and spec["runs"][i - 1]["path"] not in computed:
            progress(i, len(spec["runs"]))
        ident = {k: entry[k] for k in IDENTITY}
        ident["path"] = entry["path"]
        run_dir = sweep / entry["path"]
        state, reason, status = _status(run_dir, entry)
        differ = _differs(run_dir, planned.get(entry["path"])) if state == "done" else None
        if differ:
            state, reason = "other settings", (f"made with other settings than the sweep's ({', '.join(differ)} "
                                               "differ), by a shard run with others, say; run the sweep's command "
                                               "with --discard-changed to train it again")
        if state == "done":
            dataset = entry["dataset"]
            try:
                verify_artifacts(run_dir, status)
                per_image = run_metrics(run_dir, targets[dataset], force and entry["path"] not in computed)
                record = run_record(ident, status, run_dir, per_image, targets[dataset])
            except _NonFinite:
                out["screened"].append({**ident, "backend": status.get("backend", "tensorflow"),
                                        "screen": screening.judge(None, None, finite=False)})
                continue
            except (OSError, KeyError, ValueError, EOFError) as exc:
                state, reason = "unreadable", (f"{exc}; delete this run's folder and run the sweep's command "
                                               "again to retrain it")
        if state != "done":
            out["missing"].append({**ident, "status": state, "reason": reason and relative(reason, sweep)})
            continue
        if record["screen"]["verdict"] != "usable":
            out["screened"].append(record)
            continue
        out["runs"].append(record)
        images[tuple(ident[k] for k in IDENTITY)] = {
            m: metrics.image_values(per_image, im) for m, im in COMPARED.items() if im is not None}
    return out, images


#: Test images whose metrics must be computed before :func:`collect` computes them in worker processes (one per
#: core): the metrics take 0.5 to 1.5 ms per image on a 2-core CPU, starting a worker (numpy, scikit-image) 1 to 2 s.
PARALLEL_FROM_IMAGES = 10_000


def _compute_metrics_in_parallel(sweep: Path, spec: dict, targets: dict, force: bool, progress) -> set[str]:
    """Compute and cache (``metrics.npz``) the metrics of the finished runs whose cache is missing or stale, in
    worker processes, so that :func:`collect` then reads them; return the paths of the runs done here. Each value
    is the one :func:`run_metrics` computes in this process; a run that fails here is left to :func:`collect`,
    which reports it as it always does."""
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    todo = [e for e in spec["runs"] if e.get("dataset") in targets and (sweep / e["path"] / "status.json").exists()
            and (sweep / e["path"] / "reconstructions.npz").exists()
            and (force or _cached_metrics(sweep / e["path"]) is None)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(cores, len(todo))  # the cores this process may use (under Slurm or taskset, not the host's)
    if sum(len(targets[e["dataset"]]) for e in todo) < PARALLEL_FROM_IMAGES or workers < 2:
        return set()
    done = set()
    try:
        # spawn, not fork: the caller may hold a deep-learning backend's threads, which a forked child would inherit.
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    except (OSError, NotImplementedError, AssertionError) as err:  # no semaphores here, or a daemonic process
        print(f"note: scoring in one process ({type(err).__name__}: {err})", flush=True)
        return set()
    with pool:
        jobs = {pool.submit(_cache_metrics, sweep / e["path"], targets[e["dataset"]]): e["path"] for e in todo}
        for n, job in enumerate(as_completed(jobs), 1):
            if job.exception() is None and job.result():  # a worker that died leaves its runs to collect()
                done.add(jobs[job])
            if progress:
                progress(n, len(todo))
    return done


def _cache_metrics(run_dir: Path, targets: np.ndarray) -> bool:
    """In a worker: compute a finished run's metrics into its ``metrics.npz``; whether that worked."""
    try:
        status = read_artifact(run_dir / "status.json", "the run's status", ("status",))
        if status["status"] != "done":
            return False
        verify_artifacts(run_dir, status)
        run_metrics(run_dir, targets, force=True)
        return True
    except Exception:  # noqa: BLE001 - collect() meets the same error again and reports it
        return False


def _planned(spec: dict) -> dict[str, dict]:
    """Each run's settings as the sweep's config plans them, by path (none for a config this version cannot read)."""
    try:
        return {r.path: r.to_dict() for r in config.sweep_from_dict(spec["config"]).runs()}
    except (KeyError, TypeError, ValueError):
        return {}


def _differs(run_dir: Path, planned: dict | None) -> list[str]:
    """The settings in a run's config.json that differ from the sweep's plan. Not counted: fields an older version
    did not write, and the backend, which ``--backend auto`` picks by what the machine has installed."""
    path = run_dir / "config.json"
    if planned is None or not path.exists():
        return []
    try:
        recorded = read_json(path)
    except (OSError, ValueError):
        return []  # the run's other files are checked, and reported, on their own
    if not isinstance(recorded, dict):
        return []
    return sorted(k for k in recorded if k in planned and k != "backend" and recorded[k] != planned[k])


def _status(run_dir: Path, entry: dict) -> tuple[str, str | None, dict]:
    """(state, reason, status.json content) of a run: 'done', 'failed', 'pending', 'incomplete' or 'unreadable'."""
    path = run_dir / "status.json"
    if not path.exists():
        return "pending", "no status.json: not run, or interrupted", {}
    try:
        status = read_artifact(path, "the run's status", ("status",))
    except ArtifactError as err:
        return "unreadable", f"{err}; delete this run's folder and run the sweep's command again", {}
    state = status["status"]
    if state == "done" and not (run_dir / "reconstructions.npz").exists():
        return "incomplete", ("status says done but reconstructions.npz is missing; delete this run's folder and run "
                              "the sweep's command again"), status
    reason = status.get("reason")
    return state, str(reason) if reason else ("no reason recorded" if state != "done" else None), status


def verify_artifacts(run_dir: Path, status: dict) -> None:
    """Check a finished run's files against the SHA-256 its status.json recorded at training (runs recorded before
    that: ``model.keras`` must at least be a whole zip archive); an :class:`ArtifactError` names a damaged one."""
    import zipfile

    from replicate.fileio import sha256

    recorded = status.get("artifacts") or {}
    for name, digest in recorded.items():
        path = run_dir / name
        if not path.exists() or sha256(path) != digest:
            raise ArtifactError(f"{path} {'is missing' if not path.exists() else 'differs from the SHA-256 recorded '}"
                                f"{'' if not path.exists() else 'when the run finished (changed or damaged)'}")
    model = run_dir / "model.keras"
    if "model.keras" not in recorded and model.exists():
        try:
            with zipfile.ZipFile(model) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile) as err:
            raise ArtifactError(f"{model} is not a whole Keras archive ({err})") from err
        if bad is not None:
            raise ArtifactError(f"{model} is damaged (its member {bad} fails its check)")


def load_targets(path: Path):
    """uint8 target images, or a string saying why they cannot be read."""
    if not path.exists():
        return f"{path} is missing; run the sweep's command again to rewrite it"
    try:
        return read_npz(path, ("images",))["images"]
    except (OSError, ValueError) as err:
        return f"{err}; run the sweep's command again to rewrite it"


class _NonFinite(ValueError):
    """A run's reconstructions hold NaN or infinity: it diverged."""


def _cached_metrics(run_dir: Path) -> dict[str, np.ndarray] | None:
    """A run's per-image metrics from its ``metrics.npz`` when that is current (newer than the reconstructions, of
    this metrics version, complete and readable); else None."""
    cache, recon_path = run_dir / "metrics.npz", run_dir / "reconstructions.npz"
    if cache.exists() and cache.stat().st_mtime_ns >= recon_path.stat().st_mtime_ns:
        try:
            z = read_npz(cache)
            if "metrics_version" in z and int(z["metrics_version"]) == metrics.METRICS_VERSION \
                    and set(metrics.PER_IMAGE_KEYS) <= set(z):
                return {k: z[k] for k in metrics.PER_IMAGE_KEYS}
        except (OSError, ValueError):
            pass  # a damaged cache is recomputed
    return None


def run_metrics(run_dir: Path, targets: np.ndarray, force: bool) -> dict[str, np.ndarray]:
    """Per-image metrics of one run, from ``metrics.npz`` when it is current, else computed and cached."""
    cache, recon_path = run_dir / "metrics.npz", run_dir / "reconstructions.npz"
    cached = None if force else _cached_metrics(run_dir)
    if cached is not None:
        return cached
    try:
        recon = read_npz(recon_path, ("recon",))["recon"]
    except (OSError, ValueError) as err:
        raise ArtifactError(str(err)) from err
    if not np.isfinite(recon).all():
        raise _NonFinite(str(recon_path))
    if len(recon) != len(targets):
        raise ArtifactError(f"{recon_path} holds {len(recon)} images for {len(targets)} targets")
    per_image = metrics.evaluate(targets, recon)
    write_npz(cache, metrics_version=np.array(metrics.METRICS_VERSION), **per_image)
    return per_image


def run_record(ident: dict, status: dict, run_dir: Path, per_image, targets: np.ndarray) -> dict:
    """One finished run's entry: identity, learning curve and training facts, screening, summary metrics."""
    history = None
    if (run_dir / "history.json").exists():
        history = read_artifact(run_dir / "history.json", "the run's learning curve", ("epoch", "loss", "val_loss"))
    final = None
    if history:
        final = {k: (history[k][-1] if history.get(k) else None) for k in ("loss", "val_loss")}
    summary = metrics.summarize(per_image)
    fine = {k: v for k, v in summary["fine"].items() if k != "edges"}
    return {**ident, "wall_s": status.get("wall_s"), "device": status.get("device"),
            "backend": status.get("backend", "tensorflow"), "history": history, "final": final,
            "training": _training(ident, status, history, targets), "penalty": status.get("penalty"),
            "test_reconstruction_loss": status.get("test_reconstruction_loss"),
            "screen": screening.screen_from_metrics(per_image, targets),
            "n_images": summary["n_images"], "metrics": summary["scalars"],
            "bands": {b: {q: row[q] for q in BAND_QUANTITIES} for b, row in summary["bands"].items()},
            "fine": fine}


def _training(ident: dict, status: dict, history: dict | None, targets: np.ndarray) -> dict:
    """How a run trained: epochs and optimizer steps, whether it met the convergence rule, and its last epoch's
    improvement on the excess over the loss's floor (recomputed from the learning curve for older sweeps)."""
    floor = status.get("floor")
    if floor is None:
        counts = np.bincount(np.asarray(targets).ravel(), minlength=256)
        scale = float(28 * 28) if vocabulary.model(ident["model"]).builder == "vae" else 1.0
        floor = float(counts @ theory.level_floors(ident["loss"]) / counts.sum() * scale)
    val = (history or {}).get("val_loss") or []
    gains = convergence.improvements(val, floor)
    stopped = status.get("stopped")
    if stopped is None and val:  # recorded before the rule existed: apply it with the default settings
        met = convergence.converged_epoch(val, floor, config.PATIENCE, config.MIN_IMPROVEMENT)
        stopped = "converged" if met is not None else "epoch cap"
    return {"epochs": len(val), "steps": status.get("steps"), "floor": floor, "stopped": stopped,
            "converged": stopped == "converged", "last_improvement": gains[-1] if gains else None}


def runs_by_group(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped by (dataset, model, loss), in sweep order, each group sorted by seed."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["model"], r["loss"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in groups.items()}


def aggregates(runs: list[dict]) -> list[dict]:
    """Mean, std and t-interval over seeds of every run-level number, per (dataset, model, loss)."""
    out = []
    for (dataset, model, loss), group in runs_by_group(runs).items():
        finals = {k: t_interval([num((r["final"] or {}).get(k)) for r in group]) for k in ("loss", "val_loss")}
        fine = {}
        for q in group[0]["fine"]:
            per_bin = [t_interval([num(r["fine"][q][j]) for r in group]) for j in range(len(group[0]["fine"][q]))]
            fine[q] = {"mean": [b["mean"] for b in per_bin],
                       "ci_lo": [b["ci95"][0] if b["ci95"] else None for b in per_bin],
                       "ci_hi": [b["ci95"][1] if b["ci95"] else None for b in per_bin]}
        out.append({
            "dataset": dataset, "model": model, "loss": loss, "seeds": [r["seed"] for r in group],
            "metrics": {m: t_interval([r["metrics"][m] for r in group]) for m in group[0]["metrics"]},
            "final": finals,
            "bands": {b: {q: t_interval([r["bands"][b][q] for r in group]) for q in BAND_QUANTITIES}
                      for b in metrics.BAND_KEYS},
            "fine": fine,
        })
    return out


def num(v) -> float:
    """float, with None as NaN."""
    return float("nan") if v is None else float(v)


def comparisons(runs: list[dict], images: dict) -> list[dict]:
    """Each loss against bce on the same dataset, model and seed (difference = loss - bce)."""
    groups = runs_by_group(runs)
    out = []
    for (dataset, model, loss), group in groups.items():
        base = groups.get((dataset, model, BASELINE))
        if loss == BASELINE or base is None:
            continue
        by_seed = {r["seed"]: r for r in group}
        base_by_seed = {r["seed"]: r for r in base}
        seeds = sorted(set(by_seed) & set(base_by_seed))
        for metric, image_metric in COMPARED.items():
            diffs = [num(by_seed[s]["metrics"][metric]) - num(base_by_seed[s]["metrics"][metric]) for s in seeds]
            seed_level = paired_test(diffs)
            seed_level["per_seed"] = [{"seed": s, "difference": d} for s, d in zip(seeds, diffs)]
            base_mean = t_interval([base_by_seed[s]["metrics"][metric] for s in seeds])["mean"]
            relative = (seed_level["mean"] / abs(base_mean)
                        if seed_level["mean"] is not None and base_mean not in (None, 0) else None)
            image_level = None
            if image_metric is not None and seeds:
                per_image = [images[(dataset, model, loss, s)][metric] - images[(dataset, model, BASELINE, s)][metric]
                             for s in seeds]
                image_level = {
                    "per_seed_p": [paired_test(d)["p_value"] for d in per_image],
                    "pooled": wilcoxon_test(_nanmean_rows(np.stack(per_image))),
                }
            out.append({"dataset": dataset, "model": model, "loss": loss, "baseline": BASELINE, "metric": metric,
                        "seeds": seeds, "baseline_mean": base_mean, "relative_difference": relative,
                        "seed_level": seed_level, "image_level": image_level})
    return out


def _nanmean_rows(stack: np.ndarray) -> np.ndarray:
    """Per-image mean over seeds, ignoring NaN (an image without midtones has no midtone value)."""
    count = (~np.isnan(stack)).sum(axis=0)
    total = np.where(np.isnan(stack), 0.0, stack).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def sensitivity(results: dict, metric: str) -> list[dict]:
    """For each group with screened-out runs: ``metric`` over its usable seeds, and over all its seeds with the
    screened-out ones put back, so a reader sees what excluding them changed."""
    screened = [r for r in results["screened"] if r.get("metrics")]
    out = []
    for (dataset, model, loss), extra in runs_by_group(screened).items():
        usable = [r for r in results["runs"] if (r["dataset"], r["model"], r["loss"]) == (dataset, model, loss)]
        out.append({"dataset": dataset, "model": model, "loss": loss, "metric": metric,
                    "screened_seeds": [r["seed"] for r in extra],
                    "without": t_interval([r["metrics"][metric] for r in usable]),
                    "with": t_interval([r["metrics"][metric] for r in usable + extra])})
    return out


#: What a run's entry in results.json keeps: its learning curve, bands and fine bins are summarised elsewhere (the
#: convergence block, the aggregates) and stay in the run's own files.
RECORD_KEYS = ("dataset", "model", "loss", "seed", "path", "wall_s", "device", "backend", "final", "training",
               "penalty", "test_reconstruction_loss", "screen", "n_images", "metrics")


def for_json(records: list[dict]) -> list[dict]:
    """Run entries as results.json stores them (see :data:`RECORD_KEYS`)."""
    return [{k: r[k] for k in RECORD_KEYS if k in r} for r in records]
