"""The sweep's report: one self-contained HTML file built from ``results.json`` (and, when present, the
reconstructions) with a Jinja2 template and matplotlib figures.

:func:`write_report` reads ``<sweep>/results.json`` (running :func:`replicate.analysis.evaluate_sweep` first
when it is absent), turns it into a template context (every number formatted here, every sentence about the
results generated here from the numbers), renders ``templates/report.html.j2`` with autoescaping on and writes
the file. Figures are embedded as ``data:`` URIs and the stylesheet is inlined, so the file opens from disk or
as an e-mail attachment and loads nothing from the network. The gallery of reconstructions needs each run's
``reconstructions.npz`` and the sweep's ``targets.npz``; without them the report says so and omits it.

It does not train, compute metrics or statistics (``analysis`` does) and imports no deep-learning backend.
"""
from __future__ import annotations

import math
import re
from importlib import metadata
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from replicate import data, figures, theory
from replicate.fileio import read_json, write_text

TEMPLATES = Path(__file__).parent / "templates"
BASELINE = "bce"
#: Test images shown in the gallery, and the side of the zoomed midtone crop (pixels).
GALLERY_IMAGES = 6
CROP = 12
#: Targets of the loss-against-prediction figure (the worked example's target is added).
LANDSCAPE_TARGETS = (0.05, 0.5)
#: What each loss is for, keyed like everywhere else (``losses`` imports Keras, so the report keeps its own).
LOSS_NOTES = {
    "bce": ("Binary cross-entropy", "−[a ln x + (1 − a) ln(1 − x)]",
            "The tutorial's loss: the log-likelihood of a Bernoulli pixel, used here on grey levels. Its floor "
            "H(a) depends on the target and its per-intensity weight is 1/(a(1 − a))."),
    "bce_kl": ("BCE minus target entropy", "BCE(a, x) − H(a) = KL(Bern(a) ‖ Bern(x))",
               "BCE shifted so that a perfect reconstruction scores zero. Same gradients, so the same training; "
               "only the reported value changes."),
    "mse": ("Mean squared error", "(x − a)²",
            "Symmetric and equally weighted at every intensity; the Gaussian log-likelihood with fixed variance. "
            "Its optimum under uncertainty is the conditional mean, like BCE's."),
    "mae": ("Mean absolute error", "|x − a|",
            "Constant slope, so small errors are not forgiven; its optimum under uncertainty is the conditional "
            "median, which keeps edges where the mean would average them."),
    "huber": ("Huber", "½(x − a)² within δ of the target, δ(|x − a| − δ/2) beyond",
              "Quadratic near the target and linear beyond δ, so large errors weigh less than under MSE."),
    "continuous_bernoulli": ("Continuous Bernoulli", "BCE(a, λ) − ln C(λ), image = the distribution's mean",
                             "The properly normalised likelihood for data in [0, 1] (Loaiza-Ganem & Cunningham, "
                             "NeurIPS 2019): BCE plus the log-normaliser that BCE leaves out. The reconstruction "
                             "is the distribution's mean, not its parameter λ."),
    "ssim": ("SSIM", "1 − SSIM(a, x), Gaussian window",
             "Structural similarity (Wang et al., 2004) as a loss: compares local means, contrasts and "
             "correlations, so it rewards edges and texture rather than per-pixel agreement."),
    "ms_ssim_l1": ("MS-SSIM + L1", "α·(1 − MS-SSIM) + (1 − α)·G_σ ⊛ |x − a|",
                   "The perceptual mix of Zhao et al. (IEEE TCI, 2017): multi-scale SSIM for structure plus a "
                   "Gaussian-weighted L1 term that keeps colours and flat areas from drifting."),
}
#: Metric tables: (title, caption, ((metric key, label, direction)...)); direction +1 higher is better,
#: -1 lower is better, 0 neither (the difference is marked, not judged).
METRIC_TABLES = (
    ("Whole image", "SSIM (Gaussian window), PSNR (mean over images), sharpness (gradient magnitude kept, "
     "1 = as sharp as the target) and the share of high-frequency energy kept.",
     (("ssim", "SSIM", 1), ("psnr_mean_of_images", "PSNR (dB)", 1), ("sharpness", "Sharpness", 0),
      ("hf_energy_ratio", "HF energy kept", 0))),
    ("By target intensity", "Computed over midtone target pixels, or extreme ones (exact 0, dark, highlight, "
     "exact 1); the last column is midtone RMSE / extreme RMSE.",
     (("ssim_midtone", "Midtone SSIM", 1), ("rmse_midtone", "Midtone RMSE", -1),
      ("rmse_extreme", "Extreme RMSE", -1), ("sharpness_midtone", "Midtone sharpness", 0),
      ("midtone_extreme_rmse_ratio", "Midtone / extreme", 0))),
)
_VERDICT_WORDS = {"worse": "BCE worse", "equal": "no difference", "better": "BCE better",
                  "insufficient seeds": "too few seeds", "not available": "no verdict"}


def write_report(sweep_dir, out=None) -> Path:
    """Write the sweep's self-contained HTML report and return its path.

    Parameters
    ----------
    sweep_dir : path-like
        A sweep folder. ``results.json`` is computed first (:func:`replicate.analysis.evaluate_sweep`) when
        it is missing; ``targets.npz`` and the runs' ``reconstructions.npz`` are optional.
    out : path-like, optional
        The HTML file; default ``<sweep_dir>/report.html``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If the folder holds neither ``results.json`` nor ``sweep.json``.
    """
    sweep = Path(sweep_dir)
    results_path = sweep / "results.json"
    if not results_path.exists():
        from replicate import analysis

        analysis.evaluate_sweep(sweep)
    html = render(read_json(results_path), sweep)
    return write_text(Path(out) if out is not None else sweep / "report.html", html)


def render(results: dict, sweep_dir=None) -> str:
    """The report's HTML for ``results`` (the parsed ``results.json``); pixels are read from ``sweep_dir``."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**build_context(results, sweep_dir))


def build_context(results: dict, sweep_dir=None) -> dict:
    """Everything the template shows, as formatted strings, rows and figure URIs."""
    s = _Sweep(results)
    verdicts = results.get("verdicts", [])
    return {
        "conf": fmt(100 * s.methods.get("confidence", 0.95), 0),
        "header": _header(s),
        "answer": _answer(s, verdicts),
        "worked": _worked_example(results["theory"]["worked_example"]),
        "mechanism": _mechanism(s, verdicts),
        "evidence": _evidence(s),
        "gallery": _gallery(s, sweep_dir),
        "replication": _replication(s),
        "alternatives": _alternatives(s),
        "limitations": _limitations(s),
        "reproduce": _reproduce(s),
    }


# --- the sweep, indexed ---------------------------------------------------------------------------------------

class _Sweep:
    """results.json with look-ups by (model, loss) and the sweep's expected pairs and seeds."""

    def __init__(self, results: dict):
        self.r = results
        self.config = results["sweep"].get("config") or {}
        self.provenance = results["sweep"].get("provenance") or {}
        self.methods = results.get("methods", {})
        self.theory = results.get("theory", {})
        self.aggs = {(a["dataset"], a["model"], a["loss"]): a for a in results.get("aggregates", [])}
        self.comps = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in results.get("comparisons", [])}
        self.runs = results.get("runs", [])
        self.missing = results.get("missing", [])
        self.seeds = list(self.config.get("seeds") or sorted({r["seed"] for r in self.runs + self.missing}))
        dataset = self.config.get("dataset")
        pairs = [tuple(p) for p in self.config.get("pairs") or
                 [(m, l) for m in self.config.get("models", []) for l in self.config.get("losses", [])]]
        groups = [(dataset, m, l) for m, l in pairs]
        for r in self.runs + self.missing:
            key = (r["dataset"], r["model"], r["loss"])
            if key not in groups:
                groups.append(key)
        self.groups = groups
        self.datasets = list(dict.fromkeys(g[0] for g in groups))
        self.models = list(dict.fromkeys(g[:2] for g in groups))  # (dataset, model)
        self.losses = list(dict.fromkeys(g[2] for g in groups))

    def title(self, dataset: str, model: str) -> str:
        return model if len(self.datasets) == 1 else f"{dataset}/{model}"

    def losses_of(self, dataset: str, model: str) -> list[str]:
        return [g[2] for g in self.groups if g[:2] == (dataset, model)]

    def seed_count(self, key) -> tuple[int, int]:
        """(finished seeds, expected seeds) of a (dataset, model, loss) group."""
        done = len(self.aggs[key]["seeds"]) if key in self.aggs else 0
        expected = len([r for r in self.runs + self.missing if (r["dataset"], r["model"], r["loss"]) == key])
        return done, max(expected, done)

    def config_for(self, name: str, model: str):
        """A config value that may be per model (a dict) or one for all."""
        value = self.config.get(name)
        return value.get(model) if isinstance(value, dict) else value


# --- formatting -----------------------------------------------------------------------------------------------

def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _decimals(v, sig: int = 3) -> int:
    """Decimals that show ``v`` with ``sig`` significant digits (0 to 8)."""
    if not _finite(v) or v == 0:
        return sig
    return int(min(8, max(0, sig - 1 - math.floor(math.log10(abs(v))))))


def fmt(v, decimals: int | None = None, *, sig: int = 3, sign: bool = False) -> str:
    """A number for the report: ``sig`` significant digits (or fixed ``decimals``); '—' for none."""
    if not _finite(v):
        return "—"
    d = _decimals(v, sig) if decimals is None else decimals
    text = f"{v:+.{d}f}" if sign else f"{v:.{d}f}"
    return text.replace("-", "−")


def fmt_ci(ci, decimals: int, *, sign: bool = False) -> str:
    """'lo to hi' of a confidence interval, or 'no CI' when there is none (fewer than two values)."""
    if not ci or not all(_finite(c) for c in ci):
        return "no CI"
    return f"{fmt(ci[0], decimals, sign=sign)} to {fmt(ci[1], decimals, sign=sign)}"


def _pct(v) -> str:
    return "—" if not _finite(v) else f"{100 * v:+.1f}%".replace("-", "−")


def _excludes_zero(ci) -> bool:
    return bool(ci) and all(_finite(c) for c in ci) and (ci[0] > 0 or ci[1] < 0)


def _ci_decimals(mean, ci, sig: int = 2) -> int:
    """Decimals for a difference and its CI: ``sig`` significant digits of the larger of |mean| and half-width."""
    half = abs(ci[1] - ci[0]) / 2 if ci and all(_finite(c) for c in ci) else 0.0
    scale = max(abs(mean) if _finite(mean) else 0.0, half)
    return _decimals(scale, sig) if scale > 0 else sig


def _effect_text(e: dict, *, sig: int = 2) -> str:
    """'+0.032 (95% CI +0.028 to +0.035)' for a difference with its interval."""
    d = _ci_decimals(e.get("difference"), e.get("ci95"), sig)
    if not e.get("ci95"):
        return f"{fmt(e.get('difference'), d, sign=True)} (no CI)"
    return f"{fmt(e.get('difference'), d, sign=True)} (95% CI {fmt_ci(e.get('ci95'), d, sign=True)})"


def _join(words) -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = list(words)
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('s') else 's'}"


def _band(s: _Sweep, key: str):
    for b in s.methods.get("bands", []):
        if b["key"] == key:
            return b
    return None


def _midtone_range(s: _Sweep):
    b = _band(s, "midtone")
    return (b["lo"], b["hi"]) if b else None


# --- header and answer ----------------------------------------------------------------------------------------

def _header(s: _Sweep) -> dict:
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
        "seeds": _plural(len(s.seeds), "seed"),
        "models": _plural(len(s.models), "model"),
        "losses": _plural(len(s.losses), "loss"),
        "date": _when(date) if date else "date not recorded",
    }


def _when(iso: str) -> str:
    """'2026-01-01 00:01 UTC' from an ISO 8601 UTC time; anything else as given."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|\+00:00)", str(iso))
    return f"{m.group(1)} {m.group(2)} UTC" if m else str(iso)


def _answer(s: _Sweep, verdicts: list[dict]) -> dict:
    rated = [v for v in verdicts if v.get("status") in ("worse", "equal", "better")]
    names = {st: [v["model"] if len(s.datasets) == 1 else f"{v['dataset']}/{v['model']}"
                  for v in rated if v["status"] == st] for st in ("worse", "equal", "better")}
    if not rated:
        word = "none"
        headline = ("No verdict on this sweep." if verdicts else
                    "No verdict on this sweep: no model has finished runs with both BCE and MSE.")
    elif len(names["worse"]) == len(rated):
        word = "yes"
        headline = (f"Yes. BCE's midtone error is measurably larger than MSE's for every model compared "
                    f"({len(rated)} of {len(rated)}: {_join(names['worse'])}).")
    elif len(names["equal"]) == len(rated):
        word = "no"
        headline = (f"No measurable difference: BCE's midtone error is within the 95% CI of MSE's for every "
                    f"model compared ({_join(names['equal'])}).")
    elif len(names["better"]) == len(rated):
        word = "no"
        headline = f"No. BCE's midtone error is measurably smaller than MSE's for {_join(names['better'])}."
    else:
        word = "mixed"
        parts = []
        if names["worse"]:
            parts.append(f"larger than MSE's for {_join(names['worse'])}")
        if names["equal"]:
            parts.append(f"not measurably different for {_join(names['equal'])}")
        if names["better"]:
            parts.append(f"smaller for {_join(names['better'])}")
        headline = "Mixed. BCE's midtone error is " + "; ".join(parts) + "."
    details = [] if rated else [v["sentence"] for v in verdicts if v.get("sentence")]
    if rated:
        rel = [v["rmse_midtone"].get("relative_to_mse") for v in rated]
        rel = [r for r in rel if _finite(r)]
        if rel:
            span = _pct(rel[0]) if len(rel) == 1 else f"{_pct(min(rel))} to {_pct(max(rel))}"
            details.append(f"BCE − MSE midtone RMSE, relative to MSE's: {span}.")
        blurrier = [v for v in rated if v.get("blur") == "blurrier"]
        sharper = [v for v in rated if v.get("blur") == "sharper"]
        higher = f" and higher for {len(sharper)}" if sharper else ""
        details.append(f"Midtone sharpness is lower (blurrier) under BCE for {len(blurrier)} of "
                       f"{_plural(len(rated), 'model')}{higher}.")
    rows = []
    for v in verdicts:
        row = {"model": s.title(v["dataset"], v["model"]), "status": v.get("status", "not available"),
               "badge": _VERDICT_WORDS.get(v.get("status"), v.get("status", "")), "sentence": v.get("sentence", ""),
               "blur": v.get("blur") if v.get("blur") in ("blurrier", "as sharp", "sharper") else ""}
        if "rmse_midtone" in v:
            m, sh, ratio = v["rmse_midtone"], v["sharpness_midtone"], v["midtone_extreme_rmse_ratio"]
            d, dd = _decimals(m.get("bce_mean"), 3), _ci_decimals(m.get("difference"), m.get("ci95"))
            row.update(
                n=v.get("n_seeds"), bce=fmt(m.get("bce_mean"), d), mse=fmt(m.get("mse_mean"), d),
                diff=fmt(m.get("difference"), dd, sign=True), diff_ci=fmt_ci(m.get("ci95"), dd, sign=True),
                rel=_pct(m.get("relative_to_mse")), sig=_excludes_zero(m.get("ci95")),
                sharp=_effect_text(sh), sharp_sig=_excludes_zero(sh.get("ci95")),
                ratio=_effect_text(ratio), textbook=v.get("textbook", ""))
        rows.append(row)
    forest = None
    if rated:
        panels = []
        for key, title, unit in (("rmse_midtone", "Midtone RMSE", "> 0: more midtone error under BCE"),
                                 ("sharpness_midtone", "Midtone sharpness", "< 0: BCE is blurrier"),
                                 ("midtone_extreme_rmse_ratio", "Midtone / extreme RMSE",
                                  "> 0: as the 1/(a(1−a)) weight predicts")):
            panels.append({"title": title, "xlabel": unit, "rows": [
                {"label": s.title(v["dataset"], v["model"]), "difference": v[key].get("difference"),
                 "ci95": v[key].get("ci95"), "significant": _excludes_zero(v[key].get("ci95"))}
                for v in verdicts if key in v]})
        forest = figures.effect_forest(panels)
    return {"word": word, "headline": headline, "details": details, "rows": rows, "forest": forest,
            "reason": _reason(s, verdicts), "n_missing": len(s.missing)}


def _reason(s: _Sweep, verdicts: list[dict]) -> str:
    """The one-paragraph why, from the predicted weighting and the verdicts' textbook and blur fields."""
    pred = s.theory.get("predicted_extreme_to_midtone_weight", {})
    rated = [v for v in verdicts if v.get("textbook") in ("agrees", "disagrees", "inconclusive")]
    text = ("BCE and MSE aim at the same optimum (the conditional mean), so any difference comes from how each "
            "loss spends a limited model's capacity and from optimisation. ")
    if _finite(pred.get("bce")) and _finite(pred.get("mse")):
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
                 f"{n} models" + (f" ({_join(agree)})" if agree else "")
                 + (f"; it is smaller, against the prediction, for {_join(disagree)}" if disagree else "")
                 + "; elsewhere the CI includes zero.")
    return text


# --- worked example -------------------------------------------------------------------------------------------

def _worked_example(w: dict) -> dict:
    a = w["target"]
    rows = [{"x": fmt(r["prediction"], sig=2), "mse": fmt(r["mse"], sig=3), "mae": fmt(r["mae"], sig=3),
             "bce": fmt(r["bce_nats"], 4), "bce_bits": fmt(r["bce_bits"], 4), "kl": fmt(r["kl_nats"], 4),
             "kl_bits": fmt(r["kl_bits"], 4), "quad": fmt(r["kl_quadratic_nats"], 4),
             "best": r["prediction"] == w["bce_prefers"]} for r in w["rows"]]
    lo, hi = w["rows"][0], w["rows"][-1]
    best = min(w["rows"], key=lambda r: r["kl_nats"])
    worst = max(w["rows"], key=lambda r: r["kl_nats"])
    tie_mse = math.isclose(lo["mse"], hi["mse"], rel_tol=1e-9)
    tie_mae = math.isclose(lo["mae"], hi["mae"], rel_tol=1e-9)
    toward_half = abs(best["prediction"] - 0.5) < abs(worst["prediction"] - 0.5)
    text = (f"Take a target a = {fmt(a, sig=2)} and two predictions equally far from it, "
            f"x = {fmt(lo['prediction'], sig=2)} and x = {fmt(hi['prediction'], sig=2)}. "
            + ("MSE and MAE cannot tell them apart " if tie_mse and tie_mae else "")
            + f"(MSE {fmt(lo['mse'], sig=3)} and {fmt(hi['mse'], sig=3)}; MAE {fmt(lo['mae'], sig=3)} and "
            f"{fmt(hi['mae'], sig=3)}). BCE ranks x = {fmt(best['prediction'], sig=2)} better: "
            f"{fmt(best['bce_nats'], 4)} against {fmt(worst['bce_nats'], 4)} nats"
            + (", the prediction nearer ½ being the cheaper one." if toward_half else "."))
    floor = (f"Neither reaches zero: both sit above the entropy floor H({fmt(a, sig=2)}) = "
             f"{fmt(w['entropy_nats'], 4)} nats ({fmt(w['entropy_bits'], 4)} bits), the value of a perfect "
             f"prediction. The excess over the floor, KL(a ‖ x), is {fmt(worst['kl_nats'], 4)} for "
             f"x = {fmt(worst['prediction'], sig=2)} and {fmt(best['kl_nats'], 4)} for x = "
             f"{fmt(best['prediction'], sig=2)}: {fmt(worst['kl_nats'] / best['kl_nats'], sig=3)} times as much. "
             "The quadratic approximation (x − a)²/(2a(1 − a)) gives "
             f"{fmt(lo['kl_quadratic_nats'], 4)} for both: the asymmetry is a third-order effect, and what "
             "dominates near the target is the weight 1/(a(1 − a)).")
    return {"target": fmt(a, sig=2), "log_base": w.get("log_base", "e (nats)"), "rows": rows, "text": text,
            "floor": floor, "entropy": fmt(w["entropy_nats"], 4), "entropy_bits": fmt(w["entropy_bits"], 4)}


# --- mechanism ------------------------------------------------------------------------------------------------

def _mechanism(s: _Sweep, verdicts: list[dict]) -> dict:
    t = s.theory
    worked = t["worked_example"]["target"]
    targets = sorted({*LANDSCAPE_TARGETS, worked})
    x = np.linspace(0.002, 0.998, 499)
    palette = figures.TARGET_COLORS
    panels = []
    for name, title, ylabel, ymax in (("bce", "BCE: minimum H(a) > 0 at x = a", "loss (nats)", 1.6),
                                      ("mse", "MSE: symmetric, zero at x = a", "loss", None),
                                      ("mae", "MAE: symmetric, constant slope", "loss", None)):
        curves = []
        for color, a in zip(palette, targets):
            y = theory.loss(name, a, x)
            curves.append({"label": f"a = {a:g}", "x": x, "y": y, "color": color,
                           "minimum": [a, float(theory.loss(name, a, a))]})
            if name == "bce" and a == worked:
                quad = float(theory.entropy(a)) + (x - a) ** 2 / (2 * a * (1 - a))
                curves.append({"label": f"quadratic, a = {a:g}", "x": x, "y": quad, "color": color, "dashed": True})
        panels.append({"title": title, "ylabel": ylabel, "curves": curves, "ymax": ymax})
    pred = t.get("predicted_extreme_to_midtone_weight", {})
    shown = [k for k in ("bce", "mse", "mae", "huber", "continuous_bernoulli") if k in t.get("relative_weight", {})]
    grads = {k: v for k, v in t.get("dloss_dz", {}).items() if k in ("bce", "mse", "mae", "continuous_bernoulli")}
    return {
        "landscape": figures.loss_landscape(panels),
        "weight": figures.intensity_weight(t["a_grid"], {k: t["relative_weight"][k] for k in shown},
                                           _midtone_range(s)),
        "gradients": figures.logit_gradients(t["logit_grid"], grads) if grads else None,
        "predicted": [{"loss": figures.loss_label(k), "value": fmt(pred[k], sig=3)} for k in shown if k in pred],
        "predicted_note": (t.get("predicted_note") or "")[:1].upper() + (t.get("predicted_note") or "")[1:],
        "support": _support(s, verdicts),
    }


def _support(s: _Sweep, verdicts: list[dict]) -> list[str]:
    """Which parts of the mechanism the measurements support, one sentence per outcome, generated."""
    out = []
    rated = [v for v in verdicts if v.get("status") in ("worse", "equal", "better")]
    if not rated:
        return ["No model has at least two paired BCE and MSE seeds, so this sweep tests none of it."]

    def who(rows):
        return _join([s.title(v["dataset"], v["model"]) for v in rows])

    worse_agree = [v for v in rated if v["status"] == "worse" and v.get("textbook") == "agrees"]
    worse_other = [v for v in rated if v["status"] == "worse" and v.get("textbook") != "agrees"]
    equal = [v for v in rated if v["status"] == "equal"]
    better = [v for v in rated if v["status"] == "better"]
    if worse_agree:
        out.append(f"Weighting — supported for {who(worse_agree)}: BCE's midtone error is larger than MSE's and "
                   "its error moves from the extremes to the midtones (larger midtone/extreme RMSE ratio), the "
                   "pattern the 1/(a(1 − a)) weight predicts for a model that cannot fit every pixel.")
    if worse_other:
        out.append(f"Weighting — not shown for {who(worse_other)}: BCE's midtone error is larger, but the "
                   "midtone/extreme ratio does not shift as predicted, so the weighting alone does not account "
                   "for it; optimisation dynamics remain a candidate that this sweep does not isolate.")
    if equal:
        agree = [v for v in equal if v.get("textbook") == "agrees"]
        out.append(f"Shared optimum — consistent with {who(equal)}: midtone error is not measurably different, "
                   "as expected if both losses approach the same conditional mean; with this many seeds a "
                   "difference smaller than the CI is not ruled out"
                   + (f"; the ratio still shifts as predicted for {who(agree)}" if agree else "") + ".")
    if better:
        out.append(f"Against the blur claim for {who(better)}: BCE's midtone error is smaller than MSE's.")
    blurrier = [v for v in rated if v.get("blur") == "blurrier"]
    out.append(f"Blur: midtone sharpness is lower under BCE for {len(blurrier)} of {len(rated)} "
               f"model{'s' if len(rated) != 1 else ''}" + (f" ({who(blurrier)})" if blurrier else "") + ".")
    out.append("Optimisation dynamics (the logit-space gradients) are not varied separately here: every loss uses "
               "the same optimizer, learning rate and epochs, and the learning curves below show whether each "
               "run had settled.")
    return out


# --- evidence -------------------------------------------------------------------------------------------------

def _evidence(s: _Sweep) -> dict:
    t = s.theory
    centers = t.get("fine_centers", [])
    curves, learning = {}, {}
    for dataset, model in s.models:
        title = s.title(dataset, model)
        for loss in s.losses_of(dataset, model):
            agg = s.aggs.get((dataset, model, loss))
            if agg is None or "rmse" not in agg.get("fine", {}):
                continue
            f = agg["fine"]["rmse"]
            curves.setdefault(title, {})[loss] = {"mean": f["mean"], "lo": f["ci_lo"], "hi": f["ci_hi"]}
            lc = _mean_history([r for r in s.runs if (r["dataset"], r["model"], r["loss"]) == (dataset, model, loss)])
            if lc and len(lc["epoch"]) > 1:
                learning.setdefault(title, {})[loss] = lc
    predicted = {k: v for k, v in t.get("relative_weight_at_fine_centers", {}).items()
                 if k in ("bce", "mse", "continuous_bernoulli") and any(k in c for c in curves.values())}
    return {
        "curves": figures.error_by_intensity(centers, curves, predicted, _midtone_range(s)) if curves else None,
        "tables": [_metric_table(s, title, caption, spec) for title, caption, spec in METRIC_TABLES],
        "learning": figures.learning_curves(learning) if learning else None,
        "checks": _prediction_checks(s),
    }


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


def _metric_table(s: _Sweep, title: str, caption: str, spec) -> dict:
    """Rows (grouped by model) of mean [CI] and the paired difference to BCE [CI] per metric."""
    groups = []
    for dataset, model in s.models:
        rows = []
        for loss in s.losses_of(dataset, model):
            key = (dataset, model, loss)
            done, expected = s.seed_count(key)
            row = {"loss": figures.loss_label(loss), "color": figures.loss_color(loss), "seeds": f"{done}/{expected}",
                   "partial": done < expected, "missing": done == 0, "cells": []}
            agg = s.aggs.get(key)
            for metric, _, direction in spec:
                stat = (agg or {}).get("metrics", {}).get(metric) or {}
                d = _decimals(stat.get("mean"), 3 if metric != "psnr_mean_of_images" else 3)
                cell = {"value": fmt(stat.get("mean"), d), "ci": fmt_ci(stat.get("ci95"), d) if stat else ""}
                comp = s.comps.get((dataset, model, loss, metric))
                if loss == BASELINE:
                    cell["delta"] = "baseline"
                    cell["mark"] = "base"
                elif comp and comp["seed_level"]["mean"] is not None:
                    sl = comp["seed_level"]
                    dd = _ci_decimals(sl["mean"], sl["ci95"])
                    sig = _excludes_zero(sl["ci95"])
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
    return {"title": title, "caption": caption, "columns": [label for _, label, _ in spec], "groups": groups}


def _prediction_checks(s: _Sweep) -> list[dict]:
    """Per model and loss: does the midtone/extreme RMSE ratio move against BCE's the way the weights predict?"""
    pred = s.theory.get("predicted_extreme_to_midtone_weight", {})
    out = []
    for dataset, model in s.models:
        for loss in s.losses_of(dataset, model):
            if loss == BASELINE:
                continue
            comp = s.comps.get((dataset, model, loss, "midtone_extreme_rmse_ratio"))
            row = {"model": s.title(dataset, model), "loss": figures.loss_label(loss),
                   "weight": fmt(pred.get(loss), sig=3), "bce_weight": fmt(pred.get(BASELINE), sig=3)}
            if loss not in pred or BASELINE not in pred:
                row.update(expect="no per-pixel closed form", measured="—", outcome="not tested")
            else:
                if math.isclose(pred[loss], pred[BASELINE], rel_tol=1e-9):
                    expect, sign = "same ratio as BCE", 0
                elif pred[loss] < pred[BASELINE]:
                    expect, sign = "smaller ratio than BCE", -1
                else:
                    expect, sign = "larger ratio than BCE", 1
                row["expect"] = expect
                if comp is None or comp["seed_level"]["mean"] is None:
                    row.update(measured="no paired runs", outcome="not tested")
                else:
                    sl = comp["seed_level"]
                    row["measured"] = _effect_text({"difference": sl["mean"], "ci95": sl["ci95"]})
                    ci = sl["ci95"]
                    if not ci:
                        outcome = "too few seeds"
                    elif sign == 0:
                        outcome = "agrees" if not _excludes_zero(ci) else "disagrees"
                    elif _excludes_zero(ci):
                        outcome = "agrees" if (sl["mean"] > 0) == (sign > 0) else "disagrees"
                    else:
                        outcome = "inconclusive"
                    row["outcome"] = outcome
            out.append(row)
    return out


# --- reconstructions ------------------------------------------------------------------------------------------

def _gallery(s: _Sweep, sweep_dir) -> dict:
    """Same test images under every loss of each model, with error maps and midtone crops, when pixels exist."""
    if sweep_dir is None:
        return {"available": False, "note": "No sweep folder was given, so no reconstructions could be read."}
    sweep = Path(sweep_dir)
    midtone = _midtone_range(s) or (0.3, 0.7)
    models, notes = [], []
    chosen_all = []
    for dataset in s.datasets:
        target_path = sweep / dataset / "targets.npz"
        try:
            with np.load(target_path) as z:
                targets_u8, index = z["images"], z["index"] if "index" in z.files else None
        except (OSError, KeyError, ValueError):
            notes.append(f"{dataset}: no readable targets.npz")
            continue
        targets = data.to_unit(targets_u8).astype(np.float64)
        chosen = _pick_images(targets, midtone)
        boxes = [_crop_box(targets[i], midtone) for i in chosen]
        for ds, model in [m for m in s.models if m[0] == dataset]:
            recons, seeds = {}, {}
            for loss in s.losses_of(ds, model):
                runs = sorted((r for r in s.runs if (r["dataset"], r["model"], r["loss"]) == (ds, model, loss)),
                              key=lambda r: r["seed"])
                recons[loss] = None
                for run in runs:
                    arr = _read_recon(sweep / run["path"] / "reconstructions.npz", targets.shape)
                    if arr is not None:
                        recons[loss], seeds[loss] = arr[chosen].astype(np.float64), run["seed"]
                        break
            if all(v is None for v in recons.values()):
                notes.append(f"{s.title(ds, model)}: no readable reconstructions.npz")
                continue
            models.append({"title": s.title(ds, model), "recons": recons, "targets": targets[chosen],
                           "boxes": boxes, "seeds": seeds})
        ids = index[chosen] if index is not None else chosen
        chosen_all.append(f"{dataset}: " + ", ".join(str(int(i)) for i in ids))
    if not models:
        return {"available": False, "note": "The reconstructions are not in this folder ("
                + "; ".join(notes or ["no runs"]) + "), so the gallery is omitted. Every number in the report "
                "still comes from results.json; run the sweep's command to regenerate the pixels."}
    errors = np.concatenate([np.abs(v - m["targets"]).ravel() for m in models for v in m["recons"].values()
                             if v is not None])
    limit = max(0.05, math.ceil(float(np.quantile(errors, 0.99)) * 20) / 20)
    out = []
    for m in models:
        seeds = sorted(set(m["seeds"].values()))
        out.append({
            "title": m["title"],
            "grid": figures.gallery(m["targets"], m["recons"], error_limit=limit, midtone=midtone, boxes=m["boxes"]),
            "crops": figures.midtone_crops(m["targets"], m["recons"], m["boxes"]),
            "seeds": ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(x) for x in seeds),
            "no_run": [figures.loss_label(k) for k, v in m["recons"].items() if v is None],
        })
    return {"available": True, "models": out, "images": "; ".join(chosen_all), "n": len(models[0]["targets"]),
            "limit": fmt(limit, 2), "crop": CROP, "midtone": f"({fmt(midtone[0], 1)}, {fmt(midtone[1], 1)}]",
            "notes": notes}


def _pick_images(targets: np.ndarray, midtone) -> np.ndarray:
    """The images with the most midtone pixels (ties: lower index first)."""
    counts = ((targets > midtone[0]) & (targets <= midtone[1])).sum(axis=(1, 2))
    order = np.lexsort((np.arange(len(counts)), -counts))
    return np.sort(order[:GALLERY_IMAGES])


def _crop_box(image: np.ndarray, midtone) -> tuple[int, int, int]:
    """(row, col, size) of the square window with the most midtone pixels (first such window)."""
    size = min(CROP, *image.shape)
    mask = ((image > midtone[0]) & (image <= midtone[1])).astype(np.int64)
    integral = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    r, c = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(r), int(c), size


def _read_recon(path: Path, shape) -> np.ndarray | None:
    """A run's reconstructions when readable and shaped like the targets, else None."""
    try:
        with np.load(path) as z:
            recon = z["recon"]
    except (OSError, KeyError, ValueError):
        return None
    recon = recon.reshape(recon.shape[0], *shape[1:]) if recon.size == np.prod(shape) else recon
    return recon if recon.shape == shape else None


# --- replication ----------------------------------------------------------------------------------------------

def _as_posted(value: float) -> str:
    """A reported number as the post writes it: two decimals (0.10), or three where it gives three (0.094)."""
    return f"{value:.2f}" if round(value, 2) == value else f"{value:.3f}"


def _replication(s: _Sweep) -> dict:
    rows = []
    for rep in s.r.get("replication", []):
        proto, tut = rep.get("protocol_used") or {}, rep.get("tutorial_protocol") or {}
        model = rep["model"]
        epochs = proto.get("epochs")
        epochs = epochs.get(model) if isinstance(epochs, dict) else epochs
        train = proto.get("train_limit")
        train = train.get(model) if isinstance(train, dict) else train
        reported = rep.get("reported")
        measured = rep.get("measured_train_loss") if (rep.get("compared_with") or "").startswith("final train") \
            else rep.get("measured_val_loss")
        d = _decimals((measured or {}).get("mean"), 3)
        status = rep.get("status", "")
        rows.append({
            "model": s.title(rep["dataset"], model),
            "reported": _as_posted(reported["value"]) if reported else "—",
            "split": reported["split"] if reported else "",
            "version": reported["version"] if reported else "",
            "quote": reported["quote"] if reported else "",
            "compared_with": (rep.get("compared_with") or "final val_loss").replace("final ", ""),
            "measured": fmt((measured or {}).get("mean"), d), "measured_ci": fmt_ci((measured or {}).get("ci95"), d),
            "difference": fmt(rep.get("difference"), sig=2, sign=True),
            "used": (f"{proto.get('profile', '?')} · {proto.get('dataset', rep['dataset'])} · "
                     f"{_plural(epochs, 'epoch') if epochs is not None else '? epochs'} · "
                     f"{'all' if train is None else train} train / "
                     f"{'all' if proto.get('test_limit') is None else proto['test_limit']} test images"),
            "tutorial": (f"mnist · {tut['epochs']} epochs · batch {tut['batch_size']} · {tut['optimizer']}"
                         if tut else "—"),
            "section": tut.get("section", ""),
            "status": status,
            "status_class": "ok" if status.startswith("reproduced") else "bad" if status == "differs" else "na",
        })
    tolerance = next((r.get("tolerance") for r in s.r.get("replication", []) if r.get("tolerance") is not None), None)
    rule = s.methods.get("replication_tolerance")
    return {"rows": rows, "tolerance": fmt(tolerance, sig=1) if tolerance is not None else None,
            "rule": f"Status rule: {rule}." if rule else ""}


# --- alternatives ---------------------------------------------------------------------------------------------

def _alternatives(s: _Sweep) -> dict:
    losses = [{"key": k, "label": figures.loss_label(k), "name": LOSS_NOTES.get(k, (k, "", ""))[0],
               "formula": LOSS_NOTES.get(k, (k, "", ""))[1], "note": LOSS_NOTES.get(k, (k, "", "the loss " + k))[2],
               "color": figures.loss_color(k)} for k in s.losses]
    recs = []
    for dataset, model in s.models:
        cands = [(loss, s.aggs[(dataset, model, loss)]) for loss in s.losses_of(dataset, model)
                 if (dataset, model, loss) in s.aggs]
        if len(cands) < 2:
            continue
        for metric, label, lower_better in (("rmse_midtone", "midtone RMSE", True), ("ssim_midtone", "midtone SSIM",
                                            False), ("ssim", "SSIM", False)):
            scored = [(loss, a["metrics"].get(metric, {})) for loss, a in cands
                      if _finite(a["metrics"].get(metric, {}).get("mean"))]
            if not scored:
                continue
            loss, stat = (min if lower_better else max)(scored, key=lambda p: p[1]["mean"])
            d = _decimals(stat["mean"], 3)
            row = {"model": s.title(dataset, model), "criterion": label, "loss": figures.loss_label(loss),
                   "color": figures.loss_color(loss), "value": fmt(stat["mean"], d),
                   "ci": fmt_ci(stat.get("ci95"), d), "delta": "is BCE", "delta_ci": "", "mark": "base"}
            comp = s.comps.get((dataset, model, loss, metric))
            if loss != BASELINE and comp and comp["seed_level"]["mean"] is not None:
                sl = comp["seed_level"]
                dd = _ci_decimals(sl["mean"], sl["ci95"])
                sig = _excludes_zero(sl["ci95"])
                row.update(delta=fmt(sl["mean"], dd, sign=True), delta_ci=fmt_ci(sl["ci95"], dd, sign=True),
                           mark="better" if sig else "ns")
            recs.append(row)
    summary = _recommendation(s)
    return {"losses": losses, "recs": recs, "summary": summary}


def _recommendation(s: _Sweep) -> str:
    """Which loss, if any, beats BCE on midtone RMSE with a CI that excludes zero, generated from the comparisons."""
    wins: dict[str, list[str]] = {}
    contests = []
    for dataset, model in s.models:
        others = [loss for loss in s.losses_of(dataset, model) if loss != BASELINE
                  and (dataset, model, loss, "rmse_midtone") in s.comps]
        if not others or (dataset, model, BASELINE) not in s.aggs:
            continue
        contests.append(s.title(dataset, model))
        for loss in others:
            sl = s.comps[(dataset, model, loss, "rmse_midtone")]["seed_level"]
            if _excludes_zero(sl["ci95"]) and sl["mean"] < 0:
                wins.setdefault(loss, []).append(s.title(dataset, model))
    if not contests:
        return "This sweep compares no other loss with BCE on the same model, so it supports no recommendation."
    n = len(contests)
    if not wins:
        few = " (with one seed there are no CIs)" if len(s.seeds) < 2 else ""
        return (f"No loss has a measurably lower midtone RMSE than BCE in any of the {_plural(n, 'model')} "
                f"compared{few}; the data give no reason to move away from BCE here. The table lists the best "
                "mean per criterion.")
    ranked = sorted(wins.items(), key=lambda p: (-len(p[1]), s.losses.index(p[0])))
    parts = [f"{figures.loss_label(loss)} for {len(models)} of {n} ({_join(models)})" for loss, models in ranked]
    lead = figures.loss_label(ranked[0][0])
    return ("Measurably lower midtone RMSE than BCE (95% CI of the paired difference below zero): "
            + "; ".join(parts) + f". Where midtones matter, prefer {lead} to BCE. On near-binary images such as "
            "MNIST, where few pixels are midtones, BCE's weighting costs little.")


# --- limitations ----------------------------------------------------------------------------------------------

def _limitations(s: _Sweep) -> dict:
    items = []
    cfg = s.config
    dataset = cfg.get("dataset", s.datasets[0] if s.datasets else "?")
    sizes = data.SYNTHETIC_SIZES if dataset == "synthetic" else data.SIZES
    tut = {r["model"]: r["tutorial_protocol"] for r in s.r.get("replication", []) if r.get("tutorial_protocol")}
    if dataset != "mnist":
        items.append(f"Dataset: {dataset}, not the tutorial's MNIST, so the measured losses are not on the scale "
                     "of the numbers the post reports; the replication table flags this.")
    budgets: dict[str, list[str]] = {}
    for _, model in s.models:
        epochs, train = s.config_for("epochs", model), s.config_for("train_limit", model)
        text = "all" if train is None else f"the first {train:,} of {sizes['train']:,}"
        text += " training images" + (f" for {_plural(epochs, 'epoch')}" if epochs is not None else "")
        if model in tut and epochs is not None and epochs != tut[model]["epochs"]:
            text += f" (the tutorial: {tut[model]['epochs']})"
        budgets.setdefault(text, []).append(model)
    if budgets:
        items.append("Training budget: " + "; ".join(f"{_join(models)}: {text}" for text, models in budgets.items())
                     + ". Fewer images and epochs leave the models further from convergence, which is where a "
                     "loss's weighting matters most.")
    settling = _settling(s)
    if settling:
        items.append(settling)
    test = cfg.get("test_limit")
    subset = "all" if test is None else f"the first {test:,} of {sizes['test']:,}"
    items.append(f"Evaluation on {subset} test images.")
    n = len(s.seeds)
    items.append(f"Seeds: {n}. The 95% CIs are Student-t over seeds with {max(n - 1, 0)} degrees of freedom, so they "
                 "are wide and a difference smaller than its CI is not evidence of equality."
                 if n > 1 else "Seeds: 1. No confidence interval and no verdict are possible.")
    device = s.provenance.get("device") or "not recorded"
    devices = sorted({r.get("device") for r in s.runs if r.get("device")})
    other = f" (runs report {', '.join(devices)})" if devices and devices != [device] else ""
    items.append(f"Hardware: {device}{other}"
                 + f"; backend {s.provenance.get('backend', cfg.get('backend', '?'))}"
                 + (", mixed precision" if cfg.get("mixed_precision") else "")
                 + ". Runs on another device or backend follow the same code but are not bit-identical; "
                 "compare sweeps with 'replicate compare'.")
    if s.provenance.get("fused"):
        items.append("Training: the losses of one model and seed (except the sparse model and the VAE, whose own "
                     "penalty terms need a model each) trained side by side as copies in one Keras model, from the "
                     "same initial weights on the same batches. The copies share no weights and each has its own "
                     "loss, so each follows the path it follows alone; the tests check this weight for weight.")
    if cfg.get("optimizer"):
        items.append(f"Optimizer: {cfg['optimizer']} for every loss, with the same learning rate; no loss was tuned "
                     "on its own, so a loss that needs another learning rate is at a disadvantage.")
    avg = s.methods.get("ssim", {}).get("averaging")
    if avg:
        items.append(f"SSIM on 28 × 28 images: {avg}, so the outer ring of each image does not count.")
    if s.missing:
        items.append(f"{_plural(len(s.missing), 'run')} did not finish (listed below); their groups are averaged "
                     "over fewer seeds, and comparisons use only seeds present for both losses.")
    missing = [{"run": f"{m['dataset']}/{m['model']}/{m['loss']} seed {m['seed']}", "status": m["status"],
                "reason": m.get("reason") or ""} for m in s.missing]
    return {"points": items, "missing": missing}


def _settling(s: _Sweep) -> str | None:
    """How much each model's mean BCE validation loss still fell in its last epoch (read from the histories)."""
    drops = []
    for _, model in s.models:
        runs = [r for r in s.runs if r["model"] == model and r["loss"] == "bce"]
        hist = _mean_history(runs)
        if hist and len(hist["val"]) >= 2 and hist["val"][-2]:
            drops.append((model, (hist["val"][-2] - hist["val"][-1]) / abs(hist["val"][-2])))
    if not drops:
        return None
    moving = [f"{fmt(100 * d, 2)} % ({model})" for model, d in drops if d > SETTLED_DROP]
    if not moving:
        return (f"Learning curves: every model's mean BCE validation loss fell by less than "
                f"{fmt(100 * SETTLED_DROP)} % in its last epoch.")
    return ("Not converged: in the last epoch the mean BCE validation loss still fell by "
            + _join(moving) + ". The comparison is between models early in training; the tutorial profile "
            "(--profile tutorial, meant for a GPU) trains to the post's epochs.")


#: A last-epoch relative drop of the validation loss below this counts as a settled learning curve.
SETTLED_DROP = 0.005


# --- reproduce and cite ---------------------------------------------------------------------------------------

def _reproduce(s: _Sweep) -> dict:
    p = s.provenance
    rows = []
    versions = p.get("versions") or {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    for key in ("backend", "device", "platform"):
        if p.get(key):
            rows.append((key, str(p[key])))
    git = p.get("git") or {}
    if git:
        dirty = git.get("dirty")
        rows.append(("git commit", f"{git.get('commit', 'unknown')}"
                     + (" (uncommitted changes: dirty)" if dirty else " (clean)" if dirty is False else "")))
    if isinstance(p.get("data"), dict):
        for split, src in p["data"].items():
            if isinstance(src, dict):
                rows.append((f"data ({split})", f"{src.get('dataset', '')} {src.get('split', split)} from "
                             f"{src.get('origin', '?')} {src.get('path', '')}; SHA-256 {src.get('sha256', '?')}"
                             + (" (verified)" if src.get("verified") else " (no known checksum)")))
    if p.get("data_sha256"):
        rows.append(("data SHA-256", str(p["data_sha256"])))
    for key, label in (("started", "started"), ("start_time", "started"), ("finished", "finished"),
                       ("end_time", "finished")):
        if p.get(key):
            rows.append((label, str(p[key])))
    known = {"versions", "backend", "device", "platform", "git", "data", "data_sha256", "command", "started",
             "start_time", "finished", "end_time"}
    rows += [(k, str(v)) for k, v in p.items() if k not in known]
    return {"command": p.get("command") or "not recorded", "rows": [{"key": k, "value": v} for k, v in rows],
            "bibtex": _bibtex(s), "citation": "CITATION.cff"}


def _bibtex(s: _Sweep) -> str:
    try:
        md = metadata.metadata("replicate")
        name, version, summary = md["Name"], md["Version"], md.get("Summary") or ""
    except metadata.PackageNotFoundError:
        name, version, summary = "replicate", "unknown", ""
    author = "replicate contributors"
    date = str(s.provenance.get("started") or s.provenance.get("start_time") or s.provenance.get("finished")
               or s.provenance.get("end_time") or "")
    year = date[:4] if date[:4].isdigit() else "n.d."
    title = f"{name}: {summary.rstrip('.')}" if summary else name
    lines = [f"@software{{{name}{year if year.isdigit() else ''},",
             f"  title   = {{{title}}},",
             f"  author  = {{{{{author}}}}},",
             f"  version = {{{version}}},",
             f"  year    = {{{year}}},",
             "  note    = {See CITATION.cff in the repository root},",
             "}"]
    return "\n".join(lines)
