"""The report's last section: how the sweep was made (command, versions, device, commit, data) and how to cite it."""
from __future__ import annotations

from importlib import metadata

from replicate.report.view import Results


def reproduce(s: Results) -> dict:
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


def _bibtex(s: Results) -> str:
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
