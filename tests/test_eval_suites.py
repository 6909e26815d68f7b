"""The project's evaluation sets: frozen held-out files, the issue's minimums, and the CI gate.

The slow test at the end is the quality gate: every set in evals/thresholds.toml (dev and
held-out, both corpora) runs with the default settings and must hold its thresholds.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from assistant.evaluation import contains, load_dataset, load_sets
from assistant.loading import load_corpus

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = ROOT / "evals" / "thresholds.toml"


def frozen() -> dict[str, str]:
    out = {}
    for line in (ROOT / "evals" / "FROZEN.sha256").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            out[name.strip()] = digest
    return out


def test_held_out_sets_are_unchanged_since_they_were_frozen():
    files = frozen()
    assert {"evals/seed/holdout.jsonl", "evals/handbooks/holdout.jsonl"} <= set(files)
    for name, digest in files.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, (
            f"{name} changed after it was frozen: held-out sets are never edited")


def test_every_held_out_file_is_gated_like_the_dev_sets():
    sets = load_sets(THRESHOLDS)
    gated = {str(p.relative_to(ROOT)) for s in sets for p in s.datasets}
    assert set(frozen()) <= gated
    for item in sets:
        assert item.thresholds, f"set {item.name} has no thresholds"
        for name in ("hit@1", "hit@5", "fact_recall", "false_refusal", "abstention_recall",
                     "adversarial_pass", "numbers_grounded"):
            assert name in item.thresholds, (item.name, name)


@pytest.mark.parametrize("item", load_sets(THRESHOLDS), ids=lambda s: s.name)
def test_evidence_lies_inside_one_unit_of_the_scoped_document(item):
    """Hits are judged on passage text, so evidence must survive parsing whole."""
    documents = load_corpus(item.corpus).documents
    units = {d.source: [u.text for s in d.sections for u in s.units] for d in documents}
    for path in item.datasets:
        for case in load_dataset(path):
            scope = [case.scope] if isinstance(case.scope, str) else case.scope or list(units)
            assert set(scope) <= set(units), case.id
            for evidence in case.evidence:
                assert any(contains(u, evidence) for s in scope for u in units[s]), (
                    case.id, evidence)


def test_the_real_documents_corpus_meets_the_issue_minimums():
    corpus = ROOT / "evals" / "handbooks" / "corpus"
    sources = (ROOT / "evals" / "handbooks" / "SOURCES.md").read_text("utf-8")
    files = sorted(p.name for p in corpus.iterdir())
    assert len(files) >= 5
    rows = [line for line in sources.splitlines() if line.startswith("| `")]
    organisations = set()
    for name in files:  # every file has its source, commit and licence recorded
        [row] = [r for r in rows if r.startswith(f"| `{name}`")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        organisations.add(cells[1])
        assert re.search(r"https://github\.com/\S+", row) and re.search(r"`[0-9a-f]{40}`", row)
        assert re.search(r"Apache-2\.0|CC0-1\.0|CC-BY", row)
    assert len(organisations) >= 2
    cases = load_dataset(ROOT / "evals" / "handbooks" / "dev.jsonl")
    kinds = Counter(c.kind for c in cases)
    assert kinds["answerable"] >= 60 and kinds["unanswerable"] >= 20 and kinds["adversarial"] >= 5
    assert sum(1 for c in cases if c.history and c.kind == "answerable") >= 8
    assert sum(1 for c in cases if c.scope is None and c.kind == "answerable") >= 5
    # many written in lower case, as candidates type
    assert sum(1 for c in cases if c.question == c.question.lower()) >= 30


def test_the_seed_sets_meet_their_minimums():
    dev = load_dataset(ROOT / "evals" / "seed" / "dev.jsonl")
    kinds = Counter(c.kind for c in dev)
    assert kinds["answerable"] >= 50 and kinds["unanswerable"] >= 15
    assert kinds["adversarial"] >= 8
    assert sum(1 for c in dev if c.history and c.kind == "answerable") >= 8
    held = load_dataset(ROOT / "evals" / "seed" / "holdout.jsonl")
    assert Counter(c.kind for c in held)["unanswerable"] >= 10


@pytest.mark.slow
def test_every_set_passes_its_thresholds(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The CI quality gate: a regression in answer quality on any set fails the suite."""
    from assistant.eval_runner import run_sets
    from assistant.settings import Settings

    console = Console(width=200, force_terminal=False)
    report = tmp_path / "report.json"
    code = run_sets(Settings(index_dir=ROOT / "index"), load_sets(THRESHOLDS), report=report,
                    html=None, baseline=None, configs=["default="], judge=False,
                    console=console, err=console, thresholds=THRESHOLDS)
    out: Any = capsys.readouterr().out
    assert code == 0, out
    assert report.is_file()
