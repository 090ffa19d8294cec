"""The citable artifact: CITATION.cff validates and holds no placeholder, .zenodo.json and the report's BibTeX say
what it says, its version is the package's, the reference report parses."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import replicate
from replicate.report import reproduce

ROOT = Path(__file__).resolve().parents[1]
#: Text left from a template; split so that this file does not hold it.
PLACEHOLDERS = ("example" + ".org", "replace" + "-with")


def _cffconvert(*args: str) -> subprocess.CompletedProcess:
    cffconvert = shutil.which("cffconvert") or str(Path(sys.executable).parent / "cffconvert")
    return subprocess.run([cffconvert, "-i", str(ROOT / "CITATION.cff"), *args], capture_output=True, text=True)


def test_citation_cff_validates():
    result = _cffconvert("--validate")
    assert result.returncode == 0, result.stdout + result.stderr


def test_zenodo_json_is_the_citation_converted():
    """.zenodo.json is ``cffconvert -i CITATION.cff -f zenodo -o .zenodo.json``, so an archive gets the same
    metadata."""
    result = _cffconvert("-f", "zenodo")
    assert result.returncode == 0, result.stderr
    converted, committed = json.loads(result.stdout), json.loads((ROOT / ".zenodo.json").read_text())
    assert committed == converted, "run: cffconvert -i CITATION.cff -f zenodo -o .zenodo.json"
    assert {"title", "creators", "version", "license", "publication_date"} <= set(committed)


def test_report_bibtex_says_what_the_citation_says():
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    fields = dict(re.findall(r"^  (\w+) *= \{(.*)\},$", reproduce.bibtex(), re.M))
    assert fields["title"] == zenodo["title"] == reproduce.CITATION["title"]
    assert fields["author"] == " and ".join(f"{{{c['name']}}}" for c in zenodo["creators"])
    assert fields["version"] == zenodo["version"] == replicate.__version__
    assert fields["license"] == zenodo["license"]["id"] == reproduce.CITATION["license"]
    assert fields["year"] == zenodo["publication_date"][:4]
    assert zenodo["publication_date"] == reproduce.CITATION["date_released"]


def test_no_placeholder_is_left_anywhere():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    for name in listed.stdout.splitlines():
        path = ROOT / name
        text = path.read_text(encoding="utf-8", errors="ignore") if path.is_file() else ""
        assert not [p for p in PLACEHOLDERS if p in text.lower()], f"{name} holds a placeholder"


def test_citation_version_is_the_package_version():
    text = (ROOT / "CITATION.cff").read_text()
    assert f"\nversion: {replicate.__version__}\n" in text
    assert replicate.__version__ != "0+unknown"


def test_license_is_present():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


REFERENCE = ROOT / "reports" / "reference" / "results.json"


@pytest.mark.skipif(not REFERENCE.exists(), reason="no committed reference report yet")
def test_reference_results_match_the_current_schema():
    """The committed results.json has every top-level key, and every run/aggregate key, the code writes now."""
    from replicate import analysis, fileio
    from tests.fake_sweep import write_fake_sweep

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fresh = fileio.read_json(analysis.evaluate_sweep(write_fake_sweep(Path(tmp) / "s")))
    committed = fileio.read_json(REFERENCE)
    assert committed["schema_version"] == fresh["schema_version"]
    assert list(committed) == list(fresh)
    for section in ("runs", "aggregates", "comparisons", "verdicts", "replication"):
        assert committed[section], section
        assert set(committed[section][0]) == set(fresh[section][0]), section
    assert set(committed["runs"][0]["metrics"]) == set(fresh["runs"][0]["metrics"])
    size = sum(p.stat().st_size for p in REFERENCE.parent.rglob("*") if p.is_file())
    assert size < 5 * 2**20, f"reports/reference is {size} bytes; keep it under 5 MB"


def test_committed_reports_stay_within_their_size_budget():
    """reports/ holds the reference, the MNIST reports and the quick run: 8 MB in all (reports/README.md)."""
    size = sum(p.stat().st_size for p in (ROOT / "reports").rglob("*") if p.is_file())
    assert size <= 8 * 10**6, f"reports/ is {size} bytes; keep it within 8 MB (drop HTML that rebuilds from results)"
