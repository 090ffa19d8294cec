"""The README's results table (``replicate summary``) on a fake schema-3 sweep, and the README's table against the
committed reference."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from replicate import analysis, cli, fileio
from replicate.report import read_results, summary
from replicate.report.answer import BADGES
from replicate.report.format import effect, pct
from tests.fake_sweep import write_fake_sweep

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reports" / "reference" / "results.json"


@pytest.fixture(scope="module")
def results_path(tmp_path_factory):
    """Three seeds of simple, conv, and sparse with the post's penalty and rescaled (the post's is a sensitivity
    check, not a row)."""
    root = write_fake_sweep(tmp_path_factory.mktemp("sweep"), models=("simple", "conv", "sparse", "sparse_rescaled"))
    return analysis.evaluate_sweep(root)


def test_one_row_per_primary_verdict_with_its_interval(results_path):
    results = read_results(results_path)
    text = summary.block(results, "results.json")
    assert text.startswith(summary.BEGIN + "\n") and text.endswith(summary.END + "\n")
    assert summary.ANSWERS[results["answer"]["word"]] in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    primary = [v for v in results["verdicts"] if v["role"] == "primary"]
    assert [r.split(" | ")[0] for r in rows] == [f"| {v['model']}" for v in primary]
    assert [v["model"] for v in primary] == ["simple", "conv", "sparse_rescaled"]
    for row, v in zip(rows, primary):
        d = v["difference"]
        assert row == f"| {v['model']} | {BADGES[v['status']]} | {effect(d)} | {pct(d['relative_to_mse'])} | {d['n']} |"


def test_rewrite_replaces_the_block_only_and_twice_is_once():
    text = f"# title\n\n{summary.BEGIN}\nold\n{summary.END}\n\nrest\n"
    new = f"{summary.BEGIN}\nnew table\n{summary.END}\n"
    once = summary.rewrite(text, new)
    assert once == f"# title\n\n{new}\nrest\n" and summary.rewrite(once, new) == once
    assert summary.current(once) == new


@pytest.mark.parametrize("text", ["no markers\n", f"{summary.END}\n{summary.BEGIN}\n",
                                  f"{summary.BEGIN}\n{summary.BEGIN}\n{summary.END}\n"])
def test_rewrite_refuses_a_file_without_one_pair_of_markers(text):
    with pytest.raises(ValueError, match="marker lines once each"):
        summary.rewrite(text, "")


def test_command_rewrites_the_readme_in_place_with_a_relative_link(results_path, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{summary.BEGIN}\n{summary.END}\nend\n", encoding="utf-8")
    assert cli.main(["summary", str(results_path), "--readme", str(readme)]) == 0
    source = Path(os.path.relpath(results_path, tmp_path)).as_posix()
    expected = summary.block(read_results(results_path), source)
    assert readme.read_text(encoding="utf-8") == f"# x\n{expected}end\n"
    assert f"replicate summary {source} --readme README.md" in expected
    assert capsys.readouterr().out == f"summary: {readme}\n"


def test_command_refuses_another_schema_with_the_fix(results_path, tmp_path, capsys):
    old = tmp_path / "results.json"
    fileio.write_json(old, {**fileio.read_json(results_path), "schema_version": 2})
    assert cli.main(["summary", str(old)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "schema 2" in err and "replicate evaluate" in err


def test_readme_has_the_markers():
    assert summary.current((ROOT / "README.md").read_text(encoding="utf-8")) is not None


def _reference_schema():
    return fileio.read_json(REFERENCE).get("schema_version") if REFERENCE.exists() else None


@pytest.mark.skipif(_reference_schema() != analysis.SCHEMA_VERSION,
                    reason=f"the committed reports/reference/results.json is schema {_reference_schema()}, not "
                           f"{analysis.SCHEMA_VERSION}: the README's table is checked once the reference is "
                           "regenerated")
def test_readme_table_matches_the_reference():
    """Regenerate with ``replicate summary reports/reference/results.json --readme README.md``."""
    expected = summary.block(read_results(REFERENCE), "reports/reference/results.json")
    assert summary.current((ROOT / "README.md").read_text(encoding="utf-8")) == expected, (
        "README.md's results table differs from reports/reference/results.json; run "
        "'replicate summary reports/reference/results.json --readme README.md'")
