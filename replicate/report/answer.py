"""The report's header and its first section, the answer: the verdicts of ``results.json`` in words and a table."""
from __future__ import annotations

from replicate import figures
from replicate.report.format import ci_decimals, decimals, effect, finite, fmt, fmt_ci, join, pct, plural, when
from replicate.report.view import Results

_VERDICT_WORDS = {"worse": "BCE worse", "equal": "no difference", "better": "BCE better",
                  "insufficient seeds": "too few seeds", "not available": "no verdict"}


def header(s: Results) -> dict:
    n_done, n_missing = len(s.runs), len(s.missing)
    by_status: dict[str, int] = {}
    for m in s.missing:
        by_status[m["status"]] = by_status.get(m["status"], 0) + 1
    date = s.provenance.get("finished") or s.provenance.get("end_time") or s.provenance.get("started") \
        or s.provenance.get("start_time")
    return {
        "profile": s.config.get("profile", "?"),
        "datasets": ", ".join(s.datasets),
        "runs": f"{n_done} of {n_done + n_missing} runs finished",
        "missing": ", ".join(f"{n} {status}" for status, n in by_status.items()),
        "seeds": plural(len(s.seeds), "seed"),
        "models": plural(len(s.models), "model"),
        "losses": plural(len(s.losses), "loss"),
        "date": when(date) if date else "date not recorded",
    }


def answer(s: Results) -> dict:
    verdicts = s.r.get("verdicts", [])
    judged = s.r.get("answer") or {"word": "none", "rated": 0, "by_status": {}}
    names = {st: [s.title(d, m) for d, m in judged["by_status"].get(st, [])] for st in ("worse", "equal", "better")}
    rated = [v for v in verdicts if v.get("status") in ("worse", "equal", "better")]
    word = judged["word"]
    if word == "none":
        headline = ("No verdict on this sweep." if verdicts else
                    "No verdict on this sweep: no model has finished runs with both BCE and MSE.")
    elif word == "yes":
        headline = (f"Yes. BCE's midtone error is measurably larger than MSE's for every model compared "
                    f"({judged['rated']} of {judged['rated']}: {join(names['worse'])}).")
    elif names["equal"] and not names["better"] and not names["worse"]:
        headline = (f"No measurable difference: BCE's midtone error is within the 95% CI of MSE's for every "
                    f"model compared ({join(names['equal'])}).")
    elif word == "no":
        headline = f"No. BCE's midtone error is measurably smaller than MSE's for {join(names['better'])}."
    else:
        parts = []
        if names["worse"]:
            parts.append(f"larger than MSE's for {join(names['worse'])}")
        if names["equal"]:
            parts.append(f"not measurably different for {join(names['equal'])}")
        if names["better"]:
            parts.append(f"smaller for {join(names['better'])}")
        headline = "Mixed. BCE's midtone error is " + "; ".join(parts) + "."
    details = [] if rated else [v["sentence"] for v in verdicts if v.get("sentence")]
    if rated:
        rel = [r for r in (v["rmse_midtone"].get("relative_to_mse") for v in rated) if finite(r)]
        if rel:
            span = pct(rel[0]) if len(rel) == 1 else f"{pct(min(rel))} to {pct(max(rel))}"
            details.append(f"BCE − MSE midtone RMSE, relative to MSE's: {span}.")
        blurrier = [v for v in rated if v.get("blur") == "blurrier"]
        sharper = [v for v in rated if v.get("blur") == "sharper"]
        higher = f" and higher for {len(sharper)}" if sharper else ""
        details.append(f"Midtone sharpness is lower (blurrier) under BCE for {len(blurrier)} of "
                       f"{plural(len(rated), 'model')}{higher}.")
    return {"word": word, "headline": headline, "details": details, "rows": [_row(s, v) for v in verdicts],
            "forest": _forest(s, verdicts) if rated else None, "reason": _reason(s, verdicts),
            "n_missing": len(s.missing)}


def _row(s: Results, v: dict) -> dict:
    row = {"model": s.title(v["dataset"], v["model"]), "status": v.get("status", "not available"),
           "badge": _VERDICT_WORDS.get(v.get("status"), v.get("status", "")), "sentence": v.get("sentence", ""),
           "blur": v.get("blur") if v.get("blur") in ("blurrier", "as sharp", "sharper") else ""}
    if "rmse_midtone" in v:
        m, sh, ratio = v["rmse_midtone"], v["sharpness_midtone"], v["midtone_extreme_rmse_ratio"]
        d, dd = decimals(m.get("bce_mean"), 3), ci_decimals(m.get("difference"), m.get("ci95"))
        row.update(
            n=v.get("n_seeds"), bce=fmt(m.get("bce_mean"), d), mse=fmt(m.get("mse_mean"), d),
            diff=fmt(m.get("difference"), dd, sign=True), diff_ci=fmt_ci(m.get("ci95"), dd, sign=True),
            rel=pct(m.get("relative_to_mse")), sig=bool(m.get("excludes_zero")),
            sharp=effect(sh), sharp_sig=bool(sh.get("excludes_zero")), ratio=effect(ratio),
            textbook=v.get("textbook", ""))
    return row


def _forest(s: Results, verdicts: list[dict]) -> str:
    panels = []
    for key, title, unit in (("rmse_midtone", "Midtone RMSE", "> 0: more midtone error under BCE"),
                             ("sharpness_midtone", "Midtone sharpness", "< 0: BCE is blurrier"),
                             ("midtone_extreme_rmse_ratio", "Midtone / extreme RMSE",
                              "> 0: as the 1/(a(1−a)) weight predicts")):
        panels.append({"title": title, "xlabel": unit, "rows": [
            {"label": s.title(v["dataset"], v["model"]), "difference": v[key].get("difference"),
             "ci95": v[key].get("ci95"), "significant": bool(v[key].get("excludes_zero"))}
            for v in verdicts if key in v]})
    return figures.effect_forest(panels)


def _reason(s: Results, verdicts: list[dict]) -> str:
    """The one-paragraph why, from the predicted weighting and the verdicts' textbook and blur fields."""
    pred = s.theory.get("predicted_extreme_to_midtone_weight", {})
    rated = [v for v in verdicts if v.get("textbook") in ("agrees", "disagrees", "inconclusive")]
    text = ("BCE and MSE aim at the same optimum (the conditional mean), so any difference comes from how each "
            "loss spends a limited model's capacity and from optimisation. ")
    if finite(pred.get("bce")) and finite(pred.get("mse")):
        text += (f"Near its optimum BCE is MSE weighted by 1/(a(1 − a)): averaged over 8-bit levels, a small error "
                 f"at the extremes costs {fmt(pred['bce'] / pred['mse'])} times more, relative to the same error at "
                 "midtones, than under MSE, so BCE should trade larger midtone error for smaller extreme error. ")
    if not rated:
        return text + "This sweep has no verdict that can test the prediction."
    agree = [s.title(v["dataset"], v["model"]) for v in rated if v["textbook"] == "agrees"]
    disagree = [s.title(v["dataset"], v["model"]) for v in rated if v["textbook"] == "disagrees"]
    n = len(rated)
    if len(agree) == n:
        every = "the one model" if n == 1 else "both models" if n == 2 else f"all {n} models"
        text += (f"The measurements agree for {every}: the midtone/extreme RMSE "
                 "ratio is larger under BCE, with a 95% CI that excludes zero.")
    elif not agree and not disagree:
        text += ("The measurements neither confirm nor contradict it: the midtone/extreme RMSE ratio differs "
                 "between BCE and MSE by less than its 95% CI in every model.")
    else:
        text += (f"The measured midtone/extreme RMSE ratio is larger under BCE, as predicted, for {len(agree)} of "
                 f"{n} models" + (f" ({join(agree)})" if agree else "")
                 + (f"; it is smaller, against the prediction, for {join(disagree)}" if disagree else "")
                 + "; elsewhere the CI includes zero.")
    return text
