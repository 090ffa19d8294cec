"""The closed-form theory beside the measurements: each pixelwise loss's per-intensity weight, logit gradient and
logit curvature, and the weighting argument's prediction tested where it applies.

The prediction is made for the pixels actually in each extreme group (exact 0, the open extremes, exact 1),
weighted by how often each 8-bit level occurs in the test targets, and at the error size each loss actually
reached there (:func:`replicate.theory.effective_weight`), not only in the small-error limit: at exact 0 BCE is
linear, so a weight that is infinite in the limit is finite at any observed error. Losses for which the curvature
argument says nothing (MAE, Huber beyond its delta, the image losses) are marked "no prediction".
"""
from __future__ import annotations

import math

import numpy as np

from replicate import metrics, theory, vocabulary
from replicate.vocabulary import BASELINE

#: Extreme groups against which the midtone error is compared, with their label.
GROUPS = {"zero": "exact 0", "open_extreme": "open extremes (0, 0.1] and (0.9, 1)", "one": "exact 1"}


def theory_section(aggregates: list[dict]) -> dict:
    """Closed-form per-intensity weighting, logit gradients and logit curvature of each pixelwise loss."""
    grid = np.round(np.linspace(0.01, 0.99, 99), 2)
    z = np.linspace(-6.0, 6.0, 61)
    centers = 0.5 * (metrics.FINE_EDGES[1:] + metrics.FINE_EDGES[:-1])
    levels = np.arange(1, 255) / 255  # 8-bit levels strictly inside (0, 1): BCE's weight is infinite at 0 and 1
    band = metrics.band_index(levels)
    mid = band == metrics.MIDTONE
    ext = np.isin(band, [metrics.BAND_KEYS.index(b) for b in metrics.OPEN_EXTREME_BANDS])
    weights, gradients, curvatures, convex, predicted, at_centers = {}, {}, {}, {}, {}, {}
    a_wide, z_wide = np.linspace(0, 1, 51)[:, None], np.linspace(-12, 12, 97)[None]
    for name in theory.PIXELWISE:
        weights[name] = theory.relative_weight(name, grid).tolist()
        at_centers[name] = theory.relative_weight(name, centers).tolist()
        gradients[name] = {f"{a:g}": theory.dloss_dz(name, a, z).tolist() for a in (0.1, 0.5, 0.9)}
        curvatures[name] = {f"{a:g}": theory.d2loss_dz2(name, a, z).tolist() for a in (0.0, 0.1, 0.5)}
        least = float(np.nanmin(theory.d2loss_dz2(name, a_wide, z_wide)))
        convex[name] = {"convex_in_logit": least >= 0, "least_curvature": least}
        lw = theory.relative_weight(name, levels)
        predicted[name] = float(lw[ext].mean() / lw[mid].mean())
    measured = {}
    for agg in aggregates:
        measured.setdefault(f"{agg['dataset']}/{agg['model']}", {})[agg["loss"]] = {
            "fine_rmse": agg["fine"]["rmse"]["mean"],
            "midtone_extreme_rmse_ratio": agg["metrics"]["midtone_extreme_rmse_ratio"]["mean"],
        }
    return {
        "a_grid": grid.tolist(),
        "relative_weight": weights,
        "logit_grid": z.tolist(),
        "dloss_dz": gradients,
        "d2loss_dz2": curvatures,
        "logit_convexity": convex,
        "fine_centers": centers.tolist(),
        "relative_weight_at_fine_centers": at_centers,
        "predicted_extreme_to_midtone_weight": predicted,
        "predicted_note": ("small-error limit: mean relative weight (curvature at the optimum / that at a = 0.5) "
                           "over the 8-bit levels of the open extreme bands (0, 0.1] and (0.9, 1), divided by its "
                           "mean over the midtone levels (0.3, 0.7]; 1 = uniform weighting (MSE). Above 1 predicts "
                           "relatively larger midtone than extreme error."),
        "measured": measured,
        "worked_example": theory.worked_example(),
    }


def level_counts(targets: np.ndarray) -> np.ndarray:
    """How often each of the 256 8-bit levels occurs in the targets."""
    return np.bincount(np.asarray(targets, dtype=np.uint8).ravel(), minlength=256).astype(np.float64)


def group_weight(name: str, counts: np.ndarray, group: str, error: float) -> float | None:
    """Frequency-weighted mean effective weight over the levels of ``group`` (a key of :data:`GROUPS` or
    'midtone') at the observed error size; None where the group is empty or the error unknown."""
    levels = np.arange(256) / 255.0
    bands = metrics.EXTREME_GROUPS.get(group, (group,))
    mask = np.isin(metrics.band_index(levels), [metrics.BAND_KEYS.index(b) for b in bands]) & (counts > 0)
    if not mask.any() or error is None or not math.isfinite(error) or error <= 0:
        return None
    w = theory.effective_weight(name, levels[mask], error)
    return float(np.sum(counts[mask] * w) / np.sum(counts[mask]))


def _prediction(name: str, counts: np.ndarray, group: str, agg: dict) -> tuple[float | None, str | None]:
    """(midtone-relative weight of ``group`` for loss ``name`` at its observed errors, or None with the reason)."""
    term = vocabulary.LOSSES.get(name)
    if term is None or not term.pixelwise:
        return None, "no per-pixel closed form"
    if name == "mae":
        return None, "no curvature: MAE's slope is the same at every intensity"
    e_group = agg["metrics"].get(f"rmse_{group}", {}).get("mean")
    e_mid = agg["metrics"].get("rmse_midtone", {}).get("mean")
    if name == "huber" and any(e is not None and e > vocabulary.HUBER_DELTA for e in (e_group, e_mid)):
        return None, f"errors beyond Huber's delta = {vocabulary.HUBER_DELTA}, where it is linear"
    w_group, w_mid = group_weight(name, counts, group, e_group), group_weight(name, counts, "midtone", e_mid)
    if w_group is None or not w_mid:
        return None, "no pixels or no measured error in this group"
    return w_group / w_mid, None


def checks(results: dict, counts_by_dataset: dict) -> list[dict]:
    """Per model, loss (other than BCE) and extreme group: the weighting's predicted direction of the
    midtone/group RMSE ratio against BCE's, the measured paired difference, and the outcome."""
    aggs = {(a["dataset"], a["model"], a["loss"]): a for a in results["aggregates"]}
    comps = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in results["comparisons"]}
    out = []
    for dataset, model, loss in results["groups"]:
        if loss == BASELINE:
            continue
        counts = counts_by_dataset.get(dataset)
        agg, base = aggs.get((dataset, model, loss)), aggs.get((dataset, model, BASELINE))
        for group in GROUPS:
            row = {"dataset": dataset, "model": model, "loss": loss, "group": group, "weight": None,
                   "baseline_weight": None, "measured": None}
            if agg is None or base is None or counts is None:
                out.append({**row, "expect": "no paired runs", "outcome": "not tested"})
                continue
            weight, why = _prediction(loss, counts, group, agg)
            base_weight, base_why = _prediction(BASELINE, counts, group, base)
            row.update(weight=weight, baseline_weight=base_weight)
            comp = comps.get((dataset, model, loss, f"midtone_{group}_rmse_ratio"))
            if comp is not None and comp["seed_level"]["mean"] is not None:
                row["measured"] = {"difference": comp["seed_level"]["mean"], "ci95": comp["seed_level"]["ci95"]}
            if weight is None or base_weight is None:
                out.append({**row, "expect": "no prediction", "why": why or base_why, "outcome": "no prediction"})
                continue
            if math.isclose(weight, base_weight, rel_tol=1e-9):
                expect, sign = "same ratio as BCE", 0
            elif weight < base_weight:
                expect, sign = "smaller ratio than BCE", -1
            else:
                expect, sign = "larger ratio than BCE", 1
            row["expect"] = expect
            if row["measured"] is None:
                row["outcome"] = "not tested"
            elif not row["measured"]["ci95"]:
                row["outcome"] = "too few seeds"
            else:
                lo, hi = row["measured"]["ci95"]
                decided = lo > 0 or hi < 0
                if sign == 0:  # an interval around 0 is consistent with "same", not proof of it
                    row["outcome"] = "disagrees" if decided else "consistent"
                elif decided:
                    row["outcome"] = "agrees" if (row["measured"]["difference"] > 0) == (sign > 0) else "disagrees"
                else:
                    row["outcome"] = "inconclusive"
            out.append(row)
    return out
