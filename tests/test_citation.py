"""The citable artifact: CITATION.cff validates, its version is the package's, the reference report parses."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import replicate

ROOT = Path(__file__).resolve().parents[1]


def test_citation_cff_validates():
    cffconvert = shutil.which("cffconvert") or str(Path(sys.executable).parent / "cffconvert")
    result = subprocess.run([cffconvert, "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


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
