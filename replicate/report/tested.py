"""The report's section "Mechanism, tested": the 2 x 2 factorial of losses, the gap against code size, and how many
outputs each loss leaves saturated at the wrong end, as ``results.json`` computed them."""
from __future__ import annotations

from replicate import figures, vocabulary
from replicate.report.format import capitalised, effect, fmt, join, plural
from replicate.report.view import Results
from replicate.vocabulary import loss_label

CAUSES = (
    ("weighting", "BCE's weighting, 1/(a(1 − a)) near the optimum",
     "it moves error from the extremes to the midtones, so it raises midtone RMSE",
     "BCE against BCE with MSE's weighting, and MSE with BCE's weighting against MSE"),
    ("saturation", "BCE's logit gradient, which does not fade at saturated outputs (MSE's fades with x(1 − x))",
     "saturated outputs keep learning, which matters most where targets are extreme",
     "BCE against MSE with BCE's weighting, and BCE with MSE's weighting against MSE"),
)
_OUTCOMES = {"rmse_midtone": "midtone RMSE", "midtone_extreme_rmse_ratio": "midtone / extreme RMSE",
             "rmse_extreme": "extreme RMSE"}


def tested(s: Results) -> dict:
    mech = s.r.get("mechanism") or {}
    factorial = [_factorial(s, f) for f in mech.get("factorial", [])]
    return {"factorial": factorial, "ablation_curves": _ablation_curves(s, mech.get("factorial", [])),
            "capacity": _capacity(mech.get("capacity")), "saturation": _saturation(s, mech.get("saturation", [])),
            "labels": {k: loss_label(k) for k in vocabulary.FACTORIAL},
            "available": bool(factorial or mech.get("capacity"))}


def _factorial(s: Results, f: dict) -> dict:
    rows = []
    for key, cause, prediction, cells in CAUSES:
        for outcome, label in _OUTCOMES.items():
            e = f["effects"][outcome][key]
            rows.append({"cause": cause, "prediction": prediction, "cells": cells, "outcome": label,
                         "effect": effect({"difference": e["mean"], "ci95": e["ci95"]}), "sig": e["excludes_zero"]})
    gap = f["effects"]["rmse_midtone"]["gap"]
    inter = f["effects"]["rmse_midtone"]["interaction"]
    conclusion = f["conclusion"]
    if conclusion["key"] == "opposing causes":
        e = f["effects"]["rmse_midtone"]
        up, down = conclusion["causes"][0], conclusion["opposing"][0]
        size = {"weighting": e["weighting"]["mean"], "gradient shape": e["saturation"]["mean"]}
        moves = {name: "raises" if v > 0 else "lowers" for name, v in size.items()}
        return _rows_and_conclusion(s, f, rows, gap, inter, (
            f"BCE's {up} {moves[up]} its midtone error ({fmt(size[up], sig=2, sign=True)}) and its {down} "
            f"{moves[down]} it ({fmt(size[down], sig=2, sign=True)}); the BCE − MSE gap, "
            f"{fmt(gap['mean'], sig=2, sign=True)}, is what is left of the two, so neither accounts for it alone"))
    depends = conclusion.get("depends") or []
    unresolved = [name for name in ("weighting", "gradient shape") if name not in depends]
    text = {"the weighting accounts for the gap": "the weighting accounts for BCE's midtone gap"
                                                  + ("" if depends else "; the gradient shape's effect is not "
                                                                        "distinguishable from 0"),
            "the gradient shape accounts for the gap": "the gradient shape accounts for BCE's midtone gap"
                                                       + ("" if depends else "; the weighting's effect is not "
                                                                             "distinguishable from 0"),
            "both causes contribute": "both the weighting and the gradient shape contribute to BCE's midtone gap",
            "no gap to explain": "BCE and MSE do not differ in midtone RMSE here, so there is no gap to explain",
            "not resolved at this budget": (f"the {unresolved[0]} is not resolved at this number of seeds"
                                            if depends and unresolved else
                                            "neither cause is resolved at this number of seeds"),
            "the causes interact": "neither cause accounts for BCE's midtone gap on its own: the direction each one "
                                   "moves the midtone error depends on the other",
            "too few seeds": "too few seeds for intervals"}[conclusion["key"]]
    return _rows_and_conclusion(s, f, rows, gap, inter, text)


def _rows_and_conclusion(s: Results, f: dict, rows: list, gap: dict, inter: dict, text: str) -> dict:
    unsettled = [f"{loss_label(k)} in {n} of {len(f['seeds'])}" for k, n in (f.get("converged") or {}).items()
                 if n < len(f["seeds"])]
    interact, depends = f["conclusion"].get("interaction"), f["conclusion"].get("depends") or []
    both = f["conclusion"]["key"] == "the causes interact"
    return {"model": s.title(f["dataset"], f["model"]), "seeds": plural(len(f["seeds"]), "seed"), "rows": rows,
            "gap": effect({"difference": gap["mean"], "ci95": gap["ci95"]}),
            "interaction": effect({"difference": inter["mean"], "ci95": inter["ci95"]}),
            "conclusion": f"{s.title(f['dataset'], f['model'])}: {text}"
            + (" (the two interact: their effects do not simply add)" if interact and not both else "")
            + "." + "".join(f" BCE's {name} is not named as a cause: its effect changes sign with the {other} "
                            f"({_simple(f, key, levels)})." for name, key, other, levels in _FACTORS
                            if name in depends and not both)
            + (f" Runs met the convergence rule before the epoch cap for {join(unsettled)} seeds; those cells "
               "measure models still improving." if unsettled else "")}


#: Each factor, the other one, and the other's two levels in the order ``results.json`` gives its simple effects.
_FACTORS = (("weighting", "weighting", "gradient shape", ("BCE's gradient", "MSE's gradient")),
            ("gradient shape", "saturation", "weighting", ("BCE's weighting", "MSE's weighting")))


def _simple(f: dict, key: str, levels: tuple[str, str]) -> str:
    """A factor's two simple effects on the midtone RMSE, each with its interval and the level it was taken at."""
    pair = f["effects"]["rmse_midtone"]["simple"][key]
    return " and ".join(f"{effect({'difference': e['mean'], 'ci95': e['ci95']})} under {level}"
                        for e, level in zip(pair, levels))


def _ablation_curves(s: Results, factorial: list[dict]) -> str | None:
    centers = s.theory.get("fine_centers", [])
    curves = {}
    for f in factorial:
        for loss in vocabulary.FACTORIAL:
            agg = s.aggs.get((f["dataset"], f["model"], loss))
            if agg:
                rmse = agg["fine"]["rmse"]
                curves.setdefault(s.title(f["dataset"], f["model"]), {})[loss] = {
                    "mean": rmse["mean"], "lo": rmse["ci_lo"], "hi": rmse["ci_hi"]}
    if not curves:
        return None
    predicted = {k: v for k, v in s.theory.get("relative_weight_at_fine_centers", {}).items()
                 if k in vocabulary.FACTORIAL}
    if len(curves) > 6:  # one panel per code size is too many: the post's size and the extremes
        keep = list(curves)
        curves = {k: curves[k] for k in (keep[0], keep[len(keep) // 2], keep[-1])}
    return figures.error_by_intensity(centers, curves, predicted, s.midtone_range())


def _capacity(cap: dict | None) -> dict | None:
    if not cap:
        return None
    series: dict[str, dict] = {}
    rows = []
    for r in cap["rows"]:
        g = r["gap"]
        entry = series.setdefault(r["dataset"], {"code_size": [], "mean": [], "lo": [], "hi": []})
        entry["code_size"].append(r["code_size"])
        entry["mean"].append(g["mean"])
        entry["lo"].append(g["ci95"][0] if g["ci95"] else g["mean"])
        entry["hi"].append(g["ci95"][1] if g["ci95"] else g["mean"])
        rows.append({"dataset": r["dataset"], "code_size": r["code_size"],
                     "gap": effect({"difference": g["mean"], "ci95": g["ci95"]}), "sig": g["excludes_zero"],
                     "relative": fmt(100 * r["relative_gap"]["mean"], sig=2, sign=True) + " %"
                     if r["relative_gap"]["mean"] is not None else "—"})
    trend = cap["trend"]
    conclusion = trend.get("conclusion")
    if conclusion is None:  # a file written before results.json held it: the analysis' own rule judges it
        from replicate.analysis.mechanism import trend_conclusion

        conclusion = trend_conclusion(trend)
    slope = effect({"difference": trend["slope"], "ci95": trend["ci95"]}) if trend.get("slope") is not None else ""
    words = {"too few runs": "Too few runs to fit a trend.",
             "no trend shown": (f"The gap changes by {slope} per doubling of the code size: no trend is shown, so "
                                "the prediction that the gap grows as capacity shrinks is not confirmed here."),
             "as predicted": (f"The gap shrinks by {slope} per doubling of the code size: it grows as capacity "
                              "shrinks, as the weighting argument predicts."),
             "against the prediction": (f"The gap grows by {slope} per doubling of the code size: against the "
                                        "prediction, it is larger with more capacity.")}[conclusion]
    return {"figure": figures.gap_by_code_size(series), "rows": rows, "trend": words}


def _saturation(s: Results, rows: list[dict]) -> dict | None:
    if not rows:
        return None
    models: dict[str, dict] = {}
    table = []
    for r in rows:
        models.setdefault(s.title(r["dataset"], r["model"]), {})[r["loss"]] = {"epoch": r["epoch"], "share": r["share"]}
        table.append({"model": s.title(r["dataset"], r["model"]), "loss": loss_label(r["loss"]),
                      "first": fmt(100 * r["first_epoch"]["mean"], sig=2) + " %",
                      "last": fmt(100 * r["last_epoch"]["mean"], sig=2) + " %"})
    if len(models) > 9:
        models = dict(list(models.items())[:9])
    worst = max(rows, key=lambda r: r["first_epoch"]["mean"] or 0)
    summary = (f"After the first epoch, {fmt(100 * worst['first_epoch']['mean'], sig=2)} % of the outputs of "
               f"{s.title(worst['dataset'], worst['model'])} trained with {loss_label(worst['loss'])} were saturated "
               "at the wrong end, the most of any model and loss here.")
    steady = [loss_label(k) for k, t in vocabulary.LOSSES.items() if not t.saturates and t.trained]
    return {"figure": figures.saturation_curves(models), "rows": table, "summary": summary,
            "steady": join(steady), "rule": capitalised((s.methods.get("saturation") or {}).get("rule", ""))}
