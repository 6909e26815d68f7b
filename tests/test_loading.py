"""Loading: the role document's implicit structure, markdown files, unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.loading import corpus_files, load_corpus, parse, read_text, split_glued_summary
from assistant.types import CorpusError, Section


@pytest.fixture(scope="module")
def role_sections(role_path: Path) -> list[Section]:
    text, _ = read_text(role_path)
    return parse(text, role_path.name, ".txt")


def line_of(lines: list[str], text: str) -> int:
    """1-based number of the only line that equals `text` (stripped)."""
    found = [i + 1 for i, line in enumerate(lines) if line.strip() == text]
    assert len(found) == 1, f"{text!r} is on lines {found}"
    return found[0]


def find(sections: list[Section], *path: str, kind: str = "section") -> Section:
    matches = [s for s in sections if s.path == path and s.kind == kind]
    assert len(matches) == 1, f"{path} ({kind}): {len(matches)} matches"
    return matches[0]


def test_top_level_sections_are_recovered_in_order(role_sections, top_sections, role_lines):
    overviews = [s for s in role_sections if s.kind == "overview"]
    assert [s.path for s in overviews] == [(t,) for t in top_sections]
    for section in overviews:  # the heading unit sits on the heading's line in the file
        heading = section.units[0]
        assert heading.kind == "heading"
        assert heading.line == line_of(role_lines, section.path[0])
    assert {s.source for s in role_sections} == {"senior-machine-learning-scientist.txt"}


def test_sub_headings_belong_to_their_top_section(role_sections, role_lines):
    percentiles = find(role_sections, "Salary Ranges (US Market, 2024)",
                       "Percentile Breakdown (ZipRecruiter data)")
    assert [u.text for u in percentiles.units] == [
        "Top Earners: $150,500",
        "75th Percentile: $125,000",
        "Average: $110,545",
        "25th Percentile: $91,500",
        "Hourly rates: $43.99 (25th percentile) to $60.10 (75th percentile)",
    ]
    assert [u.line for u in percentiles.units] == [151, 152, 153, 154, 155]
    assert all(u.kind == "bullet" for u in percentiles.units)
    # the same sub-heading under two top-level sections stays apart
    career = find(role_sections, "Career Development", "Continuous Learning")
    soft = find(role_sections, "Essential Soft Skills", "Continuous Learning")
    assert [u.line for u in career.units] == [118, 119, 120]
    assert [u.line for u in soft.units] == [228, 229]
    # the overview of a top-level section lists its sub-headings as items
    salary = find(role_sections, "Salary Ranges (US Market, 2024)", kind="overview")
    items = [(u.text, u.line) for u in salary.units if u.kind == "item"]
    assert ("Percentile Breakdown (ZipRecruiter data)", 150) in items
    assert ("Geographic Variations", 156) in items
    assert all(role_lines[line - 1] == text for text, line in items)


def test_every_unit_quotes_its_own_line(role_sections, role_lines):
    for section in role_sections:
        for unit in section.units:
            assert unit.text in role_lines[unit.line - 1], (section.path, unit)


def closing_sentences(sections: list[Section], top: str, line: int) -> list[str]:
    """Sentences on `line` that belong to top-level section `top` itself (not a sub-section)."""
    return [u.text for s in sections if s.path == (top,) for u in s.units
            if u.kind == "sentence" and u.line == line]


def test_intro_prose_goes_to_the_overview(role_sections):
    salary = find(role_sections, "Salary Ranges (US Market, 2024)", kind="overview")
    first = next(u for u in salary.units if u.kind == "sentence")
    assert first.line == 146
    assert first.text.startswith("Senior Machine Learning Scientists in the United States")
    # the intro is not mistaken for a sub-section's bullet
    assert all(u.line != 146 for s in role_sections if len(s.path) > 1 for u in s.units)


def test_labels_group_the_bullets_under_them(role_sections):
    progression = find(role_sections, "Career Development", "Career Progression")
    labels = [u for u in progression.units if u.kind == "label"]
    assert [(u.text, u.line) for u in labels] == [
        ("Entry-Level (0-3 years):", 99),
        ("Mid-Level (3-5 years):", 102),
        ("Senior-Level (7-10+ years):", 107),
    ]
    entry = [u.line for u in progression.units if u.label == "Entry-Level (0-3 years):"]
    mid = [u.line for u in progression.units if u.label == "Mid-Level (3-5 years):"]
    assert entry == [100, 101]
    assert mid == [103, 104, 105, 106]
    cities = find(role_sections, "Salary Ranges (US Market, 2024)", "Geographic Variations")
    assert [u.text for u in cities.units if u.label == "High-paying cities:"] == [
        "San Buenaventura, CA (73.8% above national average)", "Santa Clara, CA",
        "Washington, DC"]
    assert cities.units[0].label == ""  # the bullet before the label belongs to no group


@pytest.mark.parametrize(("top", "sub", "line", "bullet", "summary_start"), [
    ("Core Responsibilities", "Communication and Presentation", 53,
     "Interpret, visualize, and communicate results in an actionable manner to drive "
     "decision-making.", "The role of a Senior Machine Learning Scientist or Engineer"),
    ("Essential Soft Skills", "Presentation of Insights", 235,
     "Deliver effective presentations to various stakeholders", "Mastering these soft skills"),
    ("Salary Ranges (US Market, 2024)", "Key Takeaways", 172,
     "Consider total compensation package, including benefits and bonuses",
     "Senior Machine Learning Scientists can expect competitive salaries"),
    ("Common Challenges", "Time and Planning Uncertainties", 299,
     "Accurately estimating project timelines amid uncertainties",
     "Addressing these challenges requires"),
])
def test_glued_summary_is_split_off_the_last_bullet(role_sections, top, sub, line, bullet,
                                                    summary_start):
    section = find(role_sections, top, sub)
    last = section.units[-1]
    assert (last.text, last.line, last.kind) == (bullet, line, "bullet")
    # the prose becomes sentences of the top-level section, not of the sub-section
    sentences = closing_sentences(role_sections, top, line)
    assert sentences and sentences[0].startswith(summary_start)
    assert not any(u.kind == "sentence" for u in section.units)


def test_split_glued_summary_on_the_issue_example():
    bullet = ("Effectively communicate complex concepts to stakeholders The role of a Senior "
              "Machine Learning Scientist is multifaceted, requiring a blend of technical "
              "expertise and leadership skills.")
    head, tail = split_glued_summary(bullet)
    assert head == "Effectively communicate complex concepts to stakeholders"
    assert tail.startswith("The role of a Senior Machine Learning Scientist is multifaceted")


@pytest.mark.parametrize("bullet", [
    # capitalised names and acronyms inside a bullet are not summaries
    "Top-paying companies (e.g., Meta, Google, twitter) offer $212,260 to $225,990 per year",
    "Strong proficiency in Python, with additional experience in languages like C++, "
    "JavaScript, or Go.",
    "Use tools like Arize for model observability to detect issues",
    # a short capitalised tail is not prose
    "Work closely with teams in Washington Today",
])
def test_bullets_without_a_summary_stay_whole(bullet):
    assert split_glued_summary(bullet) == (bullet, "")


def test_unglued_bullets_in_the_role_document_stay_whole(role_sections, role_lines):
    summary_lines = {u.line for s in role_sections if len(s.path) == 1 for u in s.units
                     if u.kind == "sentence"}
    assert {22, 53, 88, 124, 144, 172, 200, 235, 264, 299} <= summary_lines
    for section in role_sections:
        for unit in section.units:
            if unit.kind in ("bullet", "label") and unit.line not in summary_lines:
                assert role_lines[unit.line - 1] == f"- {unit.text}"


MARKDOWN = """\
# Team Handbook

Welcome to the team. We build models
that people use.

## Levels
- **Junior:**
  - Learns the codebase
  - Ships small fixes

## Tools
1. Python
2. Docker

# Pay
- Base salary: $120,000
"""


def test_markdown_headings_bullets_and_paragraphs():
    sections = parse(MARKDOWN, "handbook.md", ".md")
    assert [(s.path, s.kind) for s in sections] == [
        (("Team Handbook",), "overview"),
        (("Team Handbook", "Levels"), "section"),
        (("Team Handbook", "Tools"), "section"),
        (("Pay",), "overview"),
    ]
    overview, levels, tools, pay = sections
    assert [(u.kind, u.text, u.line) for u in overview.units] == [
        ("heading", "Team Handbook", 1),
        ("sentence", "Welcome to the team.", 3),
        ("sentence", "We build models that people use.", 3),
        ("item", "Levels", 6),
        ("item", "Tools", 11),
    ]
    assert [(u.kind, u.text, u.label, u.line) for u in levels.units] == [
        ("label", "Junior:", "", 7),  # ** markup is dropped
        ("bullet", "Learns the codebase", "Junior:", 8),
        ("bullet", "Ships small fixes", "Junior:", 9),
    ]
    assert [(u.text, u.line) for u in tools.units] == [("Python", 12), ("Docker", 13)]
    assert [(u.kind, u.text, u.line) for u in pay.units] == [
        ("heading", "Pay", 15), ("bullet", "Base salary: $120,000", 16)]
    assert all(s.source == "handbook.md" for s in sections)


def test_markdown_unindented_bullet_after_a_group_has_no_label():
    text = "# Levels\n- Junior:\n  - Learns the codebase\n- Seniors mentor the others\n"
    units = parse(text, "levels.md", ".md")[0].units
    last = units[-1]
    assert last.text == "Seniors mentor the others"
    assert last.label == ""


def test_load_corpus_reports_a_non_utf8_file_and_loads_the_rest(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    (corpus / "good.md").write_text("# Pay\n- Base salary: $120,000\n", encoding="utf-8")
    (corpus / "notes.txt").write_text("Benefits\n- Twenty days of vacation\n", encoding="utf-8")
    result = load_corpus(corpus)
    assert sorted(d.source for d in result.documents) == ["good.md", "notes.txt"]
    assert list(result.errors) == ["bad.txt"]
    assert "bad.txt" in result.errors["bad.txt"]
    assert "UTF-8" in result.errors["bad.txt"]
    good = next(d for d in result.documents if d.source == "good.md")
    assert good.sections[0].path == ("Pay",)
    with pytest.raises(CorpusError, match="bad.txt"):
        read_text(corpus / "bad.txt")


def test_utf8_bom_is_accepted_and_hash_is_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "bom.md"
    data = "\ufeff# Pay\n- Base salary: $120,000\n".encode()
    path.write_bytes(data)
    text, digest = read_text(path)
    assert text.startswith("# Pay")
    assert digest == hashlib.sha256(data).hexdigest()
    assert parse(text, "bom.md", ".md")[0].path == ("Pay",)


def test_binary_file_is_rejected_with_its_name(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"abc\x00def")
    with pytest.raises(CorpusError, match="blob.txt"):
        read_text(path)


def test_corpus_files_skip_hidden_and_unknown_files(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("b.md", "a.txt", "sub/c.markdown", ".hidden.md", ".git/x.md", "img.png",
                 "notes.pdf"):
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text("x", encoding="utf-8")
    assert [p.relative_to(corpus).as_posix() for p in corpus_files(corpus)] == [
        "a.txt", "b.md", "sub/c.markdown"]


def test_missing_corpus_folder_is_a_corpus_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        corpus_files(tmp_path / "nowhere")


def test_load_corpus_only_loads_the_requested_sources(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n- one thing here\n", encoding="utf-8")
    (corpus / "b.md").write_text("# B\n- another thing\n", encoding="utf-8")
    result = load_corpus(corpus, only=["b.md"])
    assert [d.source for d in result.documents] == ["b.md"]
