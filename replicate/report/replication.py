"""The report's replication table: the post's reported losses beside this sweep's, as ``results.json`` has them."""
from __future__ import annotations

from replicate.report.format import as_posted, decimals, fmt, fmt_ci, plural
from replicate.report.view import Results


def replication(s: Results) -> dict:
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
        d = decimals((measured or {}).get("mean"), 3)
        status = rep.get("status", "")
        rows.append({
            "model": s.title(rep["dataset"], model),
            "reported": as_posted(reported["value"]) if reported else "—",
            "split": reported["split"] if reported else "",
            "version": reported["version"] if reported else "",
            "quote": reported["quote"] if reported else "",
            "compared_with": (rep.get("compared_with") or "final val_loss").replace("final ", ""),
            "measured": fmt((measured or {}).get("mean"), d), "measured_ci": fmt_ci((measured or {}).get("ci95"), d),
            "difference": fmt(rep.get("difference"), sig=2, sign=True),
            "used": (f"{proto.get('profile', '?')} · {proto.get('dataset', rep['dataset'])} · "
                     f"{plural(epochs, 'epoch') if epochs is not None else '? epochs'} · "
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
