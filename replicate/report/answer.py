"""The report's header and its first section, the answer: the verdicts of ``results.json`` in words and a table."""
from __future__ import annotations

from replicate import figures
from replicate.report.format import (ci_decimals, decimals, effect, finite, fmt, fmt_ci, join, pct, plural, share,
                                     when)
from replicate.report.view import Results

BADGES = {"worse": "BCE worse", "better": "BCE better", "equivalent": "equivalent", "inconclusive": "inconclusive",
          "insufficient seeds": "too few seeds", "not available": "no verdict"}
_METRIC_WORDS = {"rmse_midtone": "midtone RMSE", "ssim_midtone": "midtone SSIM", "rmse": "RMSE"}


def header(s: Results) -> dict:
    usable, screened, missing = len(s.runs), len(s.screened), len(s.missing)
    by_status: dict[str, int] = {}
    for m in s.missing:
        by_status[m["status"]] = by_status.get(m["status"], 0) + 1
    for m in s.screened:
        key = f"screened out ({m['screen']['verdict']})"
        by_status[key] = by_status.get(key, 0) + 1
    date = s.provenance.get("finished") or s.provenance.get("started")
    return {
        "profile": s.config.get("profile", "?"),
        "datasets": ", ".join(s.datasets),
        "runs": f"{usable} of {usable + screened + missing} runs usable",
        "missing": ", ".join(f"{n} {status}" for status, n in by_status.items()),
        "seeds": plural(len(s.seeds), "seed"),
        "models": plural(len(s.models), "model"),
        "losses": plural(len(s.losses), "loss"),
        "date": when(date) if date else "date not recorded",
    }


def endpoint_words(s: Results) -> str:
    endpoint = s.config.get("endpoint") or "rmse_midtone"
    return _METRIC_WORDS.get(endpoint, endpoint)


def margin_words(s: Results) -> str:
    return f"±{100 * (s.config.get('margin') or 0.02):g} %"


def answer(s: Results) -> dict:
    verdicts = s.r.get("verdicts", [])
    judged = s.r["answer"]
    what, margin = endpoint_words(s), margin_words(s)
    names = {st: [s.title(d, m) for d, m in judged["by_status"].get(st, [])]
             for st in ("worse", "better", "equivalent", "inconclusive")}
    word, n = judged["word"], judged["rated"]
    if word == "none":
        headline = "No verdict on this sweep: no model has at least two paired BCE and MSE runs."
    elif word == "yes":
        headline = (f"Yes. BCE's {what} is larger than MSE's for every model ({n} of {n}: {join(names['worse'])}; "
                    "paired t-tests, Holm-corrected).")
    elif word == "no":
        headline = f"No. BCE's {what} is smaller than MSE's for every model ({join(names['better'])})."
    elif word == "equivalent":
        headline = (f"No practical difference. BCE and MSE are equivalent within {margin} of MSE's {what} for every "
                    f"model ({join(names['equivalent'])}; two one-sided tests, Holm-corrected).")
    elif word == "inconclusive":
        headline = (f"Not resolved. For every model the data neither show a difference in {what} nor establish "
                    f"equivalence within {margin}.")
    else:
        parts = [f"{label} for {join(names[st])}" for st, label in (
            ("worse", "BCE worse"), ("equivalent", f"equivalent within {margin}"), ("better", "BCE better"),
            ("inconclusive", "inconclusive")) if names[st]]
        headline = f"Mixed, on {what}: " + "; ".join(parts) + "."
    if judged.get("unrated"):
        headline += (" No verdict could be given for " + join(f"{s.title(d, m)} ({BADGES.get(st, st)})"
                                                           for d, m, st in judged["unrated"])
                     + ", so “every model” means every model with a verdict.")
    if judged.get("not_converged"):
        headline += (" Not every run met the convergence rule within its epoch cap ("
                     + join(s.title(d, m) for d, m in judged["not_converged"])
                     + "), so these verdicts concern models that were still improving.")
    rated = [v for v in verdicts if v.get("role") == "primary" and "difference" in v]
    details = []
    rel = [v["difference"]["relative_to_mse"] for v in rated if finite(v["difference"].get("relative_to_mse"))]
    if rel:
        span = pct(rel[0]) if len(rel) == 1 else f"{pct(min(rel))} to {pct(max(rel))}"
        details.append(f"BCE − MSE {what}, relative to MSE's: {span}.")
    if rated:
        blurrier = [v for v in rated if v.get("blur") == "blurrier"]
        sharper = [v for v in rated if v.get("blur") == "sharper"]
        details.append(f"Descriptive, not a verdict: midtone edge transfer is lower (blurrier) under BCE for "
                       f"{len(blurrier)} of {plural(len(rated), 'model')}"
                       + (f" and higher for {len(sharper)}" if sharper else "") + " (uncorrected 95% CIs).")
    rows = [_row(s, v) for v in sorted(verdicts, key=lambda v: v.get("role") != "primary")]
    return {"word": word, "headline": headline, "details": details, "rows": rows, "endpoint": what,
            "margin": margin, "forest": _forest(s, rated) if rated else None, "reason": _reason(s, rated),
            "n_missing": len(s.missing) + len(s.screened), "sentences": [r["sentence"] for r in rows]}


def _row(s: Results, v: dict) -> dict:
    status = v.get("status", "not available")
    row = {"model": s.title(v["dataset"], v["model"]), "status": status, "badge": BADGES.get(status, status),
           "role": v.get("role", "primary"), "sentence": sentence(s, v),
           "blur": v.get("blur") if v.get("blur") in ("blurrier", "as sharp", "sharper") else ""}
    if "difference" in v:
        d = v["difference"]
        places, dd = decimals(d.get("bce_mean"), 3), ci_decimals(d.get("difference"), d.get("ci95"))
        p_diff, p_eq = _judged_by(v)
        row.update(n=v.get("n_seeds"), bce=fmt(d.get("bce_mean"), places), mse=fmt(d.get("mse_mean"), places),
                   diff=fmt(d.get("difference"), dd, sign=True), diff_ci=fmt_ci(d.get("ci95"), dd, sign=True),
                   rel=pct(d.get("relative_to_mse")), p=_p(p_diff), tost=_p(p_eq))
    return row


def _judged_by(v: dict) -> tuple:
    """(t-test p, TOST p) a verdict row is judged by: Holm-corrected for a primary row, as tested otherwise."""
    if v.get("role", "primary") == "primary":
        return v.get("p_holm"), v.get("tost_p_holm")
    return v["difference"].get("p_value"), v["tost"].get("p_value")


def _p(p) -> str:
    return "—" if not finite(p) else ("< 0.001" if p < 0.001 else fmt(p, sig=2))


def _p_is(p) -> str:
    """'< 0.001', '= 0.38' or 'not available', to follow a 'p'."""
    return "not available" if not finite(p) else (_p(p) if p < 0.001 else f"= {_p(p)}")


def sentence(s: Results, v: dict) -> str:
    """One verdict in words, every number from ``results.json``."""
    head = f"{s.title(v['dataset'], v['model'])}"
    if "difference" not in v:
        return f"{head}: no verdict, no usable {' or '.join(v.get('lacking', ['paired']))} run."
    d, what, margin = v["difference"], endpoint_words(s), margin_words(s)
    role = "" if v.get("role") == "primary" else " (sensitivity check: the post's penalty; not counted)"
    text = (f"{head}{role}, {plural(v['n_seeds'], 'seed')}: BCE − MSE {what} {effect(d)}, "
            f"{pct(d.get('relative_to_mse'))} of MSE's")
    status = v["status"]
    if status == "insufficient seeds":
        return text + ": too few paired seeds for a verdict."
    corrected = "Holm-corrected " if v.get("role") == "primary" else ""
    p_diff, p_eq = map(_p_is, _judged_by(v))
    if status == "equivalent":
        text += f": equivalent within {margin} ({corrected}TOST p {p_eq})"
        within = v.get("difference_within_margin")
        text += (f"; BCE is also {within} ({corrected}p {p_diff}), by less than the "
                 "margin." if within else ".")
    elif status in ("worse", "better"):
        text += (f": BCE {status} ({corrected}p {p_diff}); equivalence within {margin} not shown ({corrected}TOST "
                 f"p {p_eq}).")
    else:
        text += (f": inconclusive — no difference shown ({corrected}p {p_diff}) and "
                 f"no equivalence within {margin} shown either.")
    if not v.get("all_converged", True):
        text += " " + _unconverged(v.get("convergence") or {})
    return text


def _unconverged(convergence: dict) -> str:
    """How many of a verdict's runs met the convergence rule, per loss, from its ``convergence`` counts."""
    counts = [(loss.upper(), c["converged"], c["runs"]) for loss, c in convergence.items()
              if isinstance(c, dict) and "runs" in c]
    if not counts:
        return "Not all of its runs met the convergence rule."
    if all(k == 0 for _, k, _ in counts):
        return "None of its runs met the convergence rule within the epoch cap."
    return ("Runs that met the convergence rule within the epoch cap: "
            + ", ".join(f"{loss} {k} of {n}" for loss, k, n in counts) + ".")


def _forest(s: Results, rated: list[dict]) -> str:
    panels = [{"title": f"Primary: {endpoint_words(s)}", "xlabel": "BCE − MSE (> 0: more error under BCE)",
               "rows": [{"label": s.title(v["dataset"], v["model"]), "difference": v["difference"]["difference"],
                         "ci95": v["difference"]["ci95"], "significant": v["status"] in ("worse", "better")}
                        for v in rated]}]
    for key, title, unit in (("edge_transfer_midtone", "Edge transfer*", "< 0: BCE blurrier"),
                             ("midtone_extreme_rmse_ratio", "Midtone/extreme RMSE*",
                              "> 0: as the 1/(a(1−a)) weight predicts")):
        panels.append({"title": title, "xlabel": unit, "rows": [
            {"label": s.title(v["dataset"], v["model"]), "difference": v["secondary"][key]["difference"],
             "ci95": v["secondary"][key]["ci95"], "significant": bool(v["secondary"][key]["excludes_zero"])}
            for v in rated]})
    return figures.effect_forest(panels)


def _pixel_shares(s: Results) -> str:
    """How much of the data the weighting acts on: each dataset's share of midtone, open-extreme and exact pixels."""
    parts = []
    for dataset, d in s.data.items():
        f = d["band_fraction"]
        parts.append(f"on {dataset} ({d['images']:,} test images) {share(f['midtone'])} of the pixels are midtones "
                     f"(0.3, 0.7], {share(f['dark'] + f['highlight'])} open extremes (0, 0.1] or (0.9, 1), and "
                     f"{share(f['zero'] + f['one'])} exactly 0 or 1")
    return f"How much this can matter depends on the data: {'; '.join(parts)}. " if parts else ""


def _reason(s: Results, rated: list[dict]) -> str:
    """The one-paragraph why, from the predicted weighting and the verdicts' descriptive textbook field."""
    pred = s.theory.get("predicted_extreme_to_midtone_weight", {})
    text = ("BCE and MSE aim at the same optimum (the conditional mean), so any difference comes from how each "
            "loss spends a limited model's capacity and from optimisation. ")
    if finite(pred.get("bce")) and finite(pred.get("mse")):
        text += (f"Near its optimum BCE is MSE weighted by 1/(a(1 − a)): averaged over 8-bit levels, a small error "
                 f"at the open extremes costs {fmt(pred['bce'] / pred['mse'])} times more, relative to the same "
                 "error at midtones, than under MSE, so BCE should trade larger midtone error for smaller extreme "
                 "error. ")
    text += _pixel_shares(s)
    judged = [v for v in rated if v.get("textbook") in ("agrees", "disagrees", "inconclusive")]
    if not judged:
        return text + "This sweep has no verdict that can test the prediction."
    agree = [s.title(v["dataset"], v["model"]) for v in judged if v["textbook"] == "agrees"]
    disagree = [s.title(v["dataset"], v["model"]) for v in judged if v["textbook"] == "disagrees"]
    n = len(judged)
    text += "Descriptively (uncorrected 95% CIs): "
    if len(agree) == n:
        text += f"the midtone/extreme RMSE ratio is larger under BCE for all {n} models, as predicted."
    elif not agree and not disagree:
        text += "the midtone/extreme RMSE ratio differs between BCE and MSE by less than its CI in every model."
    else:
        text += (f"the ratio is larger under BCE, as predicted, for {len(agree)} of {n} models"
                 + (f" ({join(agree)})" if agree else "")
                 + (f"; smaller, against the prediction, for {join(disagree)}" if disagree else "")
                 + "; elsewhere the CI includes zero. The section Mechanism, tested separates the causes.")
    return text
