"""What the report shows, chosen here so that the choice is in ``results.json``: the groups the sweep planned, the
losses that beat BCE on midtone RMSE and the best loss per criterion, and the test images of the gallery."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from replicate import data, metrics, vocabulary
from replicate.fileio import finite as _finite, read_npz
from replicate.analysis.stats import excludes_zero as _excludes_zero
from replicate.vocabulary import BASELINE


def planned_groups(results: dict) -> list[list[str]]:
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


#: Criteria of the best-loss table, each best in the direction ``vocabulary.BETTER`` gives.
BEST_LOSS_CRITERIA = ("rmse_midtone", "ssim_midtone", "ssim")


def recommendation(results: dict) -> dict:
    """Which losses beat BCE on midtone RMSE (paired CI below zero) per model, and the best loss per criterion."""
    aggs = {(a["dataset"], a["model"], a["loss"]): a for a in results["aggregates"]}
    comps = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in results["comparisons"]}
    loss_order = list(dict.fromkeys(g[2] for g in results["groups"]))
    best, contests, wins = [], [], {}
    for dataset, model in _models_of(results):
        losses = _losses_of(results, dataset, model)
        cands = [(loss, aggs[(dataset, model, loss)]) for loss in losses if (dataset, model, loss) in aggs]
        for metric in BEST_LOSS_CRITERIA if len(cands) >= 2 else ():
            scored = [(loss, a["metrics"].get(metric, {})) for loss, a in cands
                      if _finite(a["metrics"].get(metric, {}).get("mean"))]
            if not scored:
                continue
            loss, stat = (min if vocabulary.BETTER[metric] < 0 else max)(scored, key=lambda p: p[1]["mean"])
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


def gallery_choice(sweep: Path, results: dict, targets: dict[str, np.ndarray]) -> list[dict]:
    """Per dataset, the test images the gallery shows (most midtone pixels of ``targets``, the sweep's uint8 test
    images), their crop boxes, and the run (lowest finished seed) shown for each model and loss: the post's models
    where the sweep has them (variants would repeat them), else every model."""
    band = metrics.BANDS[metrics.MIDTONE]
    models = {r["model"] for r in results["runs"]}
    shown_models = (models & set(vocabulary.POST_MODELS)) or models
    out = []
    for dataset in dict.fromkeys(g[0] for g in results["groups"]):
        index = read_npz(sweep / dataset / "targets.npz").get("index")
        unit = data.to_unit(targets[dataset]).astype(np.float64)
        chosen = _pick_images(unit, band)
        shown = {}
        for r in sorted(results["runs"], key=lambda r: r["seed"]):
            if r["dataset"] == dataset and r["model"] in shown_models:
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
