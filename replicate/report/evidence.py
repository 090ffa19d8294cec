"""The report's evidence section: error by intensity, the metric tables, the theory checks and learning curves,
formatted from ``results.json``."""
from __future__ import annotations

from replicate import figures
from replicate.report.format import ci_decimals, decimals, effect, fmt, fmt_ci
from replicate.report.view import Results
from replicate.vocabulary import BASELINE, BETTER, loss_color, loss_label

#: Metric tables: (title, caption, ((metric key, label)...)); a difference is judged better or worse in the
#: direction ``vocabulary.BETTER`` gives, and only marked for a metric without one.
METRIC_TABLES = (
    ("Whole image", "SSIM (Gaussian window), PSNR (mean over images), edge transfer (the slope of the "
     "reconstruction's gradients on the target's: 1 = every edge kept, below 1 = blurred) and the share of "
     "high-frequency energy kept.",
     (("ssim", "SSIM"), ("psnr_mean_of_images", "PSNR (dB)"), ("edge_transfer", "Edge transfer"),
      ("hf_energy_ratio", "HF energy kept"))),
    ("By target intensity", "Computed over midtone target pixels, or extreme ones (exact 0, dark, highlight, "
     "exact 1); midtone edge transfer is over the inside of shapes (midtone pixels not touching background); "
     "the last column is midtone RMSE / extreme RMSE.",
     (("ssim_midtone", "Midtone SSIM"), ("rmse_midtone", "Midtone RMSE"), ("rmse_extreme", "Extreme RMSE"),
      ("edge_transfer_midtone", "Midtone edge transfer"), ("midtone_extreme_rmse_ratio", "Midtone / extreme"))),
)
_GROUPS = {"zero": "exact 0", "open_extreme": "open extremes", "one": "exact 1"}


def evidence(s: Results) -> dict:
    t = s.theory
    centers = t.get("fine_centers", [])
    curves, learning = {}, {}
    for dataset, model in s.main_models():
        title = s.title(dataset, model)
        for loss in s.losses_of(dataset, model):
            agg = s.aggs.get((dataset, model, loss))
            if agg is None or "rmse" not in agg.get("fine", {}):
                continue
            f = agg["fine"]["rmse"]
            curves.setdefault(title, {})[loss] = {"mean": f["mean"], "lo": f["ci_lo"], "hi": f["ci_hi"]}
            lc = (s.convergence.get((dataset, model, loss)) or {}).get("learning_curve")
            if lc and len(lc["epoch"]) > 1:
                learning.setdefault(title, {})[loss] = lc
    predicted = {k: v for k, v in t.get("relative_weight_at_fine_centers", {}).items()
                 if k in ("bce", "mse", "continuous_bernoulli") and any(k in c for c in curves.values())}
    return {
        "curves": figures.error_by_intensity(centers, curves, predicted, s.midtone_range()) if curves else None,
        "tables": [_metric_table(s, title, caption, spec) for title, caption, spec in METRIC_TABLES],
        "learning": figures.learning_curves(learning) if learning else None,
        "checks": [_check(s, c) for c in s.r.get("theory_checks", [])],
        "convergence": _convergence(s),
    }


def _metric_table(s: Results, title: str, caption: str, spec) -> dict:
    """Rows (grouped by model) of mean [CI] and the paired difference to BCE [CI] per metric."""
    groups = []
    for dataset, model in s.models:
        rows = []
        for loss in s.losses_of(dataset, model):
            key = (dataset, model, loss)
            done, expected = s.seed_count(key)
            row = {"loss": loss_label(loss), "color": loss_color(loss), "seeds": f"{done}/{expected}",
                   "partial": done < expected, "missing": done == 0, "cells": []}
            agg = s.aggs.get(key)
            for metric, _ in spec:
                direction = BETTER.get(metric, 0)
                stat = (agg or {}).get("metrics", {}).get(metric) or {}
                d = decimals(stat.get("mean"), 3)
                cell = {"value": fmt(stat.get("mean"), d), "ci": fmt_ci(stat.get("ci95"), d) if stat else ""}
                comp = s.comps.get((dataset, model, loss, metric))
                if loss == BASELINE:
                    cell["delta"] = "baseline"
                    cell["mark"] = "base"
                elif comp and comp["seed_level"]["mean"] is not None:
                    sl = comp["seed_level"]
                    dd = ci_decimals(sl["mean"], sl["ci95"])
                    sig = bool(sl.get("excludes_zero"))
                    better = sig and direction and (sl["mean"] * direction > 0)
                    worse = sig and direction and (sl["mean"] * direction < 0)
                    cell.update(delta=fmt(sl["mean"], dd, sign=True), delta_ci=fmt_ci(sl["ci95"], dd, sign=True),
                                p="" if sl.get("p_value") is None else f"p = {sl['p_value']:.2g}",
                                mark="better" if better else "worse" if worse else "sig" if sig else "ns")
                else:
                    cell.update(delta="no paired BCE run", mark="na")
                row["cells"].append(cell)
            rows.append(row)
        groups.append({"model": s.title(dataset, model), "rows": rows})
    return {"title": title, "caption": caption, "columns": [label for _, label in spec], "groups": groups}


def _check(s: Results, c: dict) -> dict:
    """One row of the table that holds the weighting's prediction against the measured ratio."""
    return {"model": s.title(c["dataset"], c["model"]), "loss": loss_label(c["loss"]),
            "group": _GROUPS.get(c["group"], c["group"]), "weight": fmt(c.get("weight"), sig=3),
            "bce_weight": fmt(c.get("baseline_weight"), sig=3),
            "expect": c["expect"] + (f" ({c['why']})" if c.get("why") else ""),
            "measured": effect(c["measured"]) if c.get("measured") else "—", "outcome": c["outcome"]}


def _convergence(s: Results) -> list[dict]:
    """Per model: each loss's optimizer steps, how many runs met the convergence rule, the last epoch's gain."""
    out = []
    for dataset, model in s.models:
        rows = []
        for loss in s.losses_of(dataset, model):
            c = s.convergence.get((dataset, model, loss))
            if not c:
                continue
            steps = c.get("steps") or {}
            span = ("—" if not steps else fmt(steps["mean"], 0) if steps["min"] == steps["max"]
                    else f"{fmt(steps['min'], 0)}–{fmt(steps['max'], 0)}")
            gain = c["last_improvement"]
            rows.append({"loss": loss_label(loss), "color": loss_color(loss), "steps": span,
                         "converged": f"{c['converged']}/{c['runs']}", "all": c["converged"] == c["runs"],
                         "gain": "—" if gain["mean"] is None else f"{fmt(100 * gain['mean'], sig=2)} %"})
        if rows:
            out.append({"model": s.title(dataset, model), "rows": rows})
    return out
