"""The report's alternatives: a card per loss from the vocabulary, and the best loss per model and criterion
as ``results.json`` ranks them."""
from __future__ import annotations

from replicate import vocabulary
from replicate.report.format import ci_decimals, decimals, fmt, fmt_ci, join, plural
from replicate.report.view import Results
from replicate.vocabulary import BASELINE, loss_color, loss_label

_CRITERIA = {"rmse_midtone": "midtone RMSE", "ssim_midtone": "midtone SSIM", "ssim": "SSIM"}


def alternatives(s: Results) -> dict:
    cards = []
    for k in s.losses:
        term = vocabulary.LOSSES.get(k)
        cards.append({"key": k, "label": loss_label(k), "name": term.name if term else k,
                      "formula": term.formula if term else "", "note": term.detail if term else f"the loss {k}",
                      "color": loss_color(k)})
    rec = s.r.get("recommendation") or {"contests": [], "wins": [], "best": []}
    rows = []
    for b in rec["best"]:
        d = decimals(b["mean"], 3)
        row = {"model": s.title(b["dataset"], b["model"]), "criterion": _CRITERIA.get(b["metric"], b["metric"]),
               "loss": loss_label(b["loss"]), "color": loss_color(b["loss"]), "value": fmt(b["mean"], d),
               "ci": fmt_ci(b.get("ci95"), d), "delta": "is BCE", "delta_ci": "", "mark": "base"}
        vs = b.get("vs_baseline")
        if b["loss"] != BASELINE and vs:
            dd = ci_decimals(vs["difference"], vs["ci95"])
            row.update(delta=fmt(vs["difference"], dd, sign=True), delta_ci=fmt_ci(vs["ci95"], dd, sign=True),
                       mark="better" if vs["excludes_zero"] else "ns")
        rows.append(row)
    return {"losses": cards, "recs": rows, "summary": _summary(s, rec)}


def _summary(s: Results, rec: dict) -> str:
    """Which loss, if any, beats BCE on midtone RMSE with a CI that excludes zero, in words."""
    if not rec["contests"]:
        return "This sweep compares no other loss with BCE on the same model, so it supports no recommendation."
    n = len(rec["contests"])
    if not rec["wins"]:
        few = " (with one seed there are no CIs)" if len(s.seeds) < 2 else ""
        return (f"No loss has a measurably lower midtone RMSE than BCE in any of the {plural(n, 'model')} "
                f"compared{few}; the data give no reason to move away from BCE here. The table lists the best "
                "mean per criterion.")
    parts = [f"{loss_label(w['loss'])} for {len(w['models'])} of {n} ({join(s.title(*m) for m in w['models'])})"
             for w in rec["wins"]]
    lead = loss_label(rec["wins"][0]["loss"])
    return ("Measurably lower midtone RMSE than BCE (95% CI of the paired difference below zero, each on its own: "
            "not corrected for the number of losses and models compared, so descriptive): "
            + "; ".join(parts) + f". This is not a recommendation of {lead}: the tested answer is the primary "
            "verdicts', and a loss that wins one comparison here may lose another.")
