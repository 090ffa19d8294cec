"""The answer: BCE against MSE on the sweep's pre-registered primary endpoint, one test per model, Holm-corrected
across models, with an equivalence test (TOST) against the stated margin, so that each model is "worse",
"better", "equivalent" or "inconclusive", never "no difference" from a wide interval. Secondary measures (edge
transfer, the midtone/extreme error ratio) are kept, and marked descriptive: no correction, no verdict."""
from __future__ import annotations

from replicate import config, vocabulary
from replicate.analysis.runs import num, runs_by_group
from replicate.analysis.stats import ALPHA, excludes_zero, holm, paired_test, t_interval, tost
from replicate.vocabulary import BASELINE, COMPARATOR

#: Descriptive secondary measures, BCE - MSE paired by seed.
SECONDARY = ("edge_transfer_midtone", "midtone_extreme_rmse_ratio", "midtone_open_extreme_rmse_ratio", "ssim")


def verdicts(runs: list[dict], sweep_config: dict) -> list[dict]:
    """BCE vs MSE per (dataset, model): the primary endpoint's paired test and equivalence test, Holm-corrected
    over the models whose verdict counts, and the descriptive secondary measures.

    Where the sweep trains a model both with the post's penalty and with it rescaled (``sparse`` and
    ``sparse_rescaled``, say), the rescaled one carries the verdict: its penalty weighs the same against either
    loss. The post's-penalty model is then reported with role "sensitivity", tested but not counted. The capacity
    sweep's code-size variants get no verdict: their BCE - MSE gap belongs to the mechanism (``mechanism.capacity``).
    """
    endpoint = sweep_config.get("endpoint") or "rmse_midtone"
    margin = sweep_config.get("margin") or config.DEFAULT_MARGIN
    groups = runs_by_group(runs)
    models = list(dict.fromkeys((d, m) for d, m, _ in groups if vocabulary.model(m).code_size is None))
    rescaled = {vocabulary.model(m).builder for _, m in models if vocabulary.model(m).penalty == "rescaled"}
    out = []
    for dataset, model in models:
        row = {"dataset": dataset, "model": model, "compared": f"{BASELINE} - {COMPARATOR}", "endpoint": endpoint,
               "role": "sensitivity" if model in rescaled else "primary"}
        bce, mse = groups.get((dataset, model, BASELINE)), groups.get((dataset, model, COMPARATOR))
        if not bce or not mse:
            lacking = [k for k, g in ((BASELINE, bce), (COMPARATOR, mse)) if not g]
            out.append({**row, "status": "not available", "lacking": lacking})
            continue
        row.update(_primary(bce, mse, endpoint, margin))
        row["secondary"] = {m: _difference(bce, mse, m) for m in SECONDARY}
        row["blur"] = _classify(row["secondary"]["edge_transfer_midtone"], "sharper", "as sharp", "blurrier")
        row["textbook"] = _classify(row["secondary"]["midtone_extreme_rmse_ratio"], "agrees", "inconclusive",
                                    "disagrees")
        row["convergence"] = {loss: _converged(g) for loss, g in ((BASELINE, bce), (COMPARATOR, mse))}
        row["all_converged"] = all(c["converged"] == c["runs"] for c in row["convergence"].values())
        out.append(row)
    family = [v for v in out if v["role"] == "primary" and "difference" in v]
    for key, adjusted in (("p_value", "p_holm"), ("tost_p", "tost_p_holm")):
        values = holm([v["difference"]["p_value"] if key == "p_value" else v["tost"]["p_value"] for v in family])
        for v, p in zip(family, values):
            v[adjusted] = p
    for v in out:
        if "difference" in v:
            v["status"] = _status(v, endpoint)
            if v["status"] == "equivalent":
                v["difference_within_margin"] = _direction(v, endpoint)
    return out


def _primary(bce: list[dict], mse: list[dict], endpoint: str, margin: float) -> dict:
    diff = _difference(bce, mse, endpoint)
    mse_mean = diff["mse_mean"]
    bound = margin * abs(mse_mean) if mse_mean else None
    test = tost(diff["per_seed"], bound) if bound else {"margin": None, "p_value": None, "ci90": None}
    return {"n_seeds": diff["n"], "difference": diff, "tost": test,
            "margin": {"relative": margin, "absolute": bound}}


def _difference(bce: list[dict], mse: list[dict], metric: str) -> dict:
    """BCE - MSE on a run-level metric, paired by seed, with each loss's mean over the paired seeds."""
    by_seed = {r["seed"]: r for r in mse}
    pairs = [(r, by_seed[r["seed"]]) for r in bce if r["seed"] in by_seed]
    diffs = [num(b["metrics"][metric]) - num(m["metrics"][metric]) for b, m in pairs]
    test = paired_test(diffs)
    bce_mean = t_interval([b["metrics"][metric] for b, _ in pairs])["mean"]
    mse_mean = t_interval([m["metrics"][metric] for _, m in pairs])["mean"]
    relative = test["mean"] / abs(mse_mean) if test["mean"] is not None and mse_mean not in (None, 0) else None
    return {"metric": metric, "n": test["n"], "difference": test["mean"], "ci95": test["ci95"],
            "p_value": test["p_value"], "d_z": test["d_z"], "excludes_zero": test["excludes_zero"],
            "bce_mean": bce_mean, "mse_mean": mse_mean, "relative_to_mse": relative,
            "seeds": [b["seed"] for b, _ in pairs], "per_seed": diffs}


def _status(v: dict, endpoint: str) -> str:
    """'equivalent' (TOST, Holm) > 'worse'/'better' (paired t, Holm) > 'inconclusive'; sensitivity rows are
    judged the same way on their unadjusted p-values."""
    if v["n_seeds"] < 2:
        return "insufficient seeds"
    primary = v["role"] == "primary"
    p_eq = v.get("tost_p_holm") if primary else v["tost"]["p_value"]
    if p_eq is not None and p_eq < ALPHA:
        return "equivalent"
    return _direction(v, endpoint) or "inconclusive"


def _direction(v: dict, endpoint: str) -> str | None:
    """'worse' or 'better' where the paired t-test (Holm-corrected for primary rows) shows a difference, else None
    (an equivalent model can also differ significantly, by less than the margin)."""
    p_diff = v.get("p_holm") if v["role"] == "primary" else v["difference"]["p_value"]
    if p_diff is None or p_diff >= ALPHA:
        return None
    bce_larger = v["difference"]["difference"] > 0
    return "better" if bce_larger == (vocabulary.BETTER[endpoint] > 0) else "worse"


def _classify(effect: dict, above: str, inside: str, below: str) -> str:
    """``above`` if the whole CI is above 0, ``below`` if below, else ``inside`` (descriptive: no correction)."""
    if effect["ci95"] is None:
        return "insufficient seeds"
    lo, hi = effect["ci95"]
    return above if lo > 0 else below if hi < 0 else inside


def _converged(group: list[dict]) -> dict:
    """How many of a group's runs met the convergence rule, and their optimizer steps."""
    steps = [r["training"]["steps"] for r in group if r["training"].get("steps") is not None]
    return {"runs": len(group), "converged": sum(bool(r["training"]["converged"]) for r in group),
            "steps_mean": sum(steps) / len(steps) if steps else None,
            "last_improvement": t_interval([num(r["training"]["last_improvement"]) for r in group])["mean"]}


def answer(verdict_rows: list[dict]) -> dict:
    """The one-word answer over the models whose verdict counts: yes (BCE worse for every one), no (better for
    every one), equivalent, inconclusive, mixed, or none (no verdict); ``unrated`` names the models whose verdict
    would count but could not be given (no usable run of a loss, or too few paired seeds)."""
    rated = [v for v in verdict_rows if v.get("role") == "primary"
             and v.get("status") in ("worse", "better", "equivalent", "inconclusive")]
    by_status = {st: [[v["dataset"], v["model"]] for v in rated if v["status"] == st]
                 for st in ("worse", "better", "equivalent", "inconclusive")}
    if not rated:
        word = "none"
    else:
        statuses = {v["status"] for v in rated}
        word = ("mixed" if len(statuses) > 1 else
                {"worse": "yes", "better": "no", "equivalent": "equivalent", "inconclusive": "inconclusive"}[
                    statuses.pop()])
    not_converged = [[v["dataset"], v["model"]] for v in rated if not v.get("all_converged")]
    unrated = [[v["dataset"], v["model"], v.get("status", "not available")] for v in verdict_rows
               if v.get("role") == "primary" and v not in rated]
    return {"word": word, "rated": len(rated), "by_status": by_status, "not_converged": not_converged,
            "unrated": unrated}


__all__ = ["answer", "excludes_zero", "verdicts"]
