"""The mechanism, tested: the 2 x 2 factorial of losses that separates BCE's weighting of errors from its
non-saturating logit gradient, the BCE - MSE gap against the simple model's code size, and how many outputs
training leaves saturated at the wrong end under each loss.

Effects are contrasts of the four cells per seed (all four losses of a model and seed start from the same weights
and see the same batches), then a t-interval over seeds:

- weighting = mean over saturation of (BCE's weighting - MSE's weighting)
  = ((BCE - BCE with MSE's weighting) + (MSE with BCE's weighting - MSE)) / 2;
- saturation = mean over weighting of (BCE's non-saturating gradient - MSE's saturating one)
  = ((BCE - MSE with BCE's weighting) + (BCE with MSE's weighting - MSE)) / 2;
- interaction = (BCE - BCE with MSE's weighting) - (MSE with BCE's weighting - MSE).

Both main effects point from MSE's level of a factor to BCE's, so the gap BCE - MSE is exactly their sum. Each main
effect is the mean of its two simple effects, its effect at either level of the other factor (weighting: BCE - BCE
with MSE's weighting, and MSE with BCE's weighting - MSE); a factor whose simple effects exclude 0 on opposite
sides has no direction of its own, and the conclusion does not name it.
"""
from __future__ import annotations

import numpy as np

from replicate import vocabulary
from replicate.analysis.runs import num, runs_by_group
from replicate.analysis.stats import excludes_zero, t_interval
from replicate.vocabulary import BASELINE, COMPARATOR

#: Outcomes on which the factorial's effects are computed.
OUTCOMES = ("rmse_midtone", "midtone_extreme_rmse_ratio", "rmse_extreme")


def _cell(weighting: str, saturates: bool) -> str:
    return next(k for k in vocabulary.FACTORIAL
                if (vocabulary.LOSSES[k].weighting, vocabulary.LOSSES[k].saturates) == (weighting, saturates))


def factorial(runs: list[dict]) -> list[dict]:
    """Per (dataset, model) with runs of all four factorial losses: the main effects, the interaction and each
    factor's two simple effects on each outcome, with CIs over seeds, and a one-line conclusion on the midtone
    RMSE."""
    groups = runs_by_group(runs)
    b, m = _cell("bce", False), _cell("mse", True)  # BCE and MSE themselves
    bm, mb = _cell("mse", False), _cell("bce", True)  # BCE with MSE's weighting, MSE with BCE's weighting
    out = []
    for dataset, model in dict.fromkeys((d, mo) for d, mo, _ in groups):
        cells = {k: {r["seed"]: r for r in groups.get((dataset, model, k), [])} for k in (b, m, bm, mb)}
        seeds = sorted(set.intersection(*(set(c) for c in cells.values())))
        if not seeds:
            continue
        row = {"dataset": dataset, "model": model, "seeds": seeds, "effects": {}}
        for outcome in OUTCOMES:
            y = {k: np.array([num(cells[k][s]["metrics"][outcome]) for s in seeds]) for k in cells}
            contrasts = {
                "gap": y[b] - y[m],
                "weighting": ((y[b] - y[bm]) + (y[mb] - y[m])) / 2,
                "saturation": ((y[b] - y[mb]) + (y[bm] - y[m])) / 2,
                "interaction": (y[b] - y[bm]) - (y[mb] - y[m]),
            }
            simple = {"weighting": (y[b] - y[bm], y[mb] - y[m]), "saturation": (y[b] - y[mb], y[bm] - y[m])}
            row["effects"][outcome] = {
                "cells": {k: t_interval(v) for k, v in y.items()},
                **{name: _interval(v) for name, v in contrasts.items()},
                "simple": {name: [_interval(v) for v in pair] for name, pair in simple.items()}}
        row["conclusion"] = _conclusion(row["effects"]["rmse_midtone"])
        row["converged"] = {k: sum(bool(cells[k][s_]["training"].get("converged")) for s_ in seeds) for k in cells}
        out.append(row)
    return out


def _interval(values) -> dict:
    """:func:`t_interval` of ``values`` with whether its CI excludes 0."""
    interval = t_interval(values)
    return {**interval, "excludes_zero": excludes_zero(interval["ci95"])}


def _conclusion(e: dict) -> dict:
    """Which cause accounts for BCE's midtone gap, from the CIs of the gap and of the two main effects: ``causes``
    push the way the gap goes, ``opposing`` the other way (the gap is then what is left of the two). A factor whose
    two simple effects (its effect at each level of the other factor) both exclude 0 with opposite signs has no
    direction of its own to credit with the gap: it is listed under ``depends`` and not named."""
    gap, weighting, saturation = e["gap"], e["weighting"], e["saturation"]
    if gap["ci95"] is None:
        return {"key": "too few seeds", "causes": [], "opposing": [], "depends": []}
    factors = (("weighting", weighting, "weighting"), ("gradient shape", saturation, "saturation"))
    depends = [name for name, _, key in factors if gap["excludes_zero"] and _reverses(e.get("simple", {}).get(key))]
    shown = [(name, eff) for name, eff, _ in factors if eff["excludes_zero"] and name not in depends]
    causes = [n for n, eff in shown if gap["mean"] and np.sign(eff["mean"]) == np.sign(gap["mean"])]
    opposing = [n for n, eff in shown if n not in causes]
    if not gap["excludes_zero"]:
        key = "no gap to explain"
    elif causes and opposing:
        key = "opposing causes"
    elif causes == ["weighting"]:
        key = "the weighting accounts for the gap"
    elif causes == ["gradient shape"]:
        key = "the gradient shape accounts for the gap"
    elif causes:
        key = "both causes contribute"
    elif len(depends) == 2:
        key = "the causes interact"
    else:
        key = "not resolved at this budget"
    return {"key": key, "causes": causes, "opposing": opposing, "depends": depends,
            "interaction": e["interaction"]["excludes_zero"]}


def _reverses(simple: list[dict] | None) -> bool:
    """Whether a factor's two simple effects both exclude 0 and point opposite ways."""
    if not simple:
        return False
    one, other = simple
    return bool(one["excludes_zero"] and other["excludes_zero"] and np.sign(one["mean"]) != np.sign(other["mean"]))


def capacity(runs: list[dict]) -> dict | None:
    """The BCE - MSE midtone RMSE gap (and each factorial loss's midtone RMSE) against the simple model's code
    size, with a least-squares slope of the per-seed gaps on log2(code size)."""
    groups = runs_by_group(runs)
    rows, xs, ys = [], [], []
    for key in vocabulary.MODEL_KEYS:
        term = vocabulary.MODELS[key]
        if term.code_size is None:  # the capacity sweep's own models (the post's simple is not counted twice)
            continue
        for dataset in sorted({d for d, mo, _ in groups if mo == key}):
            b = {r["seed"]: r for r in groups.get((dataset, key, BASELINE), [])}
            m = {r["seed"]: r for r in groups.get((dataset, key, COMPARATOR), [])}
            seeds = sorted(set(b) & set(m))
            gaps = [num(b[s]["metrics"]["rmse_midtone"]) - num(m[s]["metrics"]["rmse_midtone"]) for s in seeds]
            size = vocabulary.code_size(key)
            losses = {loss: t_interval([r["metrics"]["rmse_midtone"] for r in groups.get((dataset, key, loss), [])])
                      for loss in vocabulary.FACTORIAL if groups.get((dataset, key, loss))}
            rows.append({"dataset": dataset, "model": key, "code_size": size,
                         "gap": _interval(gaps),
                         "relative_gap": t_interval([g / num(m[s]["metrics"]["rmse_midtone"])
                                                     for g, s in zip(gaps, seeds)]),
                         "rmse_midtone": losses})
            xs += [np.log2(size)] * len(gaps)
            ys += gaps
    if len({r["code_size"] for r in rows}) < 3:
        return None
    rows.sort(key=lambda r: (r["dataset"], r["code_size"]))
    trend = _slope(np.array(xs), np.array(ys))
    return {"rows": rows, "trend": {**trend, "conclusion": trend_conclusion(trend)}}


def trend_conclusion(trend: dict) -> str:
    """The capacity prediction judged by the slope of the gap per doubling of the code size: the weighting argument
    predicts a gap that grows as capacity shrinks, i.e. a negative slope whose CI excludes 0."""
    if trend.get("slope") is None:
        return "too few runs"
    if not trend.get("excludes_zero"):
        return "no trend shown"
    return "as predicted" if trend["slope"] < 0 else "against the prediction"


def _slope(x: np.ndarray, y: np.ndarray) -> dict:
    """Least-squares slope of y on x with its t-interval (n - 2 degrees of freedom)."""
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0:
        return {"slope": None, "ci95": None, "n": int(len(x))}
    fit = stats.linregress(x, y)
    half = float(stats.t.ppf(0.975, len(x) - 2)) * fit.stderr
    ci = [fit.slope - half, fit.slope + half]
    return {"slope": float(fit.slope), "ci95": ci, "n": int(len(x)), "excludes_zero": excludes_zero(ci),
            "per": "doubling of the code size"}


def saturation(runs: list[dict]) -> list[dict]:
    """Per (dataset, model, loss): the mean over seeds of the share of outputs saturated at the wrong end after
    each epoch (runs that recorded it)."""
    out = []
    for (dataset, model, loss), group in runs_by_group(runs).items():
        curves = [r["history"].get("saturated_wrong") for r in group if r.get("history")]
        curves = [c for c in curves if c]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        arr = np.array([c[:n] for c in curves], dtype=float)
        out.append({"dataset": dataset, "model": model, "loss": loss, "epoch": list(range(1, n + 1)),
                    "share": arr.mean(axis=0).tolist(), "first_epoch": t_interval(arr[:, 0]),
                    "last_epoch": t_interval(arr[:, -1])})
    return out
