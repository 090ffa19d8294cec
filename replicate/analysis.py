"""Sweep-level analysis: per-run metrics, seed aggregates, paired comparisons against BCE, the midtone verdict,
the closed-form theory beside the measurements and the replication table, written to ``results.json`` and a
tidy ``results.csv``.

It reads a sweep folder (``sweep.json``, ``provenance.json``, ``<dataset>/targets.npz`` and each run's
``status.json``, ``history.json`` and ``reconstructions.npz``) and caches each run's per-image metrics as
``<run>/metrics.npz``. It does not train, plot or render (``report`` does, from ``results.json`` alone), and
imports no deep-learning backend. Running it twice gives byte-identical files.

results.json (``schema_version`` 2), top-level keys:

- ``schema_version``: 2.
- ``sweep``: ``config`` (the frozen sweep config) and ``provenance`` (copied verbatim, or null).
- ``methods``: every definition the numbers depend on: SSIM/PSNR settings, bands, fine-bin edges, sharpness
  and high-frequency cut-off, confidence level, the statistical tests, the verdict rule, the tolerance.
- ``runs``: one entry per finished run: identity (dataset, model, loss, seed, path), ``wall_s``, ``device``,
  ``history`` (per-epoch ``epoch``/``loss``/``val_loss``, the learning curve), ``final`` (last ``loss`` and
  ``val_loss``), ``n_images``, ``metrics`` (the scalars of :func:`replicate.metrics.summarize`), ``bands``
  (per band: rmse, bias, pixel_share, sq_error_share) and ``fine`` (the same as lists over the 20 bins).
- ``missing``: runs listed in ``sweep.json`` that did not finish: identity, ``status`` and ``reason``.
- ``aggregates``: per (dataset, model, loss): ``seeds`` and, over seeds, ``metrics`` and ``final`` as
  ``{n, mean, std, ci95: [lo, hi] | null}``, ``bands`` (band -> quantity -> the same), ``fine`` (per quantity
  ``mean``/``ci_lo``/``ci_hi`` lists).
- ``comparisons``: per (dataset, model, loss != bce, metric): the difference loss - bce paired by seed
  (``seed_level``: per-seed differences, mean, CI, p, d_z) and by image (``image_level``: per-seed paired t,
  pooled Wilcoxon), with the bce mean and the relative difference.
- ``verdicts``: per (dataset, model): BCE vs MSE on midtone RMSE, midtone sharpness and the midtone/extreme
  RMSE ratio (each as BCE - MSE with CI), ``status``, ``blur``, ``textbook`` and a generated ``sentence``.
- ``theory``: per-intensity relative weight and logit-space gradient of each pixelwise loss, the predicted
  extreme-vs-midtone weighting ratio, the measured fine error curves beside them, and the worked example.
- ``replication``: per (dataset, model) with BCE runs and per number the tutorial reports: reported vs
  measured final losses, the protocol used and a ``status``.
- ``groups``: every (dataset, model, loss) the sweep planned or ran, in sweep order.
- ``answer``: the one-word answer over the verdicts (yes, no, mixed, none) and the models per verdict.
- ``theory_checks``: per (dataset, model, loss != bce): the weighting's predicted direction of the
  midtone/extreme RMSE ratio against BCE's, the measured paired difference and the ``outcome``.
- ``convergence``: per (dataset, model, loss): the mean learning curve over seeds, its last-epoch relative drop
  and whether that counts as ``settled``.
- ``recommendation``: the losses that beat BCE on midtone RMSE per model, and the best loss per criterion.
- ``gallery``: per dataset, the test images and crops the report shows and the run shown per model and loss.

results.csv: columns ``dataset, model, loss, seed, metric, value``; one row per finished run and metric
(scalars, ``final_loss``/``final_val_loss``, ``band_<key>_<quantity>``).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy import stats

from replicate import data, metrics
from replicate.fileio import read_json, write_json, write_npz, write_text
from replicate.vocabulary import BASELINE, COMPARATOR

SCHEMA_VERSION = 2
CONFIDENCE = 0.95
#: |measured - reported| at or below this (absolute, loss units) counts as reproduced.
REPLICATION_TOLERANCE = 0.01
#: Summary metric -> per-image metric used for its image-level test (None: no per-image version).
COMPARED = {
    "ssim": "ssim",
    "psnr_mean_of_images": "psnr",
    "rmse_midtone": "rmse_midtone",
    "rmse_extreme": "rmse_extreme",
    "midtone_extreme_rmse_ratio": None,
    "ssim_midtone": "ssim_midtone",
    "sharpness": "sharpness",
    "sharpness_midtone": "sharpness_midtone",
    "hf_energy_ratio": "hf_energy_ratio",
}
BAND_QUANTITIES = ("rmse", "bias", "pixel_share", "sq_error_share")
_IDENTITY = ("dataset", "model", "loss", "seed")


def t_interval(values, confidence: float = CONFIDENCE) -> dict:
    """Mean, sample standard deviation and Student-t confidence interval of independent values.

    Parameters
    ----------
    values : array_like
        One value per seed (NaNs are dropped).
    confidence : float, optional
        Two-sided coverage of the interval.

    Returns
    -------
    dict
        ``n``, ``mean``, ``std`` (ddof = 1) and ``ci95`` = ``[mean - h, mean + h]`` with
        ``h = t_{(1 + confidence)/2, n-1} * std / sqrt(n)``; ``std`` and ``ci95`` are None when n < 2.

    Notes
    -----
    Worked example, values (1, 2, 3, 4): mean = 2.5; std = sqrt(((-1.5)^2 + (-0.5)^2 + 0.5^2 + 1.5^2) / 3)
    = sqrt(5/3) = 1.2909944; standard error = 1.2909944 / 2 = 0.6454972; t_{0.975, 3} = 3.1824463;
    h = 2.0542603; interval [0.4457397, 4.5542603].
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    mean = float(v.mean())
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci95": None}
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def paired_test(differences, confidence: float = CONFIDENCE) -> dict:
    """One-sample t analysis of paired differences: :func:`t_interval` plus a two-sided p-value and d_z.

    Parameters
    ----------
    differences : array_like
        Paired differences (e.g. one per seed); NaNs are dropped.

    Returns
    -------
    dict
        ``n``, ``mean``, ``std``, ``ci95``, ``p_value`` (H0: mean difference 0; 2 * t.sf(|t|, n - 1) with
        t = mean / (std / sqrt(n))) and ``d_z`` = mean / std (standardised effect). None where n < 2; with
        zero spread, p is 0 for a non-zero mean and 1 for a zero one.
    """
    out = t_interval(differences, confidence)
    out["p_value"] = out["d_z"] = None
    if out["n"] >= 2:
        mean, std = out["mean"], out["std"]
        if std > 0:
            out["p_value"] = float(2 * stats.t.sf(abs(mean) / (std / math.sqrt(out["n"])), out["n"] - 1))
            out["d_z"] = mean / std
        else:
            out["p_value"] = 0.0 if mean != 0 else 1.0
    return out


def wilcoxon_test(differences) -> dict:
    """Wilcoxon signed-rank test of paired differences against 0 (zeros dropped, as Wilcoxon did).

    Returns ``n`` (non-zero pairs), ``median``, ``statistic`` and ``p_value`` (``scipy.stats.wilcoxon``,
    two-sided; exact for small samples without ties, normal approximation otherwise).
    """
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    median = float(np.median(d)) if d.size else None
    d = d[d != 0]
    if d.size == 0:
        return {"n": 0, "median": median, "statistic": None, "p_value": None if median is None else 1.0}
    res = stats.wilcoxon(d)
    return {"n": int(d.size), "median": median, "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def evaluate_sweep(sweep_dir, *, force: bool = False) -> Path:
    """Compute (or reuse) every run's metrics and write ``results.json`` and ``results.csv`` in the sweep.

    Parameters
    ----------
    sweep_dir : path-like
        Folder holding ``sweep.json`` (layout in the module docstring).
    force : bool, optional
        Recompute every run's ``metrics.npz`` even when it is newer than ``reconstructions.npz``.

    Returns
    -------
    Path
        The written ``results.json``.

    Raises
    ------
    ValueError
        If ``sweep.json`` is missing.
    """
    sweep = Path(sweep_dir)
    if not (sweep / "sweep.json").exists():
        raise ValueError(f"{sweep} holds no sweep.json; pass the folder a sweep wrote")
    results, images = _collect(sweep, force)
    results["aggregates"] = _aggregates(results["runs"])
    results["comparisons"] = _comparisons(results["runs"], images)
    results["verdicts"] = _verdicts(results["comparisons"], results["runs"])
    results["theory"] = _theory(results["aggregates"])
    results["replication"] = _replication(results["aggregates"], results["sweep"]["config"])
    results["groups"] = _planned_groups(results)
    results["answer"] = _answer(results["verdicts"])
    results["theory_checks"] = _theory_checks(results)
    results["convergence"] = _convergence(results["runs"])
    results["recommendation"] = _recommendation(results)
    results["gallery"] = _gallery_choice(sweep, results)
    path = write_json(sweep / "results.json", _jsonable(results))
    write_text(sweep / "results.csv", _csv(results["runs"]))
    return path


# --- collecting runs ---------------------------------------------------------------------------------------

def _collect(sweep: Path, force: bool):
    """Read the sweep; summarise finished runs, list the others; keep per-image values for paired tests."""
    spec = read_json(sweep / "sweep.json")
    provenance = read_json(sweep / "provenance.json") if (sweep / "provenance.json").exists() else None
    results = {"schema_version": SCHEMA_VERSION, "sweep": {"config": spec.get("config", {}), "provenance": provenance},
               "methods": _methods(), "runs": [], "missing": []}
    targets: dict[str, np.ndarray | str] = {}
    images = {}
    for entry in spec.get("runs", []):
        ident = {k: entry[k] for k in _IDENTITY}
        ident["path"] = entry["path"]
        run_dir = sweep / entry["path"]
        status = read_json(run_dir / "status.json") if (run_dir / "status.json").exists() else {}
        state = status.get("status", entry.get("status", "pending"))
        reason = status.get("reason")
        if state == "done" and not (run_dir / "reconstructions.npz").exists():
            state, reason = "incomplete", "status says done but reconstructions.npz is missing"
        if state == "done":
            dataset = entry["dataset"]
            if dataset not in targets:
                targets[dataset] = _load_targets(sweep / dataset / "targets.npz")
            try:
                if isinstance(targets[dataset], str):
                    raise ValueError(targets[dataset])
                per_image = _run_metrics(run_dir, targets[dataset], force)
            except (OSError, KeyError, ValueError) as exc:
                state, reason = "unreadable", f"{type(exc).__name__}: {exc}"
        if state != "done":
            default = "no status.json: not run or still running" if not status else "no reason recorded"
            results["missing"].append({**ident, "status": state, "reason": reason or default})
            continue
        results["runs"].append(_run_record(ident, status, run_dir, per_image))
        images[tuple(ident[k] for k in _IDENTITY)] = {
            m: metrics.image_values(per_image, im) for m, im in COMPARED.items() if im is not None}
    return results, images


def _load_targets(path: Path):
    """uint8 target images, or a string saying why they cannot be read."""
    if not path.exists():
        return f"targets not found at {path.name} in the dataset folder"
    with np.load(path) as z:
        return z["images"]


def _run_metrics(run_dir: Path, targets: np.ndarray, force: bool) -> dict[str, np.ndarray]:
    """Per-image metrics of one run, from ``metrics.npz`` when it is current, else computed and cached."""
    cache, recon_path = run_dir / "metrics.npz", run_dir / "reconstructions.npz"
    if not force and cache.exists() and cache.stat().st_mtime_ns >= recon_path.stat().st_mtime_ns:
        with np.load(cache) as z:
            if "metrics_version" in z.files and int(z["metrics_version"]) == metrics.METRICS_VERSION \
                    and set(metrics.PER_IMAGE_KEYS) <= set(z.files):
                return {k: z[k] for k in metrics.PER_IMAGE_KEYS}
    with np.load(recon_path) as z:
        recon = z["recon"]
    per_image = metrics.evaluate(targets, recon)
    write_npz(cache, metrics_version=np.array(metrics.METRICS_VERSION), **per_image)
    return per_image


def _run_record(ident: dict, status: dict, run_dir: Path, per_image) -> dict:
    """One finished run's entry: identity, learning curve, final losses and summary metrics."""
    history = read_json(run_dir / "history.json") if (run_dir / "history.json").exists() else None
    final = None
    if history:
        final = {k: (history[k][-1] if history.get(k) else None) for k in ("loss", "val_loss")}
    summary = metrics.summarize(per_image)
    fine = {k: v for k, v in summary["fine"].items() if k != "edges"}
    return {**ident, "wall_s": status.get("wall_s"), "device": status.get("device"), "history": history,
            "final": final, "n_images": summary["n_images"], "metrics": summary["scalars"],
            "bands": {b: {q: row[q] for q in BAND_QUANTITIES} for b, row in summary["bands"].items()},
            "fine": fine}


# --- aggregation over seeds --------------------------------------------------------------------------------

def _runs_by_group(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Finished runs grouped by (dataset, model, loss), in sweep order, each group sorted by seed."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["model"], r["loss"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in groups.items()}


def _aggregates(runs: list[dict]) -> list[dict]:
    """Mean, std and t-interval over seeds of every run-level number, per (dataset, model, loss)."""
    out = []
    for (dataset, model, loss), group in _runs_by_group(runs).items():
        finals = {k: t_interval([_num((r["final"] or {}).get(k)) for r in group]) for k in ("loss", "val_loss")}
        fine = {}
        for q in group[0]["fine"]:
            per_bin = [t_interval([_num(r["fine"][q][j]) for r in group]) for j in range(len(group[0]["fine"][q]))]
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


def _num(v) -> float:
    """float, with None as NaN."""
    return float("nan") if v is None else float(v)


# --- paired comparisons ------------------------------------------------------------------------------------

def _comparisons(runs: list[dict], images: dict) -> list[dict]:
    """Each loss against bce on the same dataset, model and seed (difference = loss - bce)."""
    groups = _runs_by_group(runs)
    out = []
    for (dataset, model, loss), group in groups.items():
        base = groups.get((dataset, model, BASELINE))
        if loss == BASELINE or base is None:
            continue
        by_seed = {r["seed"]: r for r in group}
        base_by_seed = {r["seed"]: r for r in base}
        seeds = sorted(set(by_seed) & set(base_by_seed))
        for metric, image_metric in COMPARED.items():
            diffs = [_num(by_seed[s]["metrics"][metric]) - _num(base_by_seed[s]["metrics"][metric]) for s in seeds]
            seed_level = paired_test(diffs)
            seed_level["excludes_zero"] = _excludes_zero(seed_level["ci95"])
            seed_level["per_seed"] = [{"seed": s, "difference": d} for s, d in zip(seeds, diffs)]
            base_mean = t_interval([base_by_seed[s]["metrics"][metric] for s in seeds])["mean"]
            relative = (seed_level["mean"] / abs(base_mean)
                        if seed_level["mean"] is not None and base_mean not in (None, 0) else None)
            image_level = None
            if image_metric is not None and seeds:
                per_image = [images[(dataset, model, loss, s)][metric] - images[(dataset, model, BASELINE, s)][metric]
                             for s in seeds]
                image_level = {
                    "per_seed": [{"seed": s, **paired_test(d)} for s, d in zip(seeds, per_image)],
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


# --- verdict -----------------------------------------------------------------------------------------------

def _verdicts(comparisons: list[dict], runs: list[dict]) -> list[dict]:
    """BCE vs MSE per dataset and model, from the paired seed-level intervals (never pre-written)."""
    index = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in comparisons}
    present = {}
    for r in runs:
        present.setdefault((r["dataset"], r["model"]), set()).add(r["loss"])
    out = []
    for (dataset, model), losses in present.items():
        row = {"dataset": dataset, "model": model, "compared": "bce - mse"}
        lacking = [l for l in (BASELINE, COMPARATOR) if l not in losses]
        if lacking:
            row.update(status="not available", sentence=f"{dataset}/{model}: no verdict, no finished "
                       f"{' or '.join(lacking)} run.")
            out.append(row)
            continue
        effects = {m: _bce_minus_mse(index[(dataset, model, COMPARATOR, m)])
                   for m in ("rmse_midtone", "sharpness_midtone", "midtone_extreme_rmse_ratio")}
        n = effects["rmse_midtone"]["n"]
        row["n_seeds"] = n
        row.update(effects)
        if n < 2:
            row.update(status="insufficient seeds", blur="insufficient seeds", textbook="insufficient seeds")
        else:
            row["status"] = _classify(effects["rmse_midtone"], "worse", "equal", "better")
            row["blur"] = _classify(effects["sharpness_midtone"], "sharper", "as sharp", "blurrier")
            row["textbook"] = _classify(effects["midtone_extreme_rmse_ratio"], "agrees", "inconclusive",
                                        "disagrees")
        row["sentence"] = _sentence(dataset, model, row)
        out.append(row)
    return out


def _bce_minus_mse(comparison: dict) -> dict:
    """Flip a (mse - bce) comparison into bce - mse, with the MSE mean for a relative size."""
    s = comparison["seed_level"]
    mean = None if s["mean"] is None else -s["mean"]
    ci = None if s["ci95"] is None else [-s["ci95"][1], -s["ci95"][0]]
    mse_mean = None
    if s["mean"] is not None and comparison["baseline_mean"] is not None:
        mse_mean = comparison["baseline_mean"] + s["mean"]
    relative = mean / abs(mse_mean) if mean is not None and mse_mean not in (None, 0) else None
    return {"n": s["n"], "difference": mean, "ci95": ci, "excludes_zero": _excludes_zero(ci), "p_value": s["p_value"],
            "d_z": None if s["d_z"] is None else -s["d_z"], "bce_mean": comparison["baseline_mean"],
            "mse_mean": mse_mean, "relative_to_mse": relative}


def _classify(effect: dict, above: str, inside: str, below: str) -> str:
    """``above`` if the whole CI is above 0, ``below`` if below, else ``inside``."""
    if effect["ci95"] is None:
        return "insufficient seeds"
    lo, hi = effect["ci95"]
    return above if lo > 0 else below if hi < 0 else inside


def _sentence(dataset: str, model: str, row: dict) -> str:
    """The verdict in words, every number taken from ``row``."""
    mid, sharp, ratio = row["rmse_midtone"], row["sharpness_midtone"], row["midtone_extreme_rmse_ratio"]
    n = row["n_seeds"]
    head = f"{dataset}/{model}, {n} seed{'s' if n != 1 else ''}: "
    if row["status"] == "insufficient seeds":
        return (head + f"BCE - MSE midtone RMSE = {_fmt(mid['difference'])} (no confidence interval with fewer "
                "than 2 paired seeds): insufficient seeds for a verdict.")
    words = {"worse": "measurably worse than", "better": "measurably better than",
             "equal": "not measurably different from"}
    text = (head + f"BCE's midtone RMSE is {_fmt(mid['bce_mean'])} vs MSE's "
            f"{_fmt(mid['mse_mean'])} (difference {_effect(mid)}, {_pct(mid['relative_to_mse'])}): "
            f"BCE midtones are {words[row['status']]} MSE's. Midtone sharpness BCE - MSE {_effect(sharp)}: "
            f"BCE is {_BLUR_WORDS[row['blur']]}.")
    if row["textbook"] == "agrees":
        text += (f" Midtone/extreme RMSE ratio BCE - MSE {_effect(ratio)}: consistent with the textbook "
                 "explanation (BCE weights midtone errors less, by 1/(a(1-a))).")
    elif row["textbook"] == "disagrees":
        text += (f" Midtone/extreme RMSE ratio BCE - MSE {_effect(ratio)}: the data disagree with the textbook "
                 "explanation, which predicts relatively larger midtone error under BCE (it weights midtone "
                 "errors less, by 1/(a(1-a))).")
    else:
        text += (f" Midtone/extreme RMSE ratio BCE - MSE {_effect(ratio)}: the textbook prediction (a larger "
                 "ratio under BCE) is neither confirmed nor contradicted.")
    if row["status"] == "better" and row["textbook"] != "disagrees":
        text += " Lower BCE midtone error contradicts the claim that BCE blurs midtones."
    return text


_BLUR_WORDS = {"blurrier": "blurrier than MSE", "sharper": "sharper than MSE",
               "as sharp": "as sharp as MSE within the CI", "insufficient seeds": "not comparable (too few seeds)"}


def _effect(e: dict) -> str:
    """Text 'difference, 95% CI lo to hi, p = ...' for a sentence."""
    if e["ci95"] is None:
        return f"{_fmt(e['difference'], sign=True)} (no CI)"
    lo, hi = e["ci95"]
    p = "" if e["p_value"] is None else f", p = {e['p_value']:.2g}"
    return f"{_fmt(e['difference'], sign=True)}, 95% CI {_fmt(lo, sign=True)} to {_fmt(hi, sign=True)}{p}"


def _fmt(v, sign: bool = False) -> str:
    """Four significant digits, or n/a."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.4g}" if sign else f"{v:.4g}"


def _pct(v) -> str:
    """A relative difference as a signed percentage of MSE's value."""
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:+.1f}% of MSE's"


# --- theory ------------------------------------------------------------------------------------------------

def _theory(aggregates: list[dict]) -> dict:
    """Closed-form per-intensity weighting of each pixelwise loss, beside the measured error curves."""
    from replicate import theory  # imported here: the rest of the analysis does not need it

    grid = np.round(np.linspace(0.01, 0.99, 99), 2)
    z = np.linspace(-6.0, 6.0, 121)
    centers = 0.5 * (metrics.FINE_EDGES[1:] + metrics.FINE_EDGES[:-1])
    levels = np.arange(1, 255) / 255  # 8-bit levels strictly inside (0, 1): BCE's weight is infinite at 0 and 1
    band = metrics.band_index(levels)
    mid, ext = band == metrics.MIDTONE, np.isin(band, [metrics.BAND_KEYS.index(b) for b in ("dark", "highlight")])
    weights, gradients, predicted, at_centers = {}, {}, {}, {}
    for name in theory.PIXELWISE:
        w = theory.relative_weight(name, grid)
        weights[name] = w.tolist()
        at_centers[name] = theory.relative_weight(name, centers).tolist()
        gradients[name] = {f"{a:g}": theory.dloss_dz(name, a, z).tolist() for a in (0.1, 0.5, 0.9)}
        lw = theory.relative_weight(name, levels)
        predicted[name] = float(lw[ext].mean() / lw[mid].mean())
    measured = {}
    for agg in aggregates:
        key = f"{agg['dataset']}/{agg['model']}"
        measured.setdefault(key, {})[agg["loss"]] = {
            "fine_rmse": agg["fine"]["rmse"]["mean"],
            "midtone_extreme_rmse_ratio": agg["metrics"]["midtone_extreme_rmse_ratio"]["mean"],
        }
    return {
        "a_grid": grid.tolist(),
        "relative_weight": weights,
        "logit_grid": z.tolist(),
        "dloss_dz": gradients,
        "fine_centers": centers.tolist(),
        "relative_weight_at_fine_centers": at_centers,
        "predicted_extreme_to_midtone_weight": predicted,
        "predicted_note": ("mean relative weight (curvature at the optimum / that at a = 0.5) over the 8-bit "
                           "levels of the open extreme bands (0, 0.1] and (0.9, 1), divided by its mean over "
                           "the midtone levels (0.3, 0.7]; 1 = uniform weighting (MSE). Above 1 predicts "
                           "relatively larger midtone than extreme error, so a larger measured "
                           "midtone/extreme RMSE ratio than MSE's."),
        "measured": measured,
        "worked_example": theory.worked_example(),
    }


# --- replication -------------------------------------------------------------------------------------------

def _replication(aggregates: list[dict], config: dict) -> list[dict]:
    """The tutorial's reported BCE losses beside the measured final losses of each model's bce runs."""
    from replicate import tutorial

    profile = config.get("profile")
    rows = []
    for agg in aggregates:
        if agg["loss"] != BASELINE:
            continue
        dataset, model = agg["dataset"], agg["model"]
        protocol_used = {"profile": profile, "dataset": dataset, "epochs": config.get("epochs"),
                         "train_limit": config.get("train_limit"), "test_limit": config.get("test_limit")}
        tut = tutorial.PROTOCOLS.get(model)
        base = {"dataset": dataset, "model": model, "seeds": agg["seeds"],
                "measured_val_loss": agg["final"]["val_loss"], "measured_train_loss": agg["final"]["loss"],
                "protocol_used": protocol_used,
                "tutorial_protocol": asdict(tut) if tut else None, "tolerance": REPLICATION_TOLERANCE}
        at_protocol = profile == "tutorial" and dataset == "mnist"
        reported = tutorial.reported_for(model)
        if not reported:
            rows.append({**base, "reported": None, "compared_with": None,
                         "status": "no number reported in the tutorial"})
            continue
        for rep in reported:
            measured = agg["final"]["loss" if rep.split == "train" else "val_loss"]
            if not at_protocol:
                status = "not run at the tutorial's protocol"
            elif measured["mean"] is None:
                status = "no learning curve recorded"
            elif abs(measured["mean"] - rep.value) <= REPLICATION_TOLERANCE:
                status = f"reproduced within tolerance (±{REPLICATION_TOLERANCE:g} absolute)"
            else:
                status = "differs"
            rows.append({**base, "reported": asdict(rep),
                         "compared_with": "final train loss" if rep.split == "train" else "final val_loss",
                         "difference": None if measured["mean"] is None else measured["mean"] - rep.value,
                         "status": status})
    return rows


# --- judgements the report shows --------------------------------------------------------------------------

def _planned_groups(results: dict) -> list[list[str]]:
    """(dataset, model, loss) of every group the sweep planned or ran, in sweep order."""
    config = results["sweep"]["config"] or {}
    pairs = config.get("pairs") or [(m, l) for m in config.get("models", []) for l in config.get("losses", [])]
    groups = [(config.get("dataset"), m, l) for m, l in pairs]
    for r in results["runs"] + results["missing"]:
        key = (r["dataset"], r["model"], r["loss"])
        if key not in groups:
            groups.append(key)
    return [list(g) for g in groups]


def _models_of(results: dict) -> list[tuple[str, str]]:
    """(dataset, model) pairs in sweep order."""
    return list(dict.fromkeys((d, m) for d, m, _ in results["groups"]))


def _losses_of(results: dict, dataset: str, model: str) -> list[str]:
    return [loss for d, m, loss in results["groups"] if (d, m) == (dataset, model)]


def _answer(verdicts: list[dict]) -> dict:
    """The one-word answer over models: yes (BCE worse for every model), no, mixed, or none (no verdict)."""
    rated = [v for v in verdicts if v.get("status") in ("worse", "equal", "better")]
    by_status = {st: [[v["dataset"], v["model"]] for v in rated if v["status"] == st]
                 for st in ("worse", "equal", "better")}
    if not rated:
        word = "none"
    elif len(by_status["worse"]) == len(rated):
        word = "yes"
    elif len(by_status["equal"]) == len(rated) or len(by_status["better"]) == len(rated):
        word = "no"
    else:
        word = "mixed"
    return {"word": word, "rated": len(rated), "by_status": by_status}


def _theory_checks(results: dict) -> list[dict]:
    """Per model and loss: does the midtone/extreme RMSE ratio move against BCE's the way the weights predict?"""
    pred = results["theory"].get("predicted_extreme_to_midtone_weight", {})
    comps = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in results["comparisons"]}
    out = []
    for dataset, model, loss in results["groups"]:
        if loss == BASELINE:
            continue
        row = {"dataset": dataset, "model": model, "loss": loss, "weight": pred.get(loss),
               "baseline_weight": pred.get(BASELINE), "measured": None}
        comp = comps.get((dataset, model, loss, "midtone_extreme_rmse_ratio"))
        if loss not in pred or BASELINE not in pred:
            row.update(expect="no per-pixel closed form", outcome="not tested")
            out.append(row)
            continue
        if math.isclose(pred[loss], pred[BASELINE], rel_tol=1e-9):
            row["expect"], sign = "same ratio as BCE", 0
        elif pred[loss] < pred[BASELINE]:
            row["expect"], sign = "smaller ratio than BCE", -1
        else:
            row["expect"], sign = "larger ratio than BCE", 1
        if comp is None or comp["seed_level"]["mean"] is None:
            row["outcome"] = "not tested"
            out.append(row)
            continue
        sl = comp["seed_level"]
        row["measured"] = {"difference": sl["mean"], "ci95": sl["ci95"]}
        ci = sl["ci95"]
        if not ci:
            row["outcome"] = "too few seeds"
        elif sign == 0:
            row["outcome"] = "agrees" if not _excludes_zero(ci) else "disagrees"
        elif _excludes_zero(ci):
            row["outcome"] = "agrees" if (sl["mean"] > 0) == (sign > 0) else "disagrees"
        else:
            row["outcome"] = "inconclusive"
        out.append(row)
    return out


#: A last-epoch relative drop of the mean validation loss at or below this counts as a settled learning curve.
SETTLED_DROP = 0.005


def _convergence(runs: list[dict]) -> list[dict]:
    """Per (dataset, model, loss): the mean learning curve over seeds and how much it fell in its last epoch."""
    out = []
    for (dataset, model, loss), group in _runs_by_group(runs).items():
        curve = _mean_history(group)
        drop = None
        if curve and len(curve["val"]) >= 2 and curve["val"][-2]:
            drop = (curve["val"][-2] - curve["val"][-1]) / abs(curve["val"][-2])
        out.append({"dataset": dataset, "model": model, "loss": loss, "learning_curve": curve,
                    "last_epoch_drop": drop, "settled": None if drop is None else drop <= SETTLED_DROP})
    return out


def _mean_history(runs: list[dict]) -> dict | None:
    """Mean over seeds of the learning curves (truncated to the shortest)."""
    hist = [r["history"] for r in runs if r.get("history") and r["history"].get("val_loss")]
    if not hist:
        return None
    n = min(len(h["val_loss"]) for h in hist)

    def mean(key):
        rows = [[np.nan if v is None else v for v in (h.get(key) or [None] * n)[:n]] for h in hist]
        arr = np.array(rows, dtype=float)
        ok = ~np.isnan(arr)
        return [float(arr[ok[:, j], j].mean()) if ok[:, j].any() else None for j in range(n)]

    epochs = hist[0].get("epoch") or list(range(1, n + 1))
    return {"epoch": epochs[:n], "val": mean("val_loss"), "train": mean("loss")}


#: Criteria of the best-loss table: (metric, lower is better).
BEST_LOSS_CRITERIA = (("rmse_midtone", True), ("ssim_midtone", False), ("ssim", False))


def _recommendation(results: dict) -> dict:
    """Which losses beat BCE on midtone RMSE (paired CI below zero) per model, and the best loss per criterion."""
    aggs = {(a["dataset"], a["model"], a["loss"]): a for a in results["aggregates"]}
    comps = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in results["comparisons"]}
    loss_order = list(dict.fromkeys(g[2] for g in results["groups"]))
    best, contests, wins = [], [], {}
    for dataset, model in _models_of(results):
        losses = _losses_of(results, dataset, model)
        cands = [(loss, aggs[(dataset, model, loss)]) for loss in losses if (dataset, model, loss) in aggs]
        for metric, lower_better in BEST_LOSS_CRITERIA if len(cands) >= 2 else ():
            scored = [(loss, a["metrics"].get(metric, {})) for loss, a in cands
                      if _finite(a["metrics"].get(metric, {}).get("mean"))]
            if not scored:
                continue
            loss, stat = (min if lower_better else max)(scored, key=lambda p: p[1]["mean"])
            row = {"dataset": dataset, "model": model, "metric": metric, "loss": loss, "mean": stat["mean"],
                   "ci95": stat.get("ci95"), "vs_baseline": None}
            comp = comps.get((dataset, model, loss, metric))
            if loss != BASELINE and comp and comp["seed_level"]["mean"] is not None:
                sl = comp["seed_level"]
                row["vs_baseline"] = {"difference": sl["mean"], "ci95": sl["ci95"],
                                      "excludes_zero": _excludes_zero(sl["ci95"])}
            best.append(row)
        others = [loss for loss in losses if loss != BASELINE and (dataset, model, loss, "rmse_midtone") in comps]
        if not others or (dataset, model, BASELINE) not in aggs:
            continue
        contests.append([dataset, model])
        for loss in others:
            sl = comps[(dataset, model, loss, "rmse_midtone")]["seed_level"]
            if _excludes_zero(sl["ci95"]) and sl["mean"] < 0:
                wins.setdefault(loss, []).append([dataset, model])
    ranked = sorted(wins.items(), key=lambda p: (-len(p[1]), loss_order.index(p[0])))
    return {"contests": contests, "wins": [{"loss": loss, "models": models} for loss, models in ranked],
            "best": best}


#: Test images shown in the report's gallery, and the side of its zoomed midtone crop (pixels).
GALLERY_IMAGES = 6
GALLERY_CROP = 12


def _gallery_choice(sweep: Path, results: dict) -> list[dict]:
    """Per dataset, the test images the gallery shows (most midtone pixels), their crop boxes, and the run
    (lowest finished seed) shown for each model and loss."""
    band = metrics.BANDS[metrics.MIDTONE]
    out = []
    for dataset in dict.fromkeys(g[0] for g in results["groups"]):
        targets = _load_targets(sweep / dataset / "targets.npz")
        if isinstance(targets, str):
            out.append({"dataset": dataset, "images": None, "note": f"{dataset}: no readable targets.npz"})
            continue
        with np.load(sweep / dataset / "targets.npz") as z:
            index = z["index"] if "index" in z.files else None
        unit = data.to_unit(targets).astype(np.float64)
        chosen = _pick_images(unit, band)
        shown = {}
        for r in sorted(results["runs"], key=lambda r: r["seed"]):
            if r["dataset"] == dataset:
                shown.setdefault(f"{r['model']}/{r['loss']}", {"seed": r["seed"], "path": r["path"]})
        out.append({"dataset": dataset, "images": chosen.tolist(),
                    "test_index": (index[chosen] if index is not None else chosen).tolist(),
                    "boxes": [list(_crop_box(unit[i], band)) for i in chosen], "runs": shown,
                    "midtone": [band.lo, band.hi], "crop": GALLERY_CROP})
    return out


def _pick_images(targets: np.ndarray, band) -> np.ndarray:
    """The images with the most midtone pixels (ties: lower index first)."""
    counts = band.contains(targets).sum(axis=(1, 2))
    order = np.lexsort((np.arange(len(counts)), -counts))
    return np.sort(order[:GALLERY_IMAGES])


def _crop_box(image: np.ndarray, band) -> tuple[int, int, int]:
    """(row, col, size) of the square window with the most midtone pixels (first such window)."""
    size = min(GALLERY_CROP, *image.shape)
    mask = band.contains(image).astype(np.int64)
    integral = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    r, c = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(r), int(c), size


def _excludes_zero(ci) -> bool:
    return bool(ci) and all(_finite(c) for c in ci) and (ci[0] > 0 or ci[1] < 0)


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


# --- methods, serialisation --------------------------------------------------------------------------------

def _methods() -> dict:
    """Definitions the numbers depend on, written beside them."""
    return {
        "metrics_version": metrics.METRICS_VERSION,
        "ssim": {"headline": {"name": "ssim", **metrics.WANG_SSIM, "window": "11x11 Gaussian (truncate 3.5)",
                              "source": "Wang et al., IEEE TIP 13(4):600-612, 2004"},
                 "secondary": {"name": "ssim_skimage", **metrics.SKIMAGE_SSIM,
                               "window": "7x7 uniform, sample covariance (scikit-image defaults)"},
                 "averaging": f"SSIM map averaged after cropping a {metrics.WANG_CROP}-pixel border (scikit-image)",
                 "ssim_midtone": "Wang SSIM map averaged over midtone target pixels inside the same cropped region; "
                                 "run level pooled over all such pixels"},
        "psnr": {"data_range": 1.0, "psnr_mean_of_images": "mean over images of per-image PSNR",
                 "psnr_of_mean_mse": "10 log10(1 / mean over images of MSE)"},
        "bands": [asdict(b) for b in metrics.BANDS],
        "extreme_bands": list(metrics.EXTREME_BANDS),
        "fine_edges": metrics.FINE_EDGES.tolist(),
        "band_statistics": "RMSE and bias (recon - target) pooled over every pixel of the band in the run",
        "sharpness": "sum of gradient magnitude (central differences) of recon / of target, pooled over the run's "
                     "pixels (midtone: over midtone target pixels); 1 = as sharp, < 1 blurrier",
        "hf_energy_ratio": f"power-spectrum energy above {metrics.HF_CUTOFF} cycles/pixel, recon / target, pooled",
        "bce_kl": "mean over pixels of KL(Bern(a) || Bern(x)) in nats, x clipped to [1e-7, 1 - 1e-7]",
        "confidence": CONFIDENCE,
        "settled_drop": SETTLED_DROP,
        "seed_aggregation": "mean, sample std (ddof 1) and Student-t 95% CI over per-seed run values",
        "paired_primary": "difference loss - bce paired by seed; t-interval and two-sided one-sample t-test over "
                          "the per-seed differences (n = paired seeds); d_z = mean / std",
        "paired_secondary": "image level: per seed, paired t over test images; pooled, Wilcoxon signed-rank over "
                            "each image's difference averaged over seeds (zeros dropped)",
        "verdict_rule": "BCE - MSE on run-level midtone RMSE: whole 95% CI above 0 = worse, below 0 = better, "
                        "else equal; same rule on midtone sharpness (below 0 = blurrier) and on the "
                        "midtone/extreme RMSE ratio (above 0 = agrees with the textbook 1/(a(1-a)) weighting); "
                        "fewer than 2 paired seeds = insufficient seeds",
        "replication_tolerance": f"|measured mean final loss - reported| <= {REPLICATION_TOLERANCE} (absolute), "
                                 "only for profile 'tutorial' on mnist",
    }


def _jsonable(obj):
    """Plain Python types for JSON (numpy scalars and arrays converted)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    return obj


def _csv(runs: list[dict]) -> str:
    """Tidy table: one row per finished run and metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "model", "loss", "seed", "metric", "value"])
    for r in runs:
        ident = [r[k] for k in _IDENTITY]
        values = dict(r["metrics"])
        values["final_loss"] = (r["final"] or {}).get("loss")
        values["final_val_loss"] = (r["final"] or {}).get("val_loss")
        for b, row in r["bands"].items():
            for q in BAND_QUANTITIES:
                values[f"band_{b}_{q}"] = row[q]
        for metric, value in values.items():
            writer.writerow([*ident, metric, repr(_num(value))])
    return buf.getvalue()
