"""The report's last section: how the sweep was made (command, versions, device, commit, data) and how to cite it."""
from __future__ import annotations

from replicate import __version__
from replicate.report.view import Results

#: The software's citation as ``CITATION.cff`` (and ``.zenodo.json``, converted from it) gives it; the version is the
#: installed package's. tests/test_citation.py keeps the three in step.
CITATION = {"title": "replicate: the Keras autoencoder tutorial under binary cross-entropy and alternative losses, "
                     "with measured midtone evidence",
            "authors": ("replicate contributors",), "license": "MIT", "date_released": "2026-11-24"}


def reproduce(s: Results) -> dict:
    p = s.provenance
    rows = []
    versions = p.get("versions") or {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    for key in ("backend", "device", "platform"):
        if p.get(key):
            rows.append((key, str(p[key])))
    if isinstance(p.get("numerics"), dict) and p["numerics"]:
        rows.append(("numerics", "; ".join(f"{k}={v}" for k, v in p["numerics"].items())))
    if isinstance(p.get("fused"), bool):
        rows.append(("losses trained", "side by side: the losses of one model and seed in one model, on the same "
                     "batches" if p["fused"] else "one after another, each in its own model"))
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
    shards = [r for r in p.get("shards") or [] if isinstance(r, dict)]
    if shards:
        rows.append(("processes", f"{len(shards)}: " + "; ".join(
            f"shard {r.get('shard') or '?'} from {r.get('started') or '?'}"
            + ("" if r.get("finished") else " (did not finish)") + ", commit "
            + str((r.get("git") or {}).get("commit") or "unknown")[:12] for r in shards)
            + ". Above, versions, device, platform, numerics, how the losses trained, commit, data and start are "
            f"those of the earliest started with the present settings (shard {p.get('shard') or '?'} from "
            f"{p.get('started') or '?'}), the backend lists every process's and the finish is the last one; each "
            "process's record is in results.json (sweep.provenance.shards)."))
    if p.get("differs"):
        rows.append(("processes differ in", ", ".join(map(str, p["differs"]))))
    if p.get("shard") not in (None, "1/1") and not shards:
        rows.append(("shard", str(p["shard"])))
    known = {"versions", "backend", "device", "platform", "numerics", "fused", "git", "data", "data_sha256",
             "settings_sha256", "command", "started", "start_time", "finished", "end_time", "shards", "differs",
             "shard"}
    rows += [(k, str(v)) for k, v in p.items() if k not in known]
    return {"command": p.get("command") or "not recorded", "rows": [{"key": k, "value": v} for k, v in rows],
            "bibtex": bibtex(), "citation": "CITATION.cff"}


def bibtex() -> str:
    """The software's BibTeX entry (biblatex ``@software``), from :data:`CITATION`."""
    year = CITATION["date_released"][:4]
    authors = " and ".join(f"{{{a}}}" for a in CITATION["authors"])  # braced: a collective name, not "Last, First"
    lines = [f"@software{{replicate{year},",
             f"  title   = {{{CITATION['title']}}},",
             f"  author  = {{{authors}}},",
             f"  version = {{{__version__}}},",
             f"  license = {{{CITATION['license']}}},",
             f"  year    = {{{year}}},",
             "  note    = {See CITATION.cff in the repository root},",
             "}"]
    return "\n".join(lines)
